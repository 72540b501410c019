"""Checks of a user's PettingZoo env and concept function, each error naming the problem and the fix.

Rules (the adapter refuses, before any work, what it cannot carry faithfully):
- the entry point must return a ``ParallelEnv``: an ``AECEnv`` is refused with the two fixes
  (PettingZoo's ``aec_to_parallel``, or the package's ``parallel_env`` entry point);
- every agent's action space is ``Discrete`` with the same size and ``start`` 0 (the batched face
  has one action set); continuous actions are refused (MPE: ``continuous_actions=False``);
- every agent's observation space is a ``Box`` (flattened into a vector); others are refused;
- concepts come back as (N, D) or (D,) finite numbers that fit their kind: binary 0/1, categorical
  a class index, scalar in [low, high], position both coordinates in [0, 1] or both ``ABSENT``.
  The error names the first concept that does not fit, the value and what was expected.
- event counts come back as (N, E) integers in 0..255.

Kind and range checks run once over the whole batch of K envs (one pass over a (K, N, D) array),
not per env, so they cost next to nothing beside the envs' own steps.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import AECEnv

from envs.config import ConfigError
from envs.spec import ABSENT, ConceptKind, ConceptSet


class AdapterError(ValueError):
    """The user's env or functions break one of the adapter's rules (module docstring)."""


def check_parallel(env: Any, entry_point: str) -> None:
    """AdapterError unless ``env`` is a PettingZoo ParallelEnv."""
    if isinstance(env, AECEnv):
        raise AdapterError(
            f"entry_point={entry_point!r} returned an AEC env ({type(env).__name__}); the adapter needs a ParallelEnv. "
            "Name the package's parallel entry point (e.g. mpe2.simple_spread_v3:parallel_env), or wrap it with "
            "pettingzoo.utils.conversions.aec_to_parallel in a function of your own and name that"
        )
    missing = [name for name in ("reset", "step", "possible_agents", "action_space", "observation_space") if not hasattr(env, name)]
    if missing:
        raise AdapterError(
            f"entry_point={entry_point!r} returned {type(env).__name__}, not a PettingZoo ParallelEnv (it lacks {', '.join(missing)})"
        )


def check_actions(env: Any, agents: tuple[str, ...]) -> int:
    """The shared number of discrete actions; AdapterError naming the agent whose space does not fit."""
    sizes = set()
    for agent in agents:
        space = env.action_space(agent)
        if not isinstance(space, spaces.Discrete) or int(space.start) != 0:
            raise AdapterError(
                f"{agent}'s action space is {space}; the adapter supports Discrete(n) action spaces starting at 0 only "
                "(MPE: pass continuous_actions: false in env_kwargs)"
            )
        sizes.add(int(space.n))
    if len(sizes) != 1:
        raise AdapterError(f"agents have different numbers of actions {sorted(sizes)}; the adapter needs one Discrete(n) for all")
    return sizes.pop()


def observation_bounds(env: Any, agents: tuple[str, ...], obs_range: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) per value of the padded observation vector (D,), from ``obs_range`` or the Boxes."""
    boxes = []
    for agent in agents:
        space = env.observation_space(agent)
        if not isinstance(space, spaces.Box):
            raise AdapterError(f"{agent}'s observation space is {space}; the adapter supports Box observations only")
        boxes.append(space)
    width = max(int(np.prod(b.shape)) for b in boxes)
    if obs_range:
        return np.full(width, obs_range[0], np.float64), np.full(width, obs_range[1], np.float64)
    low, high = np.full(width, np.inf), np.full(width, -np.inf)
    for box in boxes:
        n = int(np.prod(box.shape))
        low[:n] = np.minimum(low[:n], box.low.reshape(-1))
        high[:n] = np.maximum(high[:n], box.high.reshape(-1))
    if not (np.isfinite(low).all() and np.isfinite(high).all()):
        raise ConfigError(
            f"the observation Box of {agents[0]} is unbounded ({boxes[0]}); set obs_range: [low, high] in the env config "
            "(the range quantised into uint8 codes, values outside are clipped), e.g. [-3, 3] for MPE"
        )
    return low, np.maximum(high, low + 1e-9)


