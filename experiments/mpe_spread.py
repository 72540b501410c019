"""Worked example of the PettingZoo adapter: MPE simple_spread (``mpe2``), N agents cover N landmarks.

Train on it with ``ethogram train --config experiments/train_mpe_spread.yaml``; record with
``ethogram rollout --env pettingzoo --set entry_point=experiments.mpe_spread:parallel_env ...``
(the YAML's ``env_config`` lists every field). The adapter's config names the functions below:
``declare`` (concepts and events), ``concepts_batch`` and ``events_batch`` (``vectorised: true``),
or their one-env forms ``concepts`` and ``events`` (the same values; ``vectorised: false``).

The env is mpe2's own simple_spread, entered by ``parallel_env`` here: a ParallelEnv over mpe2's
``raw_env`` (its AEC env) that steps the agents in turn and observes each once per step. mpe2's
``simple_spread_v3.parallel_env`` is PettingZoo's generic ``aec_to_parallel`` over the same raw
env, which also computes an observation before every agent's move and throws it away, through two
wrappers; this costs ~40% of an env step. Both give the same observations, rewards, episode ends
and seeding step for step (tests/envs/test_adapter.py); either entry point works.

Concepts are read from the env's internal world (``env.unwrapped.world``: each entity's
``state.p_pos``), not from ``state()``: the world holds exact positions under names, while
``state()`` is the agents' observations concatenated, whose layout (relative positions, the
neighbour options) would have to be decoded again. Every agent gets the same concept vector. The
batch forms gather the K worlds' positions into one (K, N + L, 2) array and compute everything
in numpy over it (a handful of calls per batch instead of ~20 small ones per env).

- ``agent_i.position``, ``landmark_j.position`` (position): a coordinate p (MPE units; landmarks
  start in [-1, 1], agents wander) maps to (p + EXTENT) / (2 * EXTENT), clipped to [0, 1]; x is
  the first coordinate, y the second, upward in MPE and downward in ethogram's picture. The grid
  (``GRID`` cells a side) makes a cell 0.1 units, MPE's capture radius, so position errors read in
  capture radii.
- ``landmark_j.covered_by`` (categorical ``none``, ``agent_0``..): the nearest agent within
  ``CAPTURE_RADIUS`` of the landmark (MPE's own success test), ``none`` when there is none.
- ``agent_i.colliding`` (binary): the agent overlaps another (MPE's ``is_collision``: distance
  below the sum of the sizes), which is what its collision penalty counts.

Events per agent and step: ``collided`` (the agent overlaps another after the step) and
``covering`` (it is the agent covering some landmark).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from envs.pettingzoo import Declaration
from envs.spec import ConceptSpec

EXTENT = 1.5
"""Half-width (MPE units) of the square that position concepts cover, centred on the origin."""
GRID = 31
"""Cells a side of that square: 3 units / 30 steps = 0.1 units (the capture radius) a cell."""
CAPTURE_RADIUS = 0.1
"""MPE simple_spread's distance at which an agent covers a landmark."""
ENV_CONFIG: dict[str, Any] = {
    "entry_point": "experiments.mpe_spread:parallel_env",
    "env_kwargs": {"N": 3, "max_cycles": 25, "continuous_actions": False},
    "declare": "experiments.mpe_spread:declare",
    "concepts": "experiments.mpe_spread:concepts_batch",
    "events": "experiments.mpe_spread:events_batch",
    "vectorised": True,
    "horizon": 25,
    "obs_range": [-3.0, 3.0],
    "action_names": ["no_action", "move_left", "move_right", "move_down", "move_up"],
}
"""The adapter config of a 3-agent simple_spread (``envs.make_batched("pettingzoo", ENV_CONFIG)``)."""


