"""Sensitivity scores: does moving a layer's activation along a concept's direction raise an action's logit?

TCAV (Kim et al. 2018, "Interpretability Beyond Feature Attribution: Quantitative Testing with
Concept Activation Vectors"), per (module, layer, concept direction, action), on held-out steps:
- the concept's directions are its probe's, unit length in the raw activation space
  (``concept_directions``): binary and scalar, the weight row; categorical, one per class, the
  class's softmax row minus the mean row (softmax ignores a shift shared by every class); position,
  the x and the y rows;
- the directional derivative at step t is ∇_h logit_a(h_t) · v (the gradients come from
  ``marl.activations`` with ``gradients=True``); the TCAV score is the fraction of steps where it
  is > 0, and ``mean_abs`` the mean of its absolute value (how strongly, not only which way);
- the null: the same scores for the ``null`` directions of ``ProbeSet`` (probes of the same
  estimator family fitted on random labels: Kim et al.'s random concepts), per action;
- the test: two-sided, the concept's score against the M null scores, by its rank among them
  (``null_test``: p = 2·min(1 + #{null ≥ s}, 1 + #{null ≤ s}) / (M + 1), capped at 1; Phipson &
  Smyth 2010). It is exact when the concept's direction is exchangeable with the null's, whatever
  the null's shape, and ties (a layer whose gradients barely vary puts many null scores at exactly
  0 or 1) only make it conservative. A t-test of one score against the null (Kim et al.'s test
  with one concept run) is not used: the null of a layer close to the logits is often U-shaped
  (most directions push one way at every step), where a t-test never rejects, and the spread of
  scores of refitted concept probes is no null at all. The cost: p never falls below 2 / (M + 1);
- the correction over every test of the run (``analysis.effects.adjust``): Holm (family-wise
  error) by default, Benjamini–Hochberg (false discovery rate) as an option. With Holm over K
  tests a result needs 2 / (M + 1) < alpha / K, i.e. M > 2K / alpha null draws; with many tests
  BH is the one with power, and ``z`` (the score's distance from the null mean in null SDs) ranks
  effects whatever the test says.
Directions of constant concepts do not exist (no probe) and are not tested.

The gradients stream in batches (``SensitivityAccumulator.add``), so only counts and sums are kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from analysis.effects import adjust
from analysis.probes.fit import Probe, ProbeError
from analysis.probes.probeset import ProbeSet, family

ROWS_PER_PRODUCT = 256
"""Rows of gradients projected on every direction at once (memory: rows × actions × directions floats)."""


@dataclass(frozen=True)
class Direction:
    """One concept direction of one (module, layer)."""

    concept: str
    name: str
    """``concept`` itself, ``concept=class`` or ``concept.x`` / ``concept.y``."""
    family: str
    """The probe's estimator family, whose null it is tested against."""
    vector: np.ndarray
    """(D,) float64 unit vector in the raw activation space."""


@dataclass(frozen=True)
class SensitivityScore:
    """TCAV score of one direction for one action, with its null and test."""

    module: str
    layer: str
    concept: str
    direction: str
    action: str
    tcav: float
    """Fraction of held-out steps with a positive directional derivative."""
    null_mean: float
    """Mean TCAV score of the null directions (same module, layer, family, action)."""
    null_sd: float
    z: float
    """(tcav − null_mean) / null_sd (0 when the null has no spread and the score equals its mean)."""
    p: float
    """Two-sided rank p-value against the null (module docstring)."""
    p_adjusted: float
    """``p`` after the correction (``correction``) over every test of the run."""
    significant: bool
    """``p_adjusted`` < alpha."""
    mean_abs: float
    """Mean |directional derivative| over the steps."""
    null_mean_abs: float
    """The same, averaged over the null directions."""
    n_steps: int


