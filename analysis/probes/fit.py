"""Linear probes: how much of each concept a layer's activations hold, relative to chance.

Offline statistics on activations (``marl.activations`` computes them from a policy and a
dataset's observations) and the dataset's ground-truth concepts; scikit-learn does the fitting.

Rules:
- One probe per (module, layer, concept). A module's rows are the valid steps of the agents it acts
  for: every agent for a shared module (one probe pooled over the agents: the module also reads the
  agent index, so an agent-specific code is still linear in it), its own agent for an independent
  module (one probe per module). Each row carries its own agent's ground truth (``gt`` layout:
  concepts relative to the viewer differ between agents).
- Split by episode, seeded (``split_episodes``): probes are fitted on the training episodes and
  scored on the held-out ones, so steps of one episode never sit on both sides.
- Inputs are standardised (``StandardScaler`` on the training rows). Binary and categorical
  concepts: ``LogisticRegression`` (L2, ``C``); scalar and position: ``Ridge`` (``alpha``), a
  position's two coordinates together, fitted and scored on the rows where the object is present
  (``ABSENT`` rows are left out; presence itself is not probed here).
- Scores on held-out rows: classification accuracy, against chance = the accuracy of always
  answering the training majority class; regression R² (positions: the mean over x and y), against
  chance = the R² of always answering the training mean (0 or a little below), with the error
  beside it (RMSE; positions: the mean distance in cells when the env's grid is known).
  ``skill`` = 1 − loss / chance's loss (loss: error rate, or mean squared error): 0 at chance, 1
  perfect, the same scale for every kind, so "decodable" always means "above chance".
- A concept constant in a module's training rows (one class, one value, or always absent) is
  reported with status ``constant`` and gets no probe.
- Training rows beyond ``max_train_rows`` are subsampled (seeded); every held-out row is scored.
- Saved probes live in the raw activation space: output = weight @ h + bias (``Probe``), and for a
  later LEACE-style eraser (Belrose et al. 2023, "LEACE: Perfect linear concept erasure in closed
  form") each (module, layer) keeps the activations' mean and covariance (``LayerStats``) and each
  probe the cross-covariance of the activations with the concept's encoded values Z
  (``concept_targets``: binary 0/1; categorical one-hot over the spec's classes; scalar
  standardised; position standardised x and y, 0 where absent, and an absent indicator), all over
  the module's training rows.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, mean_squared_error, r2_score
from sklearn.preprocessing import StandardScaler

from envs.spec import ABSENT, ConceptKind, ConceptSpec

CLASSIFICATION = (ConceptKind.BINARY, ConceptKind.CATEGORICAL)
STATUSES = ("fitted", "constant")


class ProbeError(ValueError):
    """Probes cannot be fitted or read as asked; the message says why."""


@dataclass(frozen=True)
class ProbeConfig:
    """How probes are fitted and scored."""

    held_out: float = 0.25
    """Fraction of episodes held out for scoring, in (0, 1); at least one episode on each side."""
    seed: int = 0
    """Seed of the episode split and of training-row subsampling."""
    C: float = 1.0
    """Inverse L2 strength of the logistic probes (on standardised inputs), > 0."""
    alpha: float = 1.0
    """L2 strength of the ridge probes (on standardised inputs), >= 0."""
    max_train_rows: int = 20_000
    """Most training rows a probe is fitted on (more are subsampled), >= 10."""
    max_iter: int = 1000
    """Most iterations of the logistic solver (lbfgs); a probe that did not converge says so."""
    null_draws: int = 500
    """Random-label probes per (module, layer, family) for the sensitivity null (0: none), 0 or >= 2; the
    smallest two-sided p-value a test against them can give is 2 / (null_draws + 1)."""

    def __post_init__(self) -> None:
        if not 0.0 < self.held_out < 1.0:
            raise ProbeError(f"held_out={self.held_out} must lie strictly between 0 and 1 (a fraction of the episodes)")
        if self.C <= 0 or self.alpha < 0:
            raise ProbeError(f"C={self.C} must be > 0 and alpha={self.alpha} >= 0")
        if self.max_train_rows < 10 or self.max_iter < 1 or self.seed < 0:
            raise ProbeError(f"max_train_rows={self.max_train_rows} must be >= 10, max_iter >= 1, seed >= 0")
        if self.null_draws < 0 or self.null_draws == 1:
            raise ProbeError(f"null_draws={self.null_draws} must be 0 (no null) or at least 2")


@dataclass(frozen=True)
class Split:
    """Which episodes train the probes and which score them (positions into the episode axis)."""

    train: np.ndarray
    """(E_train,) int64 sorted."""
    test: np.ndarray
    """(E_test,) int64 sorted."""


def split_episodes(n_episodes: int, held_out: float, seed: int) -> Split:
    """A seeded random split of ``n_episodes`` with round(held_out · E) (at least 1, at most E − 1) held out."""
    if not 0.0 < held_out < 1.0:
        raise ProbeError(f"held_out={held_out} must lie strictly between 0 and 1 (a fraction of the episodes)")
    if n_episodes < 2:
        raise ProbeError(f"{n_episodes} episode(s) cannot be split into training and held-out episodes; record at least 2")
    n_test = min(max(round(held_out * n_episodes), 1), n_episodes - 1)
    order = np.random.default_rng(seed).permutation(n_episodes)
    return Split(train=np.sort(order[n_test:]).astype(np.int64), test=np.sort(order[:n_test]).astype(np.int64))


@dataclass(frozen=True)
class LayerStats:
    """First and second moments of one module's layer over its training rows (for erasers)."""

    mean: np.ndarray
    """(D,) float64 activation mean."""
    cov: np.ndarray
    """(D, D) float64 activation covariance."""
    rows: int
    """Training rows they were computed on."""


