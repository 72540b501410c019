"""Edits of a layer's activations through its saved probes: LEACE erasure and probe steering.

Offline linear algebra (numpy / scipy) on what ``probes.safetensors`` holds, no refitting;
``marl.probe_edits`` applies these maps with forward hooks while a policy acts.

**Erasure** (Belrose et al. 2023, "LEACE: Perfect linear concept erasure in closed form"). With
μ and Σ the activations' mean and covariance (``LayerStats``) and Σ_xz their cross-covariance with
the concept's encoding Z (``Probe.cross_cov``; several concepts erased together: their
cross-covariances stacked side by side, so their *joint* encoding is erased), let
W = (Σ^{1/2})⁺ (whitening) and P the orthogonal projection onto the column space of W Σ_xz. The
eraser is

    r(x) = x − W⁺ P W (x − μ).

On the distribution the moments came from, Cov(r(X), Z) = 0: no affine predictor of Z from r(X)
does better than a constant, for any convex loss (a fresh linear probe is at chance), and among
the affine maps with that guarantee r changes X least in mean squared norm. The edit
W⁺ P W (x − μ) lies in the span of Σ_xz's columns: a reader of x whose weights are orthogonal to
them is untouched (the planted-truth test rests on this). Rank deficiency is handled in two
steps. Units constant on the moments' rows (dead ReLUs: variance below ``DEAD_RTOL`` × the
largest) are left out of the computation and never touched, bit for bit: round-off of order
1e-16 written into a constant unit would be read by any probe that standardises its inputs (a
unit's spread of 1e-17 scaled up to 1), which turns an erased concept back into a perfectly
decodable one. Among the other units, eigenvalues of Σ below ``COV_RTOL`` × the largest count as
zero (W and W⁺ are pseudo-inverses on the rest: duplicated or collinear units), and P spans the
singular directions of W Σ_xz above ``SPAN_RTOL`` × the largest (a one-hot's columns sum to a
constant, so a categorical concept has rank K − 1).

**Steering** moves each activation by the smallest change, in the Σ-metric, that makes the probe
read a target: the probe's readings are linear, A h + c, and the change minimising δᵀ Σ⁺ δ
subject to A (h + δ) + c = t is

    δ = Σ Aᵀ (A Σ Aᵀ)⁺ (t − A h − c)

(exact when the steered readings are not collinear on the data, least squares otherwise). The rows
and targets per link (``steer_rows``):
- ``sigmoid`` (binary), target probability V in [0, 1]: the logit reads logit(V), clipped to
  ±``STEER_LOGIT`` (V = 1: +4, a probability of 0.982; V = 0: −4);
- ``softmax`` (categorical), target class c: every margin logit_c − logit_k (k ≠ c, over the
  classes the probe was fitted on) reads ``STEER_LOGIT``, so class c's probability is
  e⁴ / (e⁴ + K − 1) (0.95 for 4 classes) and the other classes tie;
- ``identity`` (scalar: the value; position: x and y, in the ground truth's normalised units).
Several concepts steered together stack their rows (one minimal change meets every target).
Why the Σ-metric and not the Euclidean norm of the raw space: another probe's reading q = w_q h
moves by w_q Σ Aᵀ (A Σ Aᵀ)⁻¹ r (r = t − A h − c), its regression on the steered readings applied to
the step, so |Δq| ≤ R_q · sd_q · √(rᵀ (A Σ Aᵀ)⁻¹ r) at every step (Cauchy-Schwarz; R_q the multiple
correlation of q with the steered readings, sd_q its spread, both under the saved moments): the
probe of a concept unrelated to the steered one stays put, and a related one moves as the data
says it goes along. The edit also stays in the span the activations occupy. A Euclidean step
along the probe's row moves every probe whose row overlaps it, which in a layer of correlated
units of unequal scales is most of them (on the planted data of ``tests/analysis/test_erase_steer.py``,
steering one concept moved independent concepts' probes by up to 2.1 of their spread on the data
along the Euclidean step, by at most 0.12 in the Σ-metric). Constant units are never moved.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.linalg

from analysis.probes.fit import LayerStats, Probe, ProbeError

DEAD_RTOL = 1e-20
"""A unit whose variance is below this fraction of the largest unit variance is constant (never edited)."""
COV_RTOL = 1e-12
"""Eigenvalues of Σ (over the non-constant units) below this fraction of the largest count as zero variance."""
SPAN_RTOL = 1e-6
"""Singular values of W Σ_xz below this fraction of the largest count as zero."""
STEER_LOGIT = 4.0
"""Target logit of a binary probe steered to 1 (−4 for 0), and the margin of a categorical class."""


@dataclass(frozen=True)
class Eraser:
    """r(x) = x − (x − μ) Eᵀ with E = W⁺ P W (module docstring)."""

    mean: np.ndarray
    """(D,) float64 μ."""
    matrix: np.ndarray
    """(D, D) float64 E."""
    rank: int
    """Dimension of the erased subspace (the rank of P)."""

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """(B, D) → (B, D) erased, float64."""
        x = np.asarray(x, np.float64)
        return x - (x - self.mean) @ self.matrix.T


def live_units(cov: np.ndarray) -> np.ndarray:
    """(D,) bool: the units that vary on the moments' rows (``DEAD_RTOL``)."""
    var = np.diag(cov)
    return var > DEAD_RTOL * max(float(var.max(initial=0.0)), np.finfo(float).tiny)


