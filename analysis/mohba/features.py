"""Per-agent step features for the MOHBA analyser, from recorded episodes or windows.

Place in the analysis: **features** → model → fit → encode → cluster → saved → describe → write,
the first stage. Takes episodes (``analysis.dataset``); gives per-step features, standardised
windows of them (``WindowTensors``) and the ``Standardiser`` that scaled them.

The analyser works from compact features by default (docs/design.md, 'The trajectory dataset'): for
agent i at step t the feature vector is

    [ concepts of the world as agent i sees them | events of agent i after step t-1 | one-hot action of i at t-1 ]

(dataset row semantics: concepts at t are seen *before* acting, events at t *follow* action a_t, so
the decoder p(a_t | o_t, z) is given the events of step t-1, never those its action caused).

Rules:
- Concepts are expanded from the ground-truth layout (``envs.spec``): binary → 1 column, scalar →
  scaled to [0, 1] with its ``low``/``high``, categorical → one-hot over its classes, position →
  2 columns (x, y in [0, 1], ``ABSENT`` = -1 kept as is).
- ``egocentric`` (default): concepts owned by agents are re-ordered per viewer so that the viewer's
  own concepts come first, then its teammates in cyclic order (i+1, i+2, ...), then objects. This
  gives the shared per-agent encoder the same view of "me" whatever the agent's index; it needs
  every agent to own the same attributes, otherwise the absolute order is kept.
- The previous action at t = 0 of an episode is a separate "none" class (column ``prev.none``).
- Raw observations (``include_obs``) are optional: the (H, W, C) uint8 view is flattened and
  scaled by ``ObservationLayout.high``; they are large, so off by default.
- Standardisation (z-score per column over the valid training steps) is fitted once and stored
  in the JSON config next to the weights, so a loaded model sees features scaled the same way.

Windows are cut with ``Episodes.windows(length, stride)`` (its ``episode_index`` and ``start``)
from features computed over whole episodes, so a window's first previous action is the true one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from envs.config import check_range
from envs.spec import ConceptKind, ConceptSet, EnvSpec


@dataclass(frozen=True)
class FeatureConfig:
    """Which per-agent step features the analyser builds."""

    concepts: bool = True
    """Include ground-truth concepts (expanded, see the module docstring)."""
    events: bool = True
    """Include the agent's event counts of the previous step (zeros at t = 0)."""
    prev_action: bool = True
    """Include the one-hot previous action (plus a ``none`` class at t = 0)."""
    include_obs: bool = False
    """Include the flattened raw observation (large; needs ``obs`` loaded)."""
    egocentric: bool = True
    """Put the viewer's own agent concepts first, then teammates in cyclic order."""
    teammates: bool = True
    """Include the teammates' agent concepts (egocentric only; False keeps the viewer's own and the objects')."""
    window: int = 32
    """Window length L in steps."""
    stride: int = 16
    """Steps between the starts of consecutive windows."""

    def __post_init__(self) -> None:
        check_range("window", self.window, 2)
        check_range("stride", self.stride, 1)
        if not (self.concepts or self.events or self.prev_action or self.include_obs):
            raise ValueError("features need at least one of concepts, events, prev_action, include_obs")

    @property
    def fields(self) -> tuple[str, ...]:
        """Dataset fields to load for these features."""
        out = ["actions", "rewards", "concepts", "events"]
        if self.include_obs:
            out.append("obs")
        return tuple(out)


@dataclass(frozen=True)
class WindowTensors:
    """Model-ready arrays for W windows of L steps and N agents (numpy; the trainer makes tensors)."""

    features: np.ndarray
    """(W, L, N, F) float32 — standardised step features."""
    actions: np.ndarray
    """(W, L, N) int64 — action taken at each step (the decoder's target)."""
    mask: np.ndarray
    """(W, L) bool — valid steps."""
    raw: np.ndarray
    """(W, L, N, F) float32 — the same features before standardisation (for profiles)."""
    episode_index: np.ndarray
    """(W,) int64 — episode of each window in the source Episodes."""
    start: np.ndarray
    """(W,) int64 — first step of each window."""
    rewards: np.ndarray
    """(W, L, N) float32 — rewards (labels such as team return)."""

    def __len__(self) -> int:
        return int(self.features.shape[0])

    def subset(self, index: np.ndarray) -> WindowTensors:
        """The windows at ``index`` (an int or bool array)."""
        return WindowTensors(**{k: getattr(self, k)[index] for k in self.__dataclass_fields__})