@dataclass(frozen=True)
class Probe:
    """One fitted linear probe, in the raw activation space: output = weight @ h + bias."""

    weight: np.ndarray
    """(K, D) float64: K = 1 for binary (the logit of ``outputs[0]``) and 2-class fits, one row per class otherwise
    (softmax logits), 1 for scalar, 2 (x, y) for position."""
    bias: np.ndarray
    """(K,) float64."""
    outputs: tuple[str, ...]
    """What each row reads: a class name per row (a single row: the logit of that class against the others), or
    ``value`` / ``x``, ``y`` for regression."""
    link: str
    """``sigmoid`` (one logit), ``softmax`` (a logit per class) or ``identity`` (regression, the concept's gt units)."""
    cross_cov: np.ndarray
    """(D, Z) float64 covariance of the activations with the concept's encoded values (``z_columns``)."""
    z_columns: tuple[str, ...]
    """The encoded values Z of the concept (``concept_targets``)."""


@dataclass(frozen=True)
class ProbeScore:
    """The held-out score of one (module, layer, concept)."""

    module: str
    layer: str
    concept: str
    kind: str
    """binary, categorical, scalar or position."""
    status: str
    """``fitted`` or ``constant`` (no probe: one value in the training rows)."""
    metric: str
    """``accuracy`` (binary, categorical) or ``r2`` (scalar, position)."""
    score: float
    """The probe's held-out metric (NaN when not fitted or no held-out row)."""
    chance: float
    """The metric of the chance predictor (training majority class / training mean) on the same rows."""
    skill: float
    """1 − loss / chance loss (error rate or MSE): 0 at chance, 1 perfect."""
    error: float
    """Classification: error rate; scalar: RMSE; position: mean distance (``error_unit``)."""
    chance_error: float
    """The chance predictor's ``error``."""
    error_unit: str
    """``rate``, ``value`` (the concept's units), ``cells`` or ``normalised`` (a position without a known grid)."""
    n_train: int
    n_test: int
    converged: bool
    """False when the logistic solver stopped at ``max_iter`` (always True for ridge)."""


