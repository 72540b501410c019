"""The PettingZoo face of every world: a ``ParallelEnv`` over a BatchedEnv with K = 1.

This is the only place where agents are dict keys (docs/design.md, 'Style', rule 4). Each
agent's info holds ``"concepts"`` (its ground-truth concept vector, ``env.spec.concepts`` gt
layout) and ``"events"`` (its event counts for the step, ``env.spec.event_names``). Spaces are
built once and cached.

``state()`` is the world's global state (``World.global_state`` at K = 1, laid out by
``world.state_layout``; each world's observe module documents its own), in ``state_space``, a
uint8 Box of that one shape for every step; ``render()`` is the picture. The AEC face
(``envs.make_aec``, each world's ``env()``) is this one through PettingZoo's ``parallel_to_aec``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from envs.batched import BatchedEnv, StepOutput, World
from envs.ids import versioned_env_id
from envs.spec import ObservationLayout


class ParallelFacade(ParallelEnv):
    """PettingZoo ParallelEnv over one env of a world (render modes: ``rgb_array``, ``ansi``)."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array", "ansi"], "is_parallelizable": True, "render_fps": 8}

    def __init__(self, world: World, render_mode: str | None = None) -> None:
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"render_mode={render_mode!r} is not allowed; choose one of: None, {', '.join(self.metadata['render_modes'])}")
        self.metadata = {**self.metadata, "name": f"ethogram_{versioned_env_id(world.spec.env_id)}"}
        self.render_mode = render_mode
        self.core = BatchedEnv(world, num_envs=1)
        self.spec = world.spec
        self.possible_agents = list(self.spec.agents)
        self.agents: list[str] = []
        obs_space = _box(self.spec.observation)
        self.state_space = _box(world.state_layout)
        act_space = spaces.Discrete(len(self.spec.action_names))
        self.observation_spaces = {a: obs_space for a in self.possible_agents}
        self.action_spaces = {a: act_space for a in self.possible_agents}
        self._index = {a: i for i, a in enumerate(self.possible_agents)}
        self._actions = np.zeros((1, len(self.possible_agents)), dtype=np.int64)
        self._started = False

    def observation_space(self, agent: str) -> spaces.Box:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Discrete:
        return self.action_spaces[agent]

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        """Start an episode; ``seed`` reseeds, None continues the env's generator (Gymnasium's rule)."""
        out = self.core.reset(seed)
        self._started = True
        self.agents = list(self.possible_agents)
        return self._obs(out), self._infos(out)

    def step(self, actions: dict[str, int]) -> tuple[dict, dict, dict, dict, dict]:
        if not self.agents:
            raise RuntimeError("the episode is over; call reset() before step()")
        missing = [a for a in self.agents if a not in actions]
        if missing:
            raise ValueError(f"missing actions for {missing}; expected one for each of {self.agents}")
        for agent, action in actions.items():
            if agent not in self._index:
                raise ValueError(f"unknown agent {agent!r}; valid: {', '.join(self.possible_agents)}")
            self._actions[0, self._index[agent]] = action
        out = self.core.step(self._actions)
        obs, infos = self._obs(out), self._infos(out)
        rewards = {a: float(r) for a, r in zip(self.agents, out.rewards[0].tolist(), strict=True)}
        term, trunc = bool(out.terminated[0]), bool(out.truncated[0])
        terminations = dict.fromkeys(self.agents, term)
        truncations = dict.fromkeys(self.agents, trunc)
        if term or trunc:
            self.agents = []
        return obs, rewards, terminations, truncations, infos

    def _obs(self, out: StepOutput) -> dict[str, np.ndarray]:
        return dict(zip(self.possible_agents, out.obs[0], strict=True))

    def _infos(self, out: StepOutput) -> dict[str, dict[str, np.ndarray]]:
        return {a: {"concepts": c, "events": e} for a, c, e in zip(self.possible_agents, out.concepts[0], out.events[0], strict=True)}

    def render(self) -> np.ndarray | str | None:
        if self.render_mode == "rgb_array":
            return self.core.render_rgb(0)
        if self.render_mode == "ansi":
            return self.core.render_ascii(0)
        return None

    def state(self) -> np.ndarray:
        """The global state, (H, W, C) uint8 in ``state_space`` (module docstring); channels ``world.state_layout.channels``."""
        if not self._started:
            raise RuntimeError("the env has no state yet; call reset() before state()")
        return self.core.global_state()[0]

    def close(self) -> None:
        pass


def _box(layout: ObservationLayout) -> spaces.Box:
    """The uint8 Box of an observation layout: shape (H, W, C), values in [0, high]."""
    return spaces.Box(low=0, high=layout.high, shape=layout.shape, dtype=np.uint8)
