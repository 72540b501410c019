"""Behaviour changepoints across training: cluster occupancy per checkpoint, and where it shifts.

A library of ``describe`` (``describe.changepoints``); it imports no stage.

Input: for each checkpoint c (a dataset recorded from training iteration c, in order), the
cluster of each of its units (windows or episodes). Occupancy O[c, k] is the fraction of
checkpoint c's units in cluster k; counts n_c are kept.

Detection (``detect``):
- ``method="pelt"`` (default): ruptures' PELT (Killick et al. 2012) with the ``l2`` cost on the
  occupancy rows, so a split is kept when it lowers the summed squared deviation from the segment
  means by more than the penalty. The default penalty is BIC-like for multinomial noise:
  ``pen = penalty_scale · log(C) · Σ_k p̄_k (1 − p̄_k) / n̄`` (p̄ the overall occupancy, n̄ the mean
  units per checkpoint, C checkpoints) — the squared-error drop that sampling noise alone produces
  per split grows like Σ_k Var(O[c, k]) = Σ_k p_k(1 − p_k)/n.
- ``method="chi2"``: a stated divergence test between successive checkpoints: Pearson's χ² test of
  homogeneity on their counts (scipy), Bonferroni-corrected over the C − 1 pairs at ``alpha``, and
  a Jensen–Shannon divergence of at least ``min_jsd`` (so tiny but significant drifts on large
  data are not reported).
Every reported change gives the index of the first checkpoint after the shift, the JSD between
the mean occupancies of the segments on either side, and the χ² p-value of the two segments.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import ruptures as rpt
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency

from envs.config import check_choice

DETECTORS = ("pelt", "chi2")


def occupancy(labels_per_checkpoint: list[np.ndarray], k: int) -> tuple[np.ndarray, np.ndarray]:
    """(C, k) occupancy fractions and (C, k) counts of cluster labels per checkpoint."""
    counts = np.stack([np.bincount(np.asarray(lab, dtype=np.int64), minlength=k)[:k] for lab in labels_per_checkpoint])
    fractions = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    return fractions, counts


def split_by_checkpoint(labels: np.ndarray, iteration: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Group unit labels by training iteration: (sorted iterations, labels of each)."""
    iters = np.unique(iteration)
    return iters, [labels[iteration == it] for it in iters]


@dataclass(frozen=True)
class Change:
    """One detected shift in cluster occupancy."""

    index: int
    """Position (0-based, in checkpoint order) of the first checkpoint after the shift."""
    jsd: float
    """Jensen–Shannon divergence (base 2, in [0, 1]) of the mean occupancies before and after."""
    p_value: float
    """χ² homogeneity p-value of the pooled counts of the two adjacent segments."""

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "jsd": self.jsd, "p_value": self.p_value}


def default_penalty(counts: np.ndarray, scale: float = 3.0) -> float:
    """BIC-like PELT penalty for occupancy rows with multinomial sampling noise (module docstring)."""
    c = counts.shape[0]
    total = counts.sum(axis=0) / max(counts.sum(), 1)
    n_mean = max(counts.sum(axis=1).mean(), 1.0)
    noise = float((total * (1 - total)).sum() / n_mean)
    return scale * np.log(max(c, 2)) * max(noise, 1e-6)


def _segment_stats(counts: np.ndarray, bounds: list[int]) -> list[Change]:
    """JSD and χ² p-value between each pair of adjacent segments delimited by ``bounds``."""
    edges = [0, *bounds, counts.shape[0]]
    out = []
    for i, b in enumerate(bounds):
        left = counts[edges[i] : b].sum(axis=0)
        right = counts[b : edges[i + 2]].sum(axis=0)
        out.append(Change(int(b), _jsd(left, right), _chi2_p(left, right)))
    return out


def _jsd(a: np.ndarray, b: np.ndarray) -> float:
    pa, pb = a / max(a.sum(), 1), b / max(b.sum(), 1)
    return float(jensenshannon(pa, pb, base=2) ** 2)


def _chi2_p(a: np.ndarray, b: np.ndarray) -> float:
    table = np.stack([a, b])
    keep = table.sum(axis=0) > 0
    if keep.sum() < 2:
        return 1.0
    return float(chi2_contingency(table[:, keep])[1])


def detect(
    fractions: np.ndarray,
    counts: np.ndarray,
    method: str = "pelt",
    penalty: float | None = None,
    alpha: float = 0.01,
    min_jsd: float = 0.02,
) -> list[Change]:
    """Changepoints in occupancy ``fractions`` (C, k) with ``counts`` (C, k); see the module docstring."""
    check_choice("changepoint method", method, DETECTORS)
    c = fractions.shape[0]
    if c < 2:
        return []
    if method == "pelt":
        pen = default_penalty(counts) if penalty is None else float(penalty)
        algo = rpt.Pelt(model="l2", min_size=1, jump=1).fit(np.asarray(fractions, dtype=np.float64))
        bounds = [b for b in algo.predict(pen=pen) if b < c]
        return _segment_stats(counts, bounds)
    bounds = []
    for i in range(1, c):
        p = _chi2_p(counts[i - 1], counts[i])
        if p < alpha / (c - 1) and _jsd(counts[i - 1], counts[i]) >= min_jsd:
            bounds.append(i)
    return _segment_stats(counts, bounds)
