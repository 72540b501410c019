"""Describing behaviours: what sets each cluster apart, how occupancy shifts, and concept directions.

Place in the analysis: features → model → fit → encode → cluster → saved → **describe** → write. Takes
``encode.Units`` and ``cluster.Behaviours`` (with the episodes and windows they came from) and a
``ReportConfig``; gives JSON-ready descriptions that ``write`` writes:
- ``profiles``: per-cluster concept/event profiles at both levels (below);
- ``changepoints``: cluster occupancy per training iteration and its shifts (the detectors are the
  library ``changepoints``);
- ``unit_labels``: a user label per unit, quantile bins of team return or of agent dispersion;
- ``concept_directions``: concept directions in z^ω against those labels (the library ``concepts``,
  Yeh et al. 2020).

Cluster profiles. Each unit (a window, or an agent in a window) is summarised by the mean of its
unstandardised step features over valid steps (``encode.unit_summaries``): concept values, event
rates and previous-action frequencies (``analysis.mohba.features``). For every cluster and feature the effect size is
Cohen's d of the cluster against all other units (pooled standard deviation) with a Welch t-test
p-value (scipy); the features with the largest |d| (at least ``min_effect``) make the cluster's
one-line description: up to half of them from what the agents did (events, actions), the rest
from the concepts (the world they were in).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import ttest_ind

from analysis.mohba.changepoints import detect, occupancy, split_by_checkpoint
from analysis.mohba.cluster import Behaviours
from analysis.mohba.concepts import discover_concepts
from analysis.mohba.encode import Units, per_group
from analysis.mohba.features import gather_windows
from envs.config import check_choice

LABELS = ("return", "dispersion")


@dataclass(frozen=True)
class ReportConfig:
    """What the analysis adds on top of the clusters."""

    label: str = "return"
    """User label for concept discovery and the second colouring of the maps: ``return`` or ``dispersion``."""
    label_bins: int = 3
    """Quantile bins of the label."""
    concepts: int = 4
    """Concept directions to learn in z^ω (0 skips concept discovery)."""
    examples: int = 3
    """Example units per cluster in the film strips."""
    changepoint_method: str = "pelt"
    """``pelt`` (ruptures) or ``chi2`` (see ``analysis.mohba.changepoints``)."""


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


def unit_labels(kind: str, units: Units, episodes: Any, windows: Any, bins: int) -> np.ndarray:
    """Quantile-binned label per unit: team return, or mean agent dispersion over the unit's steps."""
    check_choice("label", kind, LABELS)
    if kind == "return":
        return quantile_bins(units.team_return, bins)
    disp = agent_dispersion(episodes.concepts, episodes.spec)  # (E, T)
    mask = windows.mask
    per_window = (gather_windows(disp, windows.episode_index, windows.start, mask.shape[1]) * mask).sum(1) / mask.sum(1)
    # episode units are the sorted episodes, as per_group returns them
    values = per_window[units.window] if units.window is not None else per_group(per_window, windows.episode_index)[1]
    return quantile_bins(values, bins)


def profiles(units: Units, found: Behaviours, names: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Concept/event profiles of the local clusters (per agent) and joint clusters (agent means + team return)."""
    n = units.summary.shape[1]
    out = {"local": cluster_profiles(units.summary.reshape(-1, units.summary.shape[-1]), names, found.local_labels.reshape(-1), prefix="A")}
    if found.joint is not None:  # team means; teammate columns repeat the agents' own there, so they go
        own = [i for i, name in enumerate(names) if not name.startswith("mate")]
        team = np.concatenate([units.summary.mean(axis=1)[:, own], units.team_return[:, None]], axis=1)
        team_names = [("team_mean." + names[i][5:] if names[i].startswith("self.") else names[i]) for i in own]
        out["joint"] = cluster_profiles(team, [*team_names, "team_return"], found.joint.labels, prefix="J")
    out["agents"] = n
    return out


def changepoints(units: Units, found: Behaviours, episodes: Any, method: str) -> dict[str, Any] | None:
    """Occupancy per training iteration and its shifts, at both levels (None with < 2 iterations)."""
    iteration = episodes.iteration[units.episode]
    if len(np.unique(iteration)) < 2:
        return None
    result: dict[str, Any] = {}
    levels = {"local": (np.repeat(iteration, found.local_labels.shape[1]), found.local_labels.reshape(-1), found.local.k)}
    if found.joint is not None:
        levels["joint"] = (iteration, found.joint.labels, found.joint.k)
    for level, (its, labels, k) in levels.items():
        iters, groups = split_by_checkpoint(labels, its)
        frac, counts = occupancy(groups, k)
        changes = detect(frac, counts, method=method)
        result[level] = {
            "iterations": iters.tolist(),
            "occupancy": frac.tolist(),
            "counts": counts.tolist(),
            "changes": [{**c.to_json(), "iteration": int(iters[c.index])} for c in changes],
        }
    return result


def concept_directions(units: Units, label: np.ndarray, report: ReportConfig, seed: int, say: Callable[[str], None]) -> dict | None:
    """Concept directions in z^ω against the label bins (None when flat, skipped or one bin)."""
    if not report.concepts or units.joint is None or len(np.unique(label)) < 2:
        return None
    say(f"concept discovery: {report.concepts} directions in z^ω against {report.label} bins")
    found = discover_concepts(units.joint, label, m=report.concepts, seed=seed)
    return {"label": report.label, "bins": report.label_bins, **found.to_json()}