def _unit(v: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v


def probe_directions(concept: str, kind: str, probe: Probe) -> list[Direction]:
    """The unit directions of one probe (module docstring)."""
    fam = family(kind)
    if probe.link == "softmax":
        centred = probe.weight - probe.weight.mean(axis=0)  # (K, D)
        return [Direction(concept, f"{concept}={c}", fam, _unit(w)) for c, w in zip(probe.outputs, centred)]
    if probe.outputs == ("x", "y"):
        return [Direction(concept, f"{concept}.{c}", fam, _unit(w)) for c, w in zip(probe.outputs, probe.weight)]
    return [Direction(concept, concept, fam, _unit(probe.weight[0]))]


def concept_directions(probes: ProbeSet) -> dict[tuple[str, str], list[Direction]]:
    """(module, layer) → the directions of every fitted probe there."""
    kinds = {c.name: c.kind.value for c in probes.spec.concepts.specs}
    out: dict[tuple[str, str], list[Direction]] = {key: [] for key in probes.stats}
    for (module, layer, concept), probe in probes.probes.items():
        out[(module, layer)] += probe_directions(concept, kinds[concept], probe)
    return out


class SensitivityAccumulator:
    """Counts positive directional derivatives of every direction (concept and null) over batches of steps."""

    def __init__(self, probes: ProbeSet, actions: tuple[str, ...]) -> None:
        missing = [key for key in probes.stats for fam in ("logistic", "ridge") if (*key, fam) not in probes.null]
        if missing:
            raise ProbeError(f"the probe set has no null directions for {missing[:3]}...; fit it with null_draws > 0")
        self.probes, self.actions = probes, tuple(actions)
        self.directions = concept_directions(probes)
        self.matrices: dict[tuple[str, str], np.ndarray] = {}
        self.positive: dict[tuple[str, str], np.ndarray] = {}
        self.abs_sum: dict[tuple[str, str], np.ndarray] = {}
        self.steps: dict[tuple[str, str], int] = {}
        for key, dirs in self.directions.items():
            vectors = [d.vector for d in dirs] + [*probes.null[(*key, "logistic")], *probes.null[(*key, "ridge")]]
            self.matrices[key] = np.stack(vectors).T.astype(np.float32)  # (D, M_total)
            self.positive[key] = np.zeros((len(self.actions), len(vectors)), np.int64)  # (A, M_total)
            self.abs_sum[key] = np.zeros((len(self.actions), len(vectors)), np.float64)
            self.steps[key] = 0

    def add(self, logit_grads: Mapping[str, np.ndarray]) -> None:
        """One batch of steps: layer → (K, N, A, D) d logit / d activation (every step valid)."""
        for (module, layer), matrix in self.matrices.items():
            grads = logit_grads[layer][:, list(self.probes.modules[module])]  # (K, n_m, A, D)
            if grads.shape[-2] != len(self.actions):
                raise ProbeError(f"gradients of {layer} have {grads.shape[-2]} actions, expected {len(self.actions)}")
            rows = grads.reshape(-1, *grads.shape[-2:])  # (R, A, D)
            for lo in range(0, len(rows), ROWS_PER_PRODUCT):  # bounded memory: R·A·M_total derivatives at most
                deriv = rows[lo : lo + ROWS_PER_PRODUCT] @ matrix  # (r, A, M_total)
                self.positive[(module, layer)] += (deriv > 0).sum(axis=0)
                self.abs_sum[(module, layer)] += np.abs(deriv).sum(axis=0, dtype=np.float64)
            self.steps[(module, layer)] += len(rows)

    def scores(self, alpha: float = 0.05, correction: str = "holm") -> tuple[SensitivityScore, ...]:
        """Every (module, layer, direction, action) test, corrected over all of them (module docstring)."""
        rows = []
        for key, dirs in self.directions.items():
            n = max(self.steps[key], 1)
            tcav, mean_abs = self.positive[key] / n, self.abs_sum[key] / n  # (A, M_total)
            draws = {fam: len(self.probes.null[(*key, fam)]) for fam in ("logistic", "ridge")}
            null_cols = {"logistic": slice(len(dirs), len(dirs) + draws["logistic"]), "ridge": slice(len(dirs) + draws["logistic"], None)}
            for j, d in enumerate(dirs):
                for a, action in enumerate(self.actions):
                    null = tcav[a, null_cols[d.family]]
                    z, p = null_test(float(tcav[a, j]), null)
                    rows.append(
                        dict(module=key[0], layer=key[1], concept=d.concept, direction=d.name, action=action, tcav=float(tcav[a, j]))
                        | dict(null_mean=float(null.mean()), null_sd=float(null.std(ddof=1)), z=z, p=p, mean_abs=float(mean_abs[a, j]))
                        | dict(null_mean_abs=float(mean_abs[a, null_cols[d.family]].mean()), n_steps=self.steps[key])
                    )
        p_adj = adjust([r["p"] for r in rows], correction)
        return tuple(SensitivityScore(**r, p_adjusted=float(q), significant=bool(q < alpha)) for r, q in zip(rows, p_adj))


def null_test(score: float, null: np.ndarray) -> tuple[float, float]:
    """Two-sided test of one score against M null scores (module docstring) → (z, p)."""
    null = np.asarray(null, dtype=np.float64)
    m = len(null)
    if m < 2:
        raise ProbeError(f"a test against the null needs at least 2 null directions, got {m}")
    above, below = int((null >= score).sum()), int((null <= score).sum())
    p = min(1.0, 2 * (1 + min(above, below)) / (m + 1))
    mean, sd = float(null.mean()), float(null.std(ddof=1))
    z = (score - mean) / sd if sd > 0 else (0.0 if score == mean else float(np.sign(score - mean) * np.inf))
    return float(z), p
