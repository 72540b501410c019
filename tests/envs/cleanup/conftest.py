"""Helpers for Cleanup tests: tiny ASCII scenarios stepped one env at a time."""

from __future__ import annotations

import numpy as np
import pytest

from envs.cleanup import Action, Config, Event, World

A = Action


class Scenario:
    """One env of a tiny map; no random growth or waste unless the config asks for it."""

    def __init__(self, ascii_map: str, num_agents: int = 2, seed: int = 0, **config) -> None:
        config = {"waste_spawn_prob": 0.0, "apple_growth": 0.0, **config}
        self.world = World(Config(map=ascii_map, num_agents=num_agents, **config))
        self.state = self.world.init_state(1)
        self.rng = np.random.default_rng(seed)
        self.world.reset(self.state, np.ones(1, dtype=bool), self.rng)
        self.t = 0

    def place(self, agent: int, row: int, col: int, facing: int = Action.UP) -> None:
        """Put one agent on a free cell."""
        self.world.place_agents(self.state, 0, {agent: (row, col, facing)})

    def put(self, *cells: tuple[int, int] | tuple[int, int, int]) -> None:
        """Put agents 0, 1, ... on these (row, col[, facing]) cells at once."""
        self.world.place_agents(self.state, 0, {i: (c[0], c[1], c[2] if len(c) > 2 else Action.UP) for i, c in enumerate(cells)})

    def step(self, *actions: int) -> tuple[np.ndarray, np.ndarray]:
        """Step with one action per agent; returns rewards (N,) and events (N, E)."""
        acts = np.array([actions], dtype=np.int64)
        rewards, events, _ = self.world.step(self.state, acts, self.rng, np.array([self.t]))
        self.t += 1
        return rewards[0], events[0]

    def cell(self, agent: int) -> tuple[int, int]:
        r, c = self.world.geo.row_col(self.state.pos[0, agent])
        return int(r), int(c)

    def has(self, item: str, row: int, col: int) -> bool:
        ch = {"apple": 1, "waste": 2}[item]
        return bool(self.state.canvas[0, self.world.geo.index(row, col), ch])

    def count(self, item: str) -> int:
        return int((self.world.apples(self.state) if item == "apple" else self.world.waste(self.state)).sum())

    def concept(self, viewer: int, name: str) -> np.ndarray:
        concepts = self.world.concepts(self.state)[0, viewer]
        return concepts[self.world.spec.concepts.gt_slices[name]]


@pytest.fixture
def scenario():
    return Scenario


__all__ = ["A", "Event", "Scenario"]
