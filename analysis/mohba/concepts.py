"""Explaining behaviours with concepts.

(a) Cluster profiles. Each unit (a window, or an agent in a window) is summarised by the mean of
its unstandardised step features over valid steps: concept values, event rates and previous-action
frequencies (``analysis.mohba.features``). For every cluster and feature the effect size is
Cohen's d of the cluster against all other units (pooled standard deviation) with a Welch t-test
p-value (scipy); the features with the largest |d| (at least ``min_effect``) make the cluster's
one-line description: up to half of them from what the agents did (events, actions), the rest
from the concepts (the world they were in).

(b) Concept directions in z^ω against user labels (Yeh et al. 2020, "On Completeness-aware
Concept-Based Explanations in Deep Neural Networks"):
- a classifier h: z → y is fitted first (the labels, e.g. bins of team return or of agent
  dispersion, are not what the model was trained on, so h stands in for the paper's network head);
- m unit concept vectors c_j are learned with a two-layer g: R^m → R^d so that h(g(v(z))) predicts
  y, where v_j(z) = TH(⟨z, c_j⟩, thr) scaled to unit norm over concepts; h stays frozen; the loss
  adds the paper's coherency (mean similarity of each concept to its top-K nearest units) and
  diversity (mean |c_j · c_k|) regularisers;
- completeness η(S) = (acc(h∘g∘v_S) − a_r) / (acc(h) − a_r), a_r the majority-class accuracy and
  v_S the scores with concepts outside S set to 0 (g is not refitted per subset);
- ConceptSHAP: exact Shapley values of η over the m concepts (m ≤ 12): their sum equals
  η(all) − η(∅).
z is standardised per dimension before everything in (b).
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.stats import ttest_ind
from torch import nn
from torch.nn import functional as F


def unit_summaries(raw: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean of raw step features (W, L, N, F) over the valid steps (W, L) → (W, N, F)."""
    m = mask[:, :, None, None].astype(np.float64)
    return ((raw * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1.0)).astype(np.float32)


def readable(name: str) -> str:
    """A feature column name as a summary reads: ``prev.X`` → ``action X``, ``prev_event.E`` → ``event E``."""
    if name == "prev.none":
        return "episode start"
    if name.startswith("prev."):
        return f"action {name[5:]}"
    if name.startswith("prev_event."):
        return f"event {name[11:]}"
    return name


def cohens_d(inside: np.ndarray, outside: np.ndarray) -> np.ndarray:
    """Cohen's d per column of (n1, F) against (n2, F), pooled standard deviation (0 where both constant)."""
    n1, n2 = len(inside), len(outside)
    v1 = inside.var(axis=0, ddof=1) if n1 > 1 else np.zeros(inside.shape[1])
    v2 = outside.var(axis=0, ddof=1) if n2 > 1 else np.zeros(inside.shape[1])
    pooled = np.sqrt(((n1 - 1) * v1 + (n2 - 1) * v2) / max(n1 + n2 - 2, 1))
    diff = inside.mean(axis=0) - outside.mean(axis=0)
    return np.where(pooled > 1e-9, diff / np.maximum(pooled, 1e-9), 0.0)


def _welch_p(a: np.ndarray, b: np.ndarray) -> float:
    """Welch t-test p-value; NaN when a side has < 2 units, 0 when both sides are constant but differ."""
    if len(a) < 2 or len(b) < 2:
        return float("nan")
    if a.std() < 1e-12 and b.std() < 1e-12:
        return 0.0 if a[0] != b[0] else 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(ttest_ind(a, b, equal_var=False).pvalue)


