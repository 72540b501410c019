"""Tiny PettingZoo envs and user functions for the adapter's tests, each breaking one rule on demand.

``Line``: two agents on a line of 7 cells, actions stay/left/right, observation each agent's own
cell and the other's (a bounded Box), reward +1 for standing on the goal cell 6. Options make it
break the adapter's rules: ``continuous`` (Box actions), ``dict_obs`` (a Dict observation space),
``leave_at`` (agent_1 terminates alone at that step), ``truncate_at`` (the env truncates itself),
``terminate_at`` (both terminate). ``aec`` returns it through ``parallel_to_aec``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv
from pettingzoo.utils.conversions import parallel_to_aec

from envs.pettingzoo import Declaration
from envs.spec import ConceptSpec

CELLS = 7


class Line(ParallelEnv):
    metadata = {"name": "line_v0"}  # noqa: RUF012

    def __init__(
        self, continuous: bool = False, dict_obs: bool = False, leave_at: int = 0, truncate_at: int = 0, terminate_at: int = 0
    ) -> None:
        self.possible_agents = ["agent_0", "agent_1"]
        self.agents: list[str] = []
        self.leave_at, self.truncate_at, self.terminate_at = leave_at, truncate_at, terminate_at
        act = spaces.Box(-1, 1, (1,)) if continuous else spaces.Discrete(3)
        obs = spaces.Dict({"x": spaces.Discrete(CELLS)}) if dict_obs else spaces.Box(0, CELLS - 1, (2,), np.float32)
        self._act, self._obs = act, obs
        self.pos = np.zeros(2, int)
        self.t = 0

    def action_space(self, agent: str) -> spaces.Space:
        return self._act

    def observation_space(self, agent: str) -> spaces.Space:
        return self._obs

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        self.rng = np.random.default_rng(seed)
        self.pos = self.rng.integers(0, CELLS, 2)
        self.t = 0
        self.agents = list(self.possible_agents)
        return self._observe(), {a: {} for a in self.agents}

    def step(self, actions: dict[str, int]) -> tuple[dict, dict, dict, dict, dict]:
        self.t += 1
        moves = np.array([actions[a] for a in self.possible_agents]) - 1
        self.pos = np.clip(self.pos + moves, 0, CELLS - 1)
        rewards = {a: float(self.pos[i] == CELLS - 1) for i, a in enumerate(self.possible_agents)}
        term = {a: self.t == self.terminate_at for a in self.agents}
        trunc = {a: self.t == self.truncate_at for a in self.agents}
        if self.t == self.leave_at:
            term["agent_1"] = True
        obs = self._observe()
        self.agents = [a for a in self.agents if not (term[a] or trunc[a])]
        return obs, rewards, term, trunc, {a: {} for a in self.possible_agents}

    def _observe(self) -> dict[str, np.ndarray]:
        return {a: np.array([self.pos[i], self.pos[1 - i]], np.float32) for i, a in enumerate(self.possible_agents)}


def line(**kwargs: Any) -> Line:
    return Line(**kwargs)


def line_aec(**kwargs: Any) -> Any:
    return parallel_to_aec(Line(**kwargs))


def declare(env: Line) -> Declaration:
    specs = [ConceptSpec(a, "position", "position") for a in env.possible_agents]
    specs += [ConceptSpec(a, "on_goal", "binary") for a in env.possible_agents]
    specs += [ConceptSpec("env", "leader", "categorical", classes=("tie", "agent_0", "agent_1"))]
    return Declaration(concepts=tuple(specs), events=("on_goal",), grid=(2, CELLS))


def concepts(env: Line) -> np.ndarray:
    x = env.pos / (CELLS - 1)
    leader = 0 if env.pos[0] == env.pos[1] else 1 + int(env.pos[1] > env.pos[0])
    return np.array([x[0], 0.0, x[1], 0.0, *(env.pos == CELLS - 1), leader], np.float32)


def events(env: Line) -> np.ndarray:
    return (env.pos == CELLS - 1).astype(np.uint8)[:, None]


def concepts_batch(envs: list[Line]) -> np.ndarray:
    return np.stack([concepts(env) for env in envs])


def events_batch(envs: list[Line]) -> np.ndarray:
    return np.stack([events(env) for env in envs])


def concepts_batch_wrong_shape(envs: list[Line]) -> np.ndarray:
    return concepts_batch(envs)[:, :-1]


def events_batch_one_env(envs: list[Line]) -> np.ndarray:
    return events(envs[0])


def concepts_wrong_shape(env: Line) -> np.ndarray:
    return concepts(env)[:-1]


def concepts_not_binary(env: Line) -> np.ndarray:
    values = concepts(env)
    values[4] = 2.0
    return values


def concepts_bad_class(env: Line) -> np.ndarray:
    values = concepts(env)
    values[6] = 3.0
    return values


def concepts_half_absent(env: Line) -> np.ndarray:
    values = concepts(env)
    values[0] = -1.0
    return values


def events_wrong_shape(env: Line) -> np.ndarray:
    return np.zeros((2, 3), np.uint8)


def events_out_of_range(env: Line) -> np.ndarray:
    return events(env).astype(int) + 256 * (env.t == 2)  # 256 or 257 at step 2: a uint8 cast would wrap it silently


def declare_nothing(env: Line) -> dict:
    return {}


def declare_no_events(env: Line) -> Declaration:
    return Declaration(concepts=declare(env).concepts)