def _concept_columns(concepts: ConceptSet) -> list[tuple[str, str, int, int, Any]]:
    """One entry per spec: (owner, column base name, gt slot, width, spec)."""
    out = []
    for spec in concepts.specs:
        sl = concepts.gt_slices[spec.name]
        width = len(spec.classes) if spec.kind is ConceptKind.CATEGORICAL else sl.stop - sl.start
        out.append((spec.owner, spec.attr, sl.start, width, spec))
    return out


def expand_concepts(values: np.ndarray, concepts: ConceptSet) -> tuple[np.ndarray, list[str]]:
    """Ground-truth concepts (..., D) → expanded columns (..., C) float32 and their names."""
    cols, names = [], []
    for owner, attr, start, _width, spec in _concept_columns(concepts):
        base = f"{owner}.{attr}"
        v = values[..., start]
        if spec.kind is ConceptKind.CATEGORICAL:
            idx = np.clip(np.rint(v).astype(np.int64), 0, len(spec.classes) - 1)
            cols.append(np.eye(len(spec.classes), dtype=np.float32)[idx])
            names += [f"{base}={c}" for c in spec.classes]
        elif spec.kind is ConceptKind.POSITION:
            cols.append(values[..., start : start + 2].astype(np.float32))
            names += [f"{base}.x", f"{base}.y"]
        elif spec.kind is ConceptKind.SCALAR:
            span = max(spec.high - spec.low, 1e-8)
            cols.append(((v - spec.low) / span).astype(np.float32)[..., None])
            names.append(base)
        else:
            cols.append(v.astype(np.float32)[..., None])
            names.append(base)
    return np.concatenate(cols, axis=-1), names


def _egocentric_order(names: list[str], agents: tuple[str, ...]) -> tuple[np.ndarray, list[str]] | None:
    """(N, C) column permutation putting the viewer's concepts first, and the relabelled names.

    None when agents do not all own the same attributes (then the absolute order is kept).
    """
    n = len(agents)
    owner_of = [nm.split(".", 1)[0] for nm in names]
    rest_of = [nm.split(".", 1)[1] for nm in names]
    per_agent = [[c for c in range(len(names)) if owner_of[c] == a] for a in agents]
    attrs = [[rest_of[c] for c in cols] for cols in per_agent]
    if any(a != attrs[0] for a in attrs):
        return None
    objects = [c for c in range(len(names)) if owner_of[c] not in agents]
    order = np.empty((n, len(names)), dtype=np.int64)
    for i in range(n):
        cols = [c for k in range(n) for c in per_agent[(i + k) % n]] + objects
        order[i] = cols
    labels = [f"{'self' if k == 0 else f'mate{k}'}.{r}" for k in range(n) for r in attrs[0]]
    labels += [names[c] for c in objects]
    return order, labels


def feature_names(spec: EnvSpec, config: FeatureConfig) -> list[str]:
    """Column names of ``step_features`` for this env (same order)."""
    zero = np.zeros((1, 1, spec.num_agents, spec.concepts.gt_dim), dtype=np.float32)
    _, names = _concept_block(zero, spec, config)
    names = list(names) if config.concepts else []
    if config.events:
        names += [f"prev_event.{e}" for e in spec.event_names]
    if config.prev_action:
        names += [f"prev.{a}" for a in spec.action_names] + ["prev.none"]
    if config.include_obs:
        names += [f"obs.{i}" for i in range(int(np.prod(spec.observation.shape)))]
    return names


def _concept_block(concepts: np.ndarray, spec: EnvSpec, config: FeatureConfig) -> tuple[np.ndarray, list[str]]:
    """(B, T, N, D) gt concepts → (B, T, N, C) expanded, per-viewer ordered, and names."""
    cols, names = expand_concepts(concepts, spec.concepts)
    if not config.egocentric:
        return cols, names
    ego = _egocentric_order(names, spec.agents)
    if ego is None:
        return cols, names
    order, labels = ego
    if not config.teammates:
        keep = [i for i, name in enumerate(labels) if not name.startswith("mate")]
        order, labels = order[:, keep], [labels[i] for i in keep]
    out = np.take_along_axis(cols, order[None, None], axis=-1)
    return out, labels


