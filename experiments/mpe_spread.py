"""Worked example of the PettingZoo adapter: MPE simple_spread (``mpe2``), N agents cover N landmarks.

Train on it with ``ethogram train --config experiments/train_mpe_spread.yaml``; record with
``ethogram rollout --env pettingzoo --set entry_point=mpe2.simple_spread_v3:parallel_env ...``
(the YAML's ``env_config`` lists every field). The adapter's config names the three functions
below: ``declare`` (concepts and events), ``concepts`` and ``events``.

Concepts are read from the env's internal world (``env.unwrapped.world``: each entity's
``state.p_pos``), not from ``state()``: the world holds exact positions under names, while
``state()`` is the agents' observations concatenated, whose layout (relative positions, the
neighbour options) would have to be decoded again. Every agent gets the same concept vector.

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

from envs.pettingzoo import Declaration
from envs.spec import ConceptSpec

EXTENT = 1.5
"""Half-width (MPE units) of the square that position concepts cover, centred on the origin."""
GRID = 31
"""Cells a side of that square: 3 units / 30 steps = 0.1 units (the capture radius) a cell."""
CAPTURE_RADIUS = 0.1
"""MPE simple_spread's distance at which an agent covers a landmark."""
ENV_CONFIG: dict[str, Any] = {
    "entry_point": "mpe2.simple_spread_v3:parallel_env",
    "env_kwargs": {"N": 3, "max_cycles": 25, "continuous_actions": False},
    "declare": "experiments.mpe_spread:declare",
    "concepts": "experiments.mpe_spread:concepts",
    "events": "experiments.mpe_spread:events",
    "horizon": 25,
    "obs_range": [-3.0, 3.0],
    "action_names": ["no_action", "move_left", "move_right", "move_down", "move_up"],
}
"""The adapter config of a 3-agent simple_spread (``envs.make_batched("pettingzoo", ENV_CONFIG)``)."""


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


def _state(env: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Agent positions (N, 2), landmark positions (L, 2), agent sizes (N,)."""
    world = _world(env)
    agents = np.array([a.state.p_pos for a in world.agents], dtype=np.float64)
    landmarks = np.array([lm.state.p_pos for lm in world.landmarks], dtype=np.float64)
    return agents, landmarks, np.array([a.size for a in world.agents])


def _cover_and_collide(agents: np.ndarray, landmarks: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per landmark the covering agent's index or -1 (L,); per agent whether it collides (N,)."""
    dist = np.linalg.norm(landmarks[:, None] - agents[None], axis=-1)  # (L, N)
    nearest = dist.argmin(axis=1)
    covered_by = np.where(dist.min(axis=1) < CAPTURE_RADIUS, nearest, -1)
    apart = np.linalg.norm(agents[:, None] - agents[None], axis=-1)  # (N, N)
    touching = apart < sizes[:, None] + sizes[None]
    np.fill_diagonal(touching, False)
    return covered_by, touching.any(axis=1)


def concepts(env: Any) -> np.ndarray:
    """The ground-truth concept vector (D,), the same for every agent (declaration's gt layout)."""
    agents, landmarks, sizes = _state(env)
    covered_by, colliding = _cover_and_collide(agents, landmarks, sizes)
    positions = np.clip((np.concatenate([agents, landmarks]) + EXTENT) / (2 * EXTENT), 0.0, 1.0)
    return np.concatenate([positions.reshape(-1), covered_by + 1.0, colliding.astype(np.float64)])


def events(env: Any) -> np.ndarray:
    """Event counts (N, 2) after a step: ``collided``, ``covering``."""
    agents, landmarks, sizes = _state(env)
    covered_by, colliding = _cover_and_collide(agents, landmarks, sizes)
    covering = np.isin(np.arange(len(agents)), covered_by)
    return np.stack([colliding, covering], axis=1).astype(np.uint8)