class ConceptChecker:
    """Checks concept arrays against a ConceptSet's gt layout (module docstring), vectorised over slots."""

    def __init__(self, concepts: ConceptSet) -> None:
        self.concepts = concepts
        owners, kinds, low, high = [], [], [], []
        for spec in concepts.specs:
            for _ in range(spec.gt_width):
                owners.append(spec.name)
                kinds.append(spec.kind)
                top = len(spec.classes) - 1 if spec.kind is ConceptKind.CATEGORICAL else spec.high
                low.append(spec.low if spec.kind is ConceptKind.SCALAR else 0.0)
                high.append(top if spec.kind in (ConceptKind.SCALAR, ConceptKind.CATEGORICAL) else 1.0)
        self.names = owners
        self.kinds = kinds
        self.low, self.high = np.array(low), np.array(high)
        self.integral = np.array([k in (ConceptKind.BINARY, ConceptKind.CATEGORICAL) for k in kinds])
        self.position = np.array([k is ConceptKind.POSITION for k in kinds])

    def shaped(self, values: Any, num_agents: int, where: str, num_envs: int | None = None) -> np.ndarray:
        """``values`` as (N, D) float32 (or (K, N, D) for a batch of ``num_envs``); AdapterError naming the expected
        shape when it is not (N, D) or (D,) (for a batch: (K, N, D) or (K, D))."""
        array = np.asarray(values, dtype=np.float32)
        d = self.concepts.gt_dim
        lead = () if num_envs is None else (num_envs,)
        if array.shape == (*lead, d):
            array = np.broadcast_to(array[..., None, :], (*lead, num_agents, d))
        if array.shape != (*lead, num_agents, d):
            expected = f"({num_agents}, {d}) or ({d},)" if num_envs is None else f"({num_envs}, {num_agents}, {d}) or ({num_envs}, {d})"
            per = "one row per agent" if num_envs is None else "one row per env (in slot order) and agent"
            raise AdapterError(
                f"{where} returned shape {array.shape}; expected {expected}: {per} of the "
                f"declared concepts' ground-truth slots ({', '.join(self.concepts.names)}; positions take 2)"
            )
        return array

    def check(self, values: np.ndarray, where: str) -> None:
        """AdapterError naming the first concept whose value (..., D) does not fit its kind."""
        flat = values.reshape(-1, values.shape[-1])
        absent = self.position & (flat == ABSENT)
        bad = ~np.isfinite(flat) | (flat < self.low) | (flat > self.high) | (self.integral & (flat != np.round(flat)))
        bad &= ~absent
        if self.position.any():  # an absent position is absent in both coordinates
            pairs = absent[:, self.position].reshape(len(flat), -1, 2)
            half = (pairs[..., 0] != pairs[..., 1]).repeat(2, axis=1)
            bad[:, self.position] |= half
        if not bad.any():
            return
        row, slot = np.argwhere(bad)[0]
        raise AdapterError(f"{where}: concept {self.names[slot]} = {float(flat[row, slot]):g} {self._expected(slot)}")

    def _expected(self, slot: int) -> str:
        spec = self.concepts[self.names[slot]]
        if spec.kind is ConceptKind.BINARY:
            return "is not binary; expected 0 or 1"
        if spec.kind is ConceptKind.CATEGORICAL:
            return f"is not a class index; expected an integer in 0..{len(spec.classes) - 1} ({', '.join(spec.classes)})"
        if spec.kind is ConceptKind.SCALAR:
            return f"is outside the declared range; expected a number in [{spec.low}, {spec.high}]"
        return f"is not a position coordinate; expected x and y in [0, 1], or both {ABSENT} when absent"


def event_array(values: Any, shape: tuple[int, ...], where: str) -> np.ndarray:
    """``values`` as an array of ``shape``: (N, E) from one env, (K, N, E) from a batch; AdapterError naming it otherwise."""
    array = np.asarray(values)
    if array.shape != shape:
        per = "a row per agent, a column per event" if len(shape) == 2 else "per env (in slot order) a row per agent, a column per event"
        raise AdapterError(f"{where} returned shape {array.shape}; expected ({', '.join(map(str, shape))}): {per}")
    return array


def check_events(counts: np.ndarray, where: str) -> np.ndarray:
    """The event counts (K, N, E) of K envs as uint8; AdapterError naming an env's counts when one is not an integer in 0..255."""
    fits = np.isfinite(counts) & (counts == np.round(counts)) & (counts >= 0) & (counts <= 255)
    if not fits.all():
        bad = counts[np.argwhere(~fits)[0][0]]
        raise AdapterError(f"{where} returned {bad.tolist()}; event counts must be integers in 0..255")
    return counts.astype(np.uint8)