def module_rows(mask: np.ndarray, episodes: np.ndarray, agents: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Index arrays (e, t, n), each (R,), of the valid steps (mask (E, T)) of ``episodes`` for ``agents``."""
    e, t = np.nonzero(mask[episodes])  # positions within ``episodes``
    e = episodes[e]
    n = np.asarray(agents, dtype=np.int64)
    return np.repeat(e, len(n)), np.repeat(t, len(n)), np.tile(n, len(t))


def concept_targets(spec: ConceptSpec, gt: np.ndarray) -> tuple[np.ndarray, tuple[str, ...]]:
    """A concept's ground truth (R, gt_width) → its encoded values Z (R, Z) float64 and their names (module docstring)."""
    if spec.kind is ConceptKind.BINARY:
        return (gt[:, :1] > 0.5).astype(np.float64), (spec.attr,)
    if spec.kind is ConceptKind.CATEGORICAL:
        onehot = np.eye(len(spec.classes))[np.clip(gt[:, 0].astype(np.int64), 0, len(spec.classes) - 1)]
        return onehot, spec.classes
    if spec.kind is ConceptKind.SCALAR:
        return _standardised(gt[:, :1].astype(np.float64)), ("value",)
    absent = (gt == ABSENT).all(axis=1)  # (R,)
    xy = np.where(absent[:, None], np.nan, gt.astype(np.float64))
    mean, std = np.nanmean(xy, axis=0) if (~absent).any() else np.zeros(2), np.nanstd(xy, axis=0) if (~absent).any() else np.ones(2)
    xy = np.nan_to_num((xy - mean) / np.where(std > 0, std, 1.0))
    return np.column_stack([xy, absent.astype(np.float64)]), ("x", "y", "absent")


def _standardised(z: np.ndarray) -> np.ndarray:
    std = z.std(axis=0)
    return (z - z.mean(axis=0)) / np.where(std > 0, std, 1.0)


def cross_covariance(x: np.ndarray, z: np.ndarray) -> np.ndarray:
    """(R, D), (R, Z) → (D, Z) covariance of the columns (divided by R)."""
    xc = x - x.mean(axis=0)
    return xc.T.astype(np.float64) @ (z - z.mean(axis=0)) / max(len(x), 1)


def layer_stats(x: np.ndarray) -> LayerStats:
    """Mean and covariance (``np.cov``, divided by R) of (R, D) activations."""
    x = x.astype(np.float64)
    cov = np.cov(x, rowvar=False, bias=True).reshape(x.shape[1], x.shape[1]) if len(x) > 1 else np.zeros((x.shape[1],) * 2)
    return LayerStats(mean=x.mean(axis=0), cov=cov, rows=len(x))


def labels(spec: ConceptSpec, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The probe's target for gt (R, gt_width) and the rows it is defined on: class index (R,) or values (R, 1|2)."""
    if spec.kind is ConceptKind.BINARY:
        return (gt[:, 0] > 0.5).astype(np.int64), np.ones(len(gt), bool)
    if spec.kind is ConceptKind.CATEGORICAL:
        return gt[:, 0].astype(np.int64), np.ones(len(gt), bool)
    if spec.kind is ConceptKind.SCALAR:
        return gt[:, :1].astype(np.float64), np.ones(len(gt), bool)
    return gt.astype(np.float64), ~(gt == ABSENT).all(axis=1)


def is_constant(y: np.ndarray) -> bool:
    """Whether the training targets (of the rows they are defined on) hold a single value."""
    return len(y) == 0 or bool((y == y[0]).all())


def to_raw(scaler: StandardScaler, weight: np.ndarray, bias: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A linear map on standardised inputs (K, D), (K,) → the same map on raw activations."""
    w = weight / scaler.scale_  # (K, D)
    return w, bias - w @ scaler.mean_


def fit_linear(spec: ConceptSpec, x: np.ndarray, y: np.ndarray, cfg: ProbeConfig) -> tuple[object, StandardScaler, bool]:
    """Fit the kind's estimator on standardised x (R, D) → (estimator, scaler, converged)."""
    scaler = StandardScaler().fit(x)
    xs = scaler.transform(x)
    if spec.kind not in CLASSIFICATION:
        return Ridge(alpha=cfg.alpha).fit(xs, y), scaler, True
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model = LogisticRegression(C=cfg.C, max_iter=cfg.max_iter).fit(xs, y)
    return model, scaler, not any(issubclass(w.category, ConvergenceWarning) for w in caught)


def probe_params(spec: ConceptSpec, model: object, scaler: StandardScaler) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], str]:
    """(weight (K, D), bias (K,), outputs, link) of a fitted estimator, in the raw activation space."""
    weight, bias = to_raw(scaler, np.atleast_2d(model.coef_), np.atleast_1d(model.intercept_))
    if spec.kind is ConceptKind.BINARY:
        return weight, bias, (spec.attr,), "sigmoid"
    if spec.kind is ConceptKind.CATEGORICAL:
        seen = tuple(spec.classes[int(c)] for c in model.classes_)
        if len(seen) == 2:  # one logit (class 1 vs 0) as two softmax logits: softmax([-a/2, a/2])[1] = sigmoid(a)
            weight, bias = np.concatenate([-weight / 2, weight / 2]), np.concatenate([-bias / 2, bias / 2])
        return weight, bias, seen, "softmax"
    return weight, bias, ("value",) if spec.kind is ConceptKind.SCALAR else ("x", "y"), "identity"


def _skill(loss: float, chance_loss: float) -> float:
    """1 − loss / chance loss; NaN when chance is already perfect (the held-out rows hold one value)."""
    return 1.0 - loss / chance_loss if chance_loss > 0 else float("nan")


def score_probe(
    spec: ConceptSpec,
    model: object,
    scaler: StandardScaler,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    grid: tuple[int, ...],
) -> dict[str, float | str]:
    """Held-out metric, chance, skill and errors of a fitted probe (module docstring); x_test (R, D)."""
    nan = float("nan")
    if spec.kind in CLASSIFICATION:
        values, counts = np.unique(y_train, return_counts=True)
        majority = values[np.argmax(counts)]
        if len(y_test) == 0:
            return {
                "metric": "accuracy",
                "score": nan,
                "chance": nan,
                "skill": nan,
                "error": nan,
                "chance_error": nan,
                "error_unit": "rate",
            }
        acc = float(accuracy_score(y_test, model.predict(scaler.transform(x_test))))
        chance = float(np.mean(y_test == majority))
        return {
            "metric": "accuracy",
            "score": acc,
            "chance": chance,
            "skill": _skill(1 - acc, 1 - chance),
            "error": 1 - acc,
            "chance_error": 1 - chance,
            "error_unit": "rate",
        }
    position = spec.kind is ConceptKind.POSITION
    unit = ("cells" if grid else "normalised") if position else "value"
    if len(y_test) < 2:
        return {"metric": "r2", "score": nan, "chance": nan, "skill": nan, "error": nan, "chance_error": nan, "error_unit": unit}
    pred = model.predict(scaler.transform(x_test)).reshape(y_test.shape)  # (R, 1|2)
    mean = np.broadcast_to(y_train.mean(axis=0), y_test.shape)
    cells = np.array([grid[1] - 1, grid[0] - 1], np.float64) if position and len(grid) == 2 else np.ones(y_test.shape[1])
    mse, chance_mse = (mean_squared_error(y_test * cells, p * cells) for p in (pred, mean))
    if position:
        error, chance_error = (float(np.linalg.norm((p - y_test) * cells, axis=1).mean()) for p in (pred, mean))
    else:
        error, chance_error = float(np.sqrt(mse)), float(np.sqrt(chance_mse))
    return {
        "metric": "r2",
        "score": float(r2_score(y_test, pred)),
        "chance": float(r2_score(y_test, mean)),
        "skill": _skill(float(mse), float(chance_mse)),
        "error": error,
        "chance_error": chance_error,
        "error_unit": unit,
    }
