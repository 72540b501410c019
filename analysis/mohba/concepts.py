"""Concept directions in z^ω against user labels.

A library of ``describe`` (``describe.concept_directions``); it imports no stage.

After Yeh et al. 2020, "On Completeness-aware Concept-Based Explanations in Deep Neural Networks":
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
z is standardised per dimension before everything.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


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