def leace_eraser(stats: LayerStats, cross_covs: Sequence[np.ndarray]) -> Eraser:
    """The LEACE eraser of the concepts whose cross-covariances (D, Z_i) are given, erased jointly."""
    if not cross_covs:
        raise ProbeError("an eraser needs at least one concept's cross-covariance")
    sigma_xz = np.concatenate([np.asarray(c, np.float64) for c in cross_covs], axis=1)  # (D, ΣZ)
    d = stats.cov.shape[0]
    if sigma_xz.shape[0] != d:
        raise ProbeError(f"cross-covariance of {sigma_xz.shape[0]} units against a covariance of {d}")
    live = live_units(stats.cov)
    values, vectors = scipy.linalg.eigh(stats.cov[np.ix_(live, live)])  # Σ = V Λ Vᵀ over the live units
    keep = values > COV_RTOL * max(float(values.max(initial=0.0)), np.finfo(float).tiny)
    v, root = vectors[:, keep], np.sqrt(values[keep])
    whiten = (v / root) @ v.T  # W = (Σ^{1/2})⁺
    unwhiten = (v * root) @ v.T  # W⁺ = Σ^{1/2} on the support
    basis = scipy.linalg.orth(whiten @ sigma_xz[live], rcond=SPAN_RTOL)  # (L, r) orthonormal: P = U Uᵀ
    matrix = np.zeros((d, d))
    matrix[np.ix_(live, live)] = unwhiten @ basis @ basis.T @ whiten
    return Eraser(mean=np.asarray(stats.mean, np.float64), matrix=matrix, rank=int(basis.shape[1]))


@dataclass(frozen=True)
class Steerer:
    """h ← h + (t − A h − c) Gᵀ with G = Σ Aᵀ (A Σ Aᵀ)⁺: the readings A h + c become t (module docstring)."""

    rows: np.ndarray
    """(K, D) float64 A."""
    offsets: np.ndarray
    """(K,) float64 c."""
    targets: np.ndarray
    """(K,) float64 t."""
    gain: np.ndarray
    """(D, K) float64 G."""

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """(B, D) → (B, D) steered, float64."""
        x = np.asarray(x, np.float64)
        return x + (self.targets - self.readings(x)) @ self.gain.T

    def readings(self, x: np.ndarray) -> np.ndarray:
        """(B, D) → (B, K) what the steered rows read (equal to ``targets`` after steering)."""
        return np.asarray(x, np.float64) @ self.rows.T + self.offsets


def steer_rows(probe: Probe, values: Sequence[float], classes: Sequence[str] = ()) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows (K, D), offsets (K,), targets (K,)) steering ``probe`` to ``values`` (module docstring).

    ``classes``: the concept's class names (categorical: ``values[0]`` indexes them)."""
    w, b = np.asarray(probe.weight, np.float64), np.asarray(probe.bias, np.float64)
    if probe.link == "sigmoid":
        p = float(values[0])
        logit = STEER_LOGIT if p >= 1 else -STEER_LOGIT if p <= 0 else float(np.clip(np.log(p / (1 - p)), -STEER_LOGIT, STEER_LOGIT))
        return w, b, np.array([logit])
    if probe.link == "softmax":
        name = classes[int(values[0])]
        if name not in probe.outputs:
            raise ProbeError(
                f"class {name!r} never occurred in the probe's training rows (seen: {', '.join(probe.outputs)}): nothing to steer to"
            )
        c = probe.outputs.index(name)
        others = [k for k in range(len(probe.outputs)) if k != c]
        return w[c] - w[others], b[c] - b[others], np.full(len(others), STEER_LOGIT)
    if probe.link == "identity":
        if len(values) != len(w):
            raise ProbeError(
                f"a probe of {len(w)} output(s) ({', '.join(probe.outputs)}) is steered to {len(w)} value(s), got {len(values)}"
            )
        return w, b, np.asarray(values, np.float64)
    raise ProbeError(f"unknown probe link {probe.link!r}")


def steerer(stats: LayerStats, parts: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> Steerer:
    """One ``Steerer`` meeting every part's targets (``steer_rows`` outputs, stacked) in the Σ-metric of ``stats``."""
    if not parts:
        raise ProbeError("a steerer needs at least one probe to steer")
    rows = np.concatenate([p[0] for p in parts])  # (K, D)
    offsets = np.concatenate([p[1] for p in parts])
    targets = np.concatenate([p[2] for p in parts])
    spread = np.einsum("kd,de,ke->k", rows, stats.cov, rows)  # (K,) variance of each reading on the data
    if not (spread > 0).all():
        raise ProbeError("a probe to steer reads no direction the activations vary along: steering it cannot move its reading")
    reach = stats.cov @ rows.T  # (D, K) Σ Aᵀ
    gain = reach @ scipy.linalg.pinvh(rows @ reach)  # (D, K) Σ Aᵀ (A Σ Aᵀ)⁺
    gain[~live_units(stats.cov)] = 0.0  # constant units are never moved (see the eraser)
    return Steerer(rows=rows, offsets=offsets, targets=targets, gain=gain)