def cluster_profiles(
    summary: np.ndarray, names: list[str], labels: np.ndarray, prefix: str = "C", top: int = 4, min_effect: float = 0.5
) -> list[dict[str, Any]]:
    """One profile per cluster: size, the features that set it apart (d, p, means) and a description."""
    summary = np.asarray(summary, dtype=np.float64)
    out = []
    for c in np.unique(labels):
        inside, outside = summary[labels == c], summary[labels != c]
        d = np.zeros(summary.shape[1]) if len(outside) == 0 else cohens_d(inside, outside)
        ranked = [int(i) for i in np.argsort(-np.abs(d)) if abs(d[i]) >= min_effect]
        doing = [i for i in ranked if names[i].startswith("prev")]  # what agents did: events, actions
        seeing = [i for i in ranked if not names[i].startswith("prev")]  # the world they were in
        half = (top + 1) // 2
        order = sorted(doing[:half] + seeing[: top - min(half, len(doing))], key=lambda i: -abs(d[i]))
        features = []
        for i in order:
            p = _welch_p(inside[:, i], outside[:, i])
            features.append(
                {
                    "feature": readable(names[i]),
                    "d": float(d[i]),
                    "p": p,
                    "mean_in": float(inside[:, i].mean()),
                    "mean_out": float(outside[:, i].mean()),
                }
            )
        share = len(inside) / len(summary)
        words = [
            f"{'more' if f['d'] > 0 else 'less'} {f['feature']} ({f['mean_in']:.3g} vs {f['mean_out']:.3g}, d={f['d']:+.1f})"
            for f in features
        ]
        text = f"{prefix}{int(c)} ({share:.0%} of units): " + (
            "; ".join(words) if words else f"no feature differs by |d| ≥ {min_effect:.1f}"
        )
        out.append({"cluster": f"{prefix}{int(c)}", "size": len(inside), "share": share, "features": features, "description": text})
    return out


def quantile_bins(values: np.ndarray, bins: int = 3) -> np.ndarray:
    """Integer labels 0.. by quantiles of ``values``; ties stay together, so fewer bins may result."""
    values = np.asarray(values, dtype=np.float64)
    edges = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1]))
    raw = np.searchsorted(edges, values, side="left")
    return np.unique(raw, return_inverse=True)[1].astype(np.int64)


def agent_dispersion(concepts: np.ndarray, spec: Any) -> np.ndarray:
    """Mean pairwise distance between agents' positions (..., N, D) → (...), from viewer 0's concepts.

    Uses the ``{agent}.position`` concepts of ``spec`` (an EnvSpec); absent agents are skipped.
    """
    slices = spec.concepts.gt_slices
    names = [f"{a}.position" for a in spec.agents if f"{a}.position" in slices]
    if len(names) < 2:
        raise ValueError(f"agent dispersion needs position concepts of at least two agents; found {names}")
    pos = np.stack([concepts[..., 0, slices[n]] for n in names], axis=-2)  # (..., N, 2)
    present = (pos >= 0).all(-1)
    diff = np.linalg.norm(pos[..., :, None, :] - pos[..., None, :, :], axis=-1)
    pair = present[..., :, None] & present[..., None, :]
    upper = np.triu(np.ones(len(names), dtype=bool), 1)
    pair = pair & upper
    return (diff * pair).sum((-1, -2)) / np.maximum(pair.sum((-1, -2)), 1)


def _fit_classifier(z: torch.Tensor, y: torch.Tensor, classes: int, seed: int, steps: int = 300) -> nn.Module:
    torch.manual_seed(seed)
    h = nn.Sequential(nn.Linear(z.shape[1], 32), nn.ReLU(), nn.Linear(32, classes))
    opt = torch.optim.Adam(h.parameters(), lr=1e-2, weight_decay=1e-4)
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(h(z), y).backward()
        opt.step()
    for p in h.parameters():
        p.requires_grad_(False)
    return h


def concept_scores(z: torch.Tensor, concepts: torch.Tensor, threshold: float = 0.0) -> torch.Tensor:
    """v(z): thresholded dot products with unit concepts, scaled to unit norm over concepts (U, m)."""
    c = F.normalize(concepts, dim=1)
    s = z @ c.T
    s = torch.where(s > threshold, s, torch.zeros_like(s))
    return s / s.norm(dim=1, keepdim=True).clamp_min(1e-8)


@dataclass
class ConceptResult:
    """Discovered concepts and their scores."""

    concepts: np.ndarray
    """(m, d) unit concept vectors in the standardised z space."""
    completeness: float
    """η of all concepts together."""
    shap: np.ndarray
    """(m,) ConceptSHAP importance of each concept."""
    accuracy: float
    """acc(h) on z, the ceiling η is measured against."""
    baseline: float
    """a_r, the majority-class accuracy."""
    label_means: np.ndarray
    """(m, classes) mean label distribution of the units where each concept scores highest."""

    def to_json(self) -> dict[str, Any]:
        return {
            "completeness": self.completeness,
            "shap": self.shap.tolist(),
            "accuracy": self.accuracy,
            "baseline": self.baseline,
            "concepts": self.concepts.tolist(),
            "label_means": self.label_means.tolist(),
        }