class SpreadParallelEnv(ParallelEnv):
    """mpe2's simple_spread as a ParallelEnv: its raw AEC env stepped agent by agent (module docstring).

    What PettingZoo's ``aec_to_parallel`` returns, less the discarded observations: the agents move
    in their AEC order, rewards are summed over the cycle's moves, and agents that ended are stepped
    out with ``None`` after the observations are taken. An action outside ``Discrete(n)`` is a
    ValueError (mpe2's raw env would wrap it).
    """

    metadata = {"name": "simple_spread_v3", "is_parallelizable": True}  # noqa: RUF012

    def __init__(self, **kwargs: Any) -> None:
        from mpe2 import simple_spread_v3

        self.aec = simple_spread_v3.raw_env(**kwargs)
        self.possible_agents: list[str] = list(self.aec.possible_agents)
        self.agents: list[str] = []
        self.render_mode = self.aec.render_mode
        sizes = {space.n for space in map(self.aec.action_space, self.possible_agents) if isinstance(space, spaces.Discrete)}
        self._num_actions = sizes.pop() if len(sizes) == 1 else None  # None: continuous actions, passed through unchecked

    def observation_space(self, agent: str) -> spaces.Space:
        return self.aec.observation_space(agent)

    def action_space(self, agent: str) -> spaces.Space:
        return self.aec.action_space(agent)

    @property
    def unwrapped(self) -> Any:
        return self.aec

    def state(self) -> np.ndarray:
        return self.aec.state()

    def render(self) -> Any:
        return self.aec.render()

    def close(self) -> None:
        self.aec.close()

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        aec = self.aec
        aec.reset(seed=seed, options=options)
        self.agents = aec.agents[:]
        return {a: aec.observe(a) for a in aec.agents}, dict(aec.infos)

    def step(self, actions: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        aec, rewards = self.aec, dict.fromkeys(self.agents, 0.0)
        for agent in aec.agents:
            if agent != aec.agent_selection:
                raise AssertionError(f"expected agent {agent}, got {aec.agent_selection}: simple_spread's agents move in a cycle")
            action = actions[agent]
            if self._num_actions is not None and not 0 <= action < self._num_actions:
                raise ValueError(f"{agent}'s action {action} is outside Discrete({self._num_actions})")
            aec.step(action)
            for a in aec.agents:
                rewards[a] += aec.rewards[a]
        terminations, truncations, infos = dict(aec.terminations), dict(aec.truncations), dict(aec.infos)
        observations = {a: aec.observe(a) for a in aec.agents}
        while aec.agents and (aec.terminations[aec.agent_selection] or aec.truncations[aec.agent_selection]):
            aec.step(None)
        self.agents = aec.agents[:]
        return observations, rewards, terminations, truncations, infos


def parallel_env(**kwargs: Any) -> SpreadParallelEnv:
    """simple_spread as a ParallelEnv (``SpreadParallelEnv``); ``kwargs`` are ``mpe2.simple_spread_v3.raw_env``'s."""
    return SpreadParallelEnv(**kwargs)


def _world(env: Any) -> Any:
    return env.unwrapped.world


def declare(env: Any) -> Declaration:
    """The concepts and events of ``env`` (a reset simple_spread ParallelEnv), sized by its world."""
    world = _world(env)
    agents = [a.name for a in world.agents]
    landmarks = [f"landmark_{j}" for j in range(len(world.landmarks))]
    specs = [ConceptSpec(a, "position", "position", description=f"(p + {EXTENT}) / {2 * EXTENT}, clipped") for a in agents]
    specs += [ConceptSpec(lm, "position", "position", description=f"(p + {EXTENT}) / {2 * EXTENT}, clipped") for lm in landmarks]
    classes = ("none", *agents)
    specs += [ConceptSpec(lm, "covered_by", "categorical", classes=classes, description="nearest agent within 0.1") for lm in landmarks]
    specs += [ConceptSpec(a, "colliding", "binary", description="overlaps another agent") for a in agents]
    return Declaration(concepts=tuple(specs), events=("collided", "covering"), grid=(GRID, GRID), team_reward="mean")


def _state(envs: list[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Agent positions (K, N, 2), landmark positions (K, L, 2), agent sizes (K, N) of K envs."""
    worlds = [_world(env) for env in envs]
    n = len(worlds[0].agents)
    positions = np.array([[e.state.p_pos for e in (*w.agents, *w.landmarks)] for w in worlds], dtype=np.float64)  # (K, N + L, 2)
    return positions[:, :n], positions[:, n:], np.array([[a.size for a in w.agents] for w in worlds], dtype=np.float64)


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances (K, A, B) between a (K, A, 2) and b (K, B, 2) (``np.linalg.norm``'s sum of squares, bit for bit)."""
    delta = a[:, :, None] - b[:, None]
    return np.sqrt((delta * delta).sum(axis=-1))


def _cover_and_collide(agents: np.ndarray, landmarks: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per landmark the covering agent's index or -1 (K, L); per agent whether it collides (K, N)."""
    dist = _distances(landmarks, agents)  # (K, L, N)
    covered_by = np.where(dist.min(axis=-1) < CAPTURE_RADIUS, dist.argmin(axis=-1), -1)
    touching = _distances(agents, agents) < sizes[:, :, None] + sizes[:, None]  # (K, N, N)
    touching[:, np.eye(agents.shape[1], dtype=bool)] = False
    return covered_by, touching.any(axis=-1)


def concepts_batch(envs: list[Any]) -> np.ndarray:
    """The ground-truth concept vectors (K, D) of K envs, the same for every agent (declaration's gt layout)."""
    agents, landmarks, sizes = _state(envs)
    covered_by, colliding = _cover_and_collide(agents, landmarks, sizes)
    positions = np.clip((np.concatenate([agents, landmarks], axis=1) + EXTENT) / (2 * EXTENT), 0.0, 1.0)
    return np.concatenate([positions.reshape(len(envs), -1), covered_by + 1.0, colliding.astype(np.float64)], axis=1)


def events_batch(envs: list[Any]) -> np.ndarray:
    """Event counts (K, N, 2) of K envs after a step: ``collided``, ``covering``."""
    agents, landmarks, sizes = _state(envs)
    covered_by, colliding = _cover_and_collide(agents, landmarks, sizes)
    covering = (covered_by[:, :, None] == np.arange(agents.shape[1])).any(axis=1)  # (K, N)
    return np.stack([colliding, covering], axis=-1).astype(np.uint8)


def concepts(env: Any) -> np.ndarray:
    """The ground-truth concept vector (D,) of one env (``concepts_batch`` of one)."""
    return concepts_batch([env])[0]


def events(env: Any) -> np.ndarray:
    """Event counts (N, 2) of one env after a step (``events_batch`` of one)."""
    return events_batch([env])[0]