def step_features(
    spec: EnvSpec,
    actions: np.ndarray,
    concepts: np.ndarray | None,
    events: np.ndarray | None,
    config: FeatureConfig,
    obs: np.ndarray | None = None,
) -> np.ndarray:
    """Unstandardised features (B, T, N, F) float32 from arrays shaped (B, T, N, ...).

    ``actions`` (B, T, N) are the actions taken at each step; the previous-action column at t uses
    ``actions[:, t-1]`` and the ``none`` class at t = 0; the event columns at t are ``events[:, t-1]``.
    """
    b, t, n = actions.shape
    parts = []
    if config.concepts:
        if concepts is None:
            raise ValueError("concept features need the 'concepts' field; load it or set concepts=False")
        parts.append(_concept_block(concepts, spec, config)[0])
    if config.events:
        if events is None:
            raise ValueError("event features need the 'events' field; load it or set events=False")
        prev_events = np.zeros(events.shape, dtype=np.float32)
        prev_events[:, 1:] = events[:, :-1]
        parts.append(prev_events)
    if config.prev_action:
        num_actions = len(spec.action_names)
        prev = np.full((b, t, n), num_actions, dtype=np.int64)
        prev[:, 1:] = np.clip(actions[:, :-1], 0, num_actions - 1)
        parts.append(np.eye(num_actions + 1, dtype=np.float32)[prev])
    if config.include_obs:
        if obs is None:
            raise ValueError("include_obs needs the 'obs' field loaded (it is None)")
        parts.append(obs.reshape(b, t, n, -1).astype(np.float32) / max(spec.observation.high, 1))
    return np.concatenate(parts, axis=-1)


@dataclass(frozen=True)
class Standardiser:
    """Per-column z-score fitted on valid steps; serialised with the model."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def fit(cls, features: np.ndarray, mask: np.ndarray) -> Standardiser:
        """Fit on ``features`` (B, T, N, F) at the steps where ``mask`` (B, T) is true."""
        rows = features[mask].reshape(-1, features.shape[-1]).astype(np.float64)
        if rows.shape[0] == 0:
            raise ValueError("no valid steps to fit the feature standardiser on")
        std = rows.std(axis=0)
        std = np.where(std < 1e-6, 1.0, std)
        return cls(tuple(rows.mean(axis=0).tolist()), tuple(std.tolist()))

    def __call__(self, features: np.ndarray) -> np.ndarray:
        mean = np.asarray(self.mean, dtype=np.float32)
        std = np.asarray(self.std, dtype=np.float32)
        return ((features - mean) / std).astype(np.float32)


def gather_windows(array: np.ndarray, episode_index: np.ndarray, start: np.ndarray, length: int, fill: float = 0) -> np.ndarray:
    """Cut (W, L, ...) windows from an episode array (E, T, ...); steps past T are ``fill``."""
    t_max = array.shape[1]
    steps = start[:, None] + np.arange(length)[None, :]  # (W, L)
    inside = steps < t_max
    out = array[episode_index[:, None], np.minimum(steps, t_max - 1)]
    if not inside.all():
        out = out.copy()
        out[~inside] = fill
    return out


def episode_step_features(episodes: Any, config: FeatureConfig) -> np.ndarray:
    """Unstandardised features (E, T, N, F) of a loaded ``analysis.dataset.Episodes``."""
    return step_features(
        episodes.spec,
        np.asarray(episodes.actions),
        getattr(episodes, "concepts", None),
        getattr(episodes, "events", None),
        config,
        obs=getattr(episodes, "obs", None),
    )


def make_windows(
    episodes: Any, config: FeatureConfig, standardiser: Standardiser | None = None, index_source: Any = None
) -> tuple[WindowTensors, Standardiser]:
    """Windows of ``episodes`` as model-ready arrays, and the standardiser used (fitted if None).

    The window positions come from ``index_source.windows(L, stride)`` (default ``episodes``; pass
    the same episodes without their big fields to avoid cutting them twice).
    """
    raw_eps = episode_step_features(episodes, config)
    index = (index_source if index_source is not None else episodes).windows(config.window, config.stride)
    ep, start = np.asarray(index.episode_index, dtype=np.int64), np.asarray(index.start, dtype=np.int64)
    if ep.size == 0:
        raise ValueError(f"no windows of length {config.window}: episodes are shorter; lower --window")
    mask = gather_windows(np.asarray(episodes.mask, dtype=bool), ep, start, config.window, fill=False)
    raw = gather_windows(raw_eps, ep, start, config.window)
    if standardiser is None:
        standardiser = Standardiser.fit(raw, mask)
    actions = gather_windows(np.asarray(episodes.actions, dtype=np.int64), ep, start, config.window)
    rewards = gather_windows(np.asarray(episodes.rewards, dtype=np.float32), ep, start, config.window)
    feats = standardiser(raw) * mask[:, :, None, None]
    return WindowTensors(feats, actions, mask, raw, ep, start, rewards), standardiser