class ConceptModel(nn.Module):
    """Concept vectors and g of Yeh et al. 2020; h is given and frozen."""

    def __init__(self, dim: int, m: int, hidden: int = 32, threshold: float = 0.0) -> None:
        super().__init__()
        self.concepts = nn.Parameter(torch.randn(m, dim))
        self.g = nn.Sequential(nn.Linear(m, hidden), nn.ReLU(), nn.Linear(hidden, dim))
        self.threshold = threshold

    def forward(self, z: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        v = concept_scores(z, self.concepts, self.threshold)
        if keep is not None:
            v = v * keep
        return self.g(v)


def concept_shap(eta: Callable[[frozenset[int]], float], m: int) -> np.ndarray:
    """Exact Shapley values of a set function ``eta`` over m players (2^m evaluations, m ≤ 12)."""
    if m > 12:
        raise ValueError(f"exact ConceptSHAP over {m} concepts is too costly; use at most 12")
    values = {frozenset(s): eta(frozenset(s)) for r in range(m + 1) for s in itertools.combinations(range(m), r)}
    out = np.zeros(m)
    for i in range(m):
        for s, v in values.items():
            if i in s:
                continue
            weight = math.factorial(len(s)) * math.factorial(m - len(s) - 1) / math.factorial(m)
            out[i] += weight * (values[s | {i}] - v)
    return out


def completeness_fn(
    h: nn.Module, model: ConceptModel, z: torch.Tensor, y: torch.Tensor, baseline: float, ceiling: float
) -> Callable[[frozenset[int]], float]:
    """η(S) for subsets S of the concepts (see the module docstring)."""
    m = model.concepts.shape[0]

    @torch.no_grad()
    def eta(subset: frozenset[int]) -> float:
        keep = torch.zeros(m)
        keep[list(subset)] = 1.0
        acc = float((h(model(z, keep)).argmax(1) == y).float().mean())
        return (acc - baseline) / max(ceiling - baseline, 1e-8)

    return eta


def discover_concepts(
    z: np.ndarray,
    y: np.ndarray,
    m: int = 4,
    steps: int = 600,
    top_k: int = 20,
    coherency: float = 0.1,
    diversity: float = 0.1,
    seed: int = 0,
) -> ConceptResult:
    """Learn m concept directions in z (U, d) that explain labels y (U,) (Yeh et al. 2020)."""
    z = np.asarray(z, dtype=np.float32)
    zs = torch.as_tensor((z - z.mean(0)) / np.maximum(z.std(0), 1e-6))
    yt = torch.as_tensor(np.asarray(y, dtype=np.int64))
    classes = int(yt.max()) + 1
    if classes < 2:
        raise ValueError("concept discovery needs labels with at least two classes")
    h = _fit_classifier(zs, yt, classes, seed)
    ceiling = float((h(zs).argmax(1) == yt).float().mean())
    baseline = float(np.bincount(yt.numpy()).max() / len(yt))
    torch.manual_seed(seed)
    model = ConceptModel(zs.shape[1], m)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    zn = F.normalize(zs, dim=1)
    k = min(top_k, len(zs))
    for _ in range(steps):
        opt.zero_grad()
        c = F.normalize(model.concepts, dim=1)
        coh = (zn @ c.T).topk(k, dim=0).values.mean()
        sim = c @ c.T
        div = (sim - torch.eye(m)).abs().sum() / max(m * (m - 1), 1)
        loss = F.cross_entropy(h(model(zs)), yt) - coherency * coh + diversity * div
        loss.backward()
        opt.step()
    eta = completeness_fn(h, model, zs, yt, baseline, ceiling)
    shap = concept_shap(eta, m)
    with torch.no_grad():
        scores = concept_scores(zs, model.concepts).numpy()
    onehot = np.eye(classes)[yt.numpy()]
    winner = scores.argmax(1)
    label_means = np.stack([onehot[winner == j].mean(0) if (winner == j).any() else np.zeros(classes) for j in range(m)])
    concepts = F.normalize(model.concepts.detach(), dim=1).numpy()
    return ConceptResult(concepts, eta(frozenset(range(m))), shap, ceiling, baseline, label_means)
