"""Fit every probe of a policy on a dataset: modules × layers × concepts, and the random-label null.

Input arrays (``marl.activations.capture`` and ``Dataset.load(fields=("concepts",))`` give them,
aligned on the same sorted episode ids): activations {layer: (E, T, N, D)}, ground-truth concepts
(E, T, N, gt_dim), the valid-step mask (E, T), and which agents each module acts for
(``modules``: module id → agent indices; a shared module lists every agent).

For each (module, layer): ``LayerStats`` over all of the module's training rows; for each concept
a probe fitted and scored by ``analysis.probes.fit`` (its rules); and, for the sensitivity null
(``analysis.probes.sensitivity``), ``ProbeConfig.null_draws`` probes fitted on random labels
(Kim et al. 2018's random concepts), each a unit direction in the raw activation space (``null``),
one set per (module, layer) and estimator family, serving every concept of that family:
- a probe fitted on labels unrelated to the activations points along (XᵀX + λI)⁻¹ Xᵀ(y − ȳ) on
  the standardised inputs X, to first order, whatever the labels' marginal: for ridge exactly
  (λ = alpha), for logistic regression at its first Newton step from 0 on balanced labels
  (λ = 4 / C, the log-loss curvature being 1/4 there);
- so the null probes are all fitted in one multi-target ``Ridge`` solve, on random ±1 labels (the
  logistic family) or Gaussian targets (the ridge family), on at most ``NULL_ROWS`` training rows,
  and hundreds of them cost less than one logistic fit. A concept's own probe, fitted exactly,
  is (to that first order) a draw from the same distribution when the concept is unrelated to
  the activations. The random labels are independent across steps; a concept that changes slowly
  within episodes is not (see docs/probes.md, 'Caveats').
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.linear_model import Ridge
from sklearn.preprocessing import StandardScaler

from analysis.probes.fit import (
    CLASSIFICATION,
    LayerStats,
    Probe,
    ProbeConfig,
    ProbeError,
    ProbeScore,
    Split,
    concept_targets,
    cross_covariance,
    fit_linear,
    is_constant,
    labels,
    layer_stats,
    module_rows,
    probe_params,
    score_probe,
    split_episodes,
)
from envs.spec import ConceptKind, ConceptSpec, EnvSpec

FAMILIES = ("logistic", "ridge")
"""The probe estimators: logistic (binary, categorical) and ridge (scalar, position)."""
NULL_ROWS = 5000
"""Most training rows a null probe is fitted on."""


def family(kind: ConceptKind | str) -> str:
    """The estimator family of a concept kind."""
    return "logistic" if ConceptKind(kind) in CLASSIFICATION else "ridge"


@dataclass(frozen=True)
class ProbeSet:
    """The fitted probes of one policy on one dataset, their scores and what was needed to fit them."""

    spec: EnvSpec
    """The env (concepts, grid) the probes read."""
    modules: dict[str, tuple[int, ...]]
    """Module id → the agent indices whose steps are its rows."""
    layers: tuple[str, ...]
    """Probed layers, in forward order."""
    widths: dict[str, int]
    """Layer → width D."""
    episode_ids: np.ndarray
    """(E,) int64 dataset episode ids the split indexes."""
    split: Split
    config: ProbeConfig
    stats: dict[tuple[str, str], LayerStats]
    """(module, layer) → activation moments over the training rows."""
    probes: dict[tuple[str, str, str], Probe]
    """(module, layer, concept) → probe (fitted concepts only)."""
    scores: tuple[ProbeScore, ...]
    """One per (module, layer, concept), fitted or constant."""
    null: dict[tuple[str, str, str], np.ndarray] = field(default_factory=dict)
    """(module, layer, family) → (M, D) unit directions of probes fitted on random labels."""
    meta: dict[str, Any] = field(default_factory=dict)
    """Provenance (JSON-able): policy checkpoint, dataset path, ..."""

    def score(self, module: str, layer: str, concept: str) -> ProbeScore:
        for s in self.scores:
            if (s.module, s.layer, s.concept) == (module, layer, concept):
                return s
        raise KeyError(f"no score for ({module}, {layer}, {concept})")


def _check_inputs(activations: Mapping[str, np.ndarray], concepts: np.ndarray, mask: np.ndarray, spec: EnvSpec, modules) -> None:
    e, t = mask.shape
    if concepts.shape[:2] != (e, t) or concepts.shape[-1] != spec.concepts.gt_dim:
        raise ProbeError(f"concepts {concepts.shape} do not fit the mask {mask.shape} and {spec.concepts.gt_dim} gt slots")
    for name, act in activations.items():
        if act.shape[:3] != concepts.shape[:3]:
            raise ProbeError(f"activations of {name} {act.shape} do not line up with the concepts {concepts.shape}")
    n = concepts.shape[2]
    bad = [m for m, agents in modules.items() if not agents or any(not 0 <= a < n for a in agents)]
    if bad:
        raise ProbeError(f"module(s) {bad} name no agent or an agent outside 0..{n - 1}")


def fit_probes(
    activations: Mapping[str, np.ndarray],
    concepts: np.ndarray,
    mask: np.ndarray,
    spec: EnvSpec,
    modules: Mapping[str, tuple[int, ...]],
    config: ProbeConfig | None = None,
    *,
    episode_ids: np.ndarray | None = None,
    meta: dict[str, Any] | None = None,
) -> ProbeSet:
    """Fit and score a probe per (module, layer, concept), and ``config.null_draws`` random-label probes per (module, layer, family)."""
    config = config or ProbeConfig()
    _check_inputs(activations, concepts, mask, spec, modules)
    split = split_episodes(mask.shape[0], config.held_out, config.seed)
    stats, probes, scores, null = {}, {}, [], {}
    for m_index, (module, agents) in enumerate(modules.items()):
        train, test = module_rows(mask, split.train, tuple(agents)), module_rows(mask, split.test, tuple(agents))
        rng = np.random.default_rng([config.seed, m_index])
        fit_rows = (
            np.sort(rng.choice(len(train[0]), config.max_train_rows, replace=False)) if len(train[0]) > config.max_train_rows else None
        )
        gt_train, gt_test = concepts[train], concepts[test]  # (R, gt_dim)
        for l_index, (layer, act) in enumerate(activations.items()):
            x_train, x_test = act[train], act[test]  # (R, D)
            stats[(module, layer)] = layer_stats(x_train)
            for spec_c in spec.concepts.specs:
                where = spec.concepts.gt_slices[spec_c.name]
                probe, score = _one(spec_c, x_train, gt_train[:, where], x_test, gt_test[:, where], fit_rows, config, spec.grid)
                scores.append(ProbeScore(module=module, layer=layer, **score))
                if probe is not None:
                    probes[(module, layer, spec_c.name)] = probe
            for fam in FAMILIES if config.null_draws else ():
                null[(module, layer, fam)] = null_directions(x_train, fam, config.null_draws, config, seed=[config.seed, m_index, l_index])
    widths = {layer: int(act.shape[-1]) for layer, act in activations.items()}
    ids = np.arange(mask.shape[0], dtype=np.int64) if episode_ids is None else np.asarray(episode_ids, np.int64)
    return ProbeSet(
        spec=spec,
        modules={m: tuple(int(a) for a in agents) for m, agents in modules.items()},
        layers=tuple(activations),
        widths=widths,
        episode_ids=ids,
        split=split,
        config=config,
        stats=stats,
        probes=probes,
        scores=tuple(scores),
        null=null,
        meta=dict(meta or {}),
    )


def _one(
    spec_c: ConceptSpec,
    x_train: np.ndarray,
    gt_train: np.ndarray,
    x_test: np.ndarray,
    gt_test: np.ndarray,
    fit_rows: np.ndarray | None,
    config: ProbeConfig,
    grid: tuple[int, ...],
) -> tuple[Probe | None, dict[str, Any]]:
    """One concept's probe on x (R, D) and gt (R, gt_width) rows: (probe, or None when constant; the ProbeScore fields
    but module and layer). ``fit_rows``: the training rows it is fitted on (None: all)."""
    y_train, defined = labels(spec_c, gt_train)
    y_test, defined_test = labels(spec_c, gt_test)
    rows = defined if fit_rows is None else np.isin(np.arange(len(defined)), fit_rows) & defined
    base = {"concept": spec_c.name, "kind": spec_c.kind.value, "n_test": int(defined_test.sum())}
    if is_constant(y_train[defined]):
        nan = float("nan")
        empty = {"metric": "accuracy" if spec_c.kind in CLASSIFICATION else "r2", "score": nan, "chance": nan, "skill": nan}
        unit = "rate" if spec_c.kind in CLASSIFICATION else "value"
        return None, {
            **base,
            **empty,
            "status": "constant",
            "error": nan,
            "chance_error": nan,
            "error_unit": unit,
            "n_train": int(defined.sum()),
            "converged": True,
        }
    model, scaler, converged = fit_linear(spec_c, x_train[rows], y_train[rows], config)
    score = score_probe(spec_c, model, scaler, y_train[defined], x_test[defined_test], y_test[defined_test], grid)
    weight, bias, outputs, link = probe_params(spec_c, model, scaler)
    z, z_columns = concept_targets(spec_c, gt_train)
    probe = Probe(weight=weight, bias=bias, outputs=outputs, link=link, cross_cov=cross_covariance(x_train, z), z_columns=z_columns)
    return probe, {**base, **score, "status": "fitted", "n_train": int(rows.sum()), "converged": converged}


def null_directions(x: np.ndarray, fam: str, draws: int, config: ProbeConfig, seed: Any = 0) -> np.ndarray:
    """(draws, D) unit raw-space directions of ``fam`` probes fitted on random labels over x (R, D) (module docstring)."""
    if fam not in FAMILIES:
        raise ProbeError(f"unknown probe family {fam!r}; valid: {', '.join(FAMILIES)}")
    rng = np.random.default_rng(seed)
    if len(x) > NULL_ROWS:
        x = x[np.sort(rng.choice(len(x), NULL_ROWS, replace=False))]
    scaler = StandardScaler().fit(x)
    if fam == "logistic":  # the logistic probe's first-order solution on balanced random labels: ridge, alpha = 4 / C
        targets, alpha = rng.choice([-1.0, 1.0], size=(len(x), draws)), 4.0 / config.C
    else:
        targets, alpha = rng.standard_normal((len(x), draws)), config.alpha
    weights = np.atleast_2d(Ridge(alpha=alpha).fit(scaler.transform(x), targets).coef_)  # (draws, D)
    raw = weights / scaler.scale_
    norms = np.linalg.norm(raw, axis=1, keepdims=True)
    return raw / np.where(norms > 0, norms, 1.0)
