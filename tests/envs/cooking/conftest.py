"""Tiny-kitchen scenarios for the cooking rule tests.

A ``Scene`` is a batched env over an ASCII kitchen whose state the test sets by hand (agents,
items, pots) and then steps with explicit actions. Every scene runs twice, at K = 1 (the scalar
fast path) and at K = 3 (the batched path with all envs in the same state), and checks that all
envs agree, so each rule is tested on both paths.
"""

from __future__ import annotations

import numpy as np
import pytest

from envs.batched import StepOutput
from envs.cooking import Action, Item, batched_env
from envs.cooking.tables import COUNTER, counter_code, pot_code

A = Action


class Scene:
    def __init__(self, ascii_map: str, num_envs: int, **config) -> None:
        self.env = batched_env(num_envs, layout=ascii_map, **config)
        self.out = self.env.reset(seed=0)
        self.tables = self.env.world.tables

    @property
    def state(self):
        return self.env.state

    def agent(self, i: int, rc: tuple[int, int], facing: int = A.UP, hold: int = Item.NONE) -> None:
        self.state.pos[:, i] = self.tables.flat(*rc)
        self.state.dir[:, i] = facing
        self.state.hold[:, i] = hold

    def item(self, rc: tuple[int, int], item: int, placer: int = 0) -> None:
        self.state.cells[:, self.tables.flat(*rc)] = COUNTER if item == Item.NONE else counter_code(item, placer)

    def pot(self, rc: tuple[int, int], count: int, cooked: int = 0) -> None:
        self.state.cells[:, self.tables.flat(*rc)] = pot_code(count, cooked)

    def step(self, a0: int, a1: int = A.STAY) -> StepOutput:
        actions = np.tile(np.array([[a0, a1]], dtype=np.int64), (self.env.num_envs, 1))
        self.out = self.env.step(actions)
        for name in ("obs", "rewards", "events", "concepts"):
            value = getattr(self.out, name)
            assert (value == value[:1]).all(), f"envs disagree on {name}"
        return self.out

    def where(self, i: int) -> tuple[int, int]:
        cell = int(self.state.pos[0, i])
        return int(self.tables.row[cell]), int(self.tables.col[cell])

    def facing(self, i: int) -> int:
        return int(self.state.dir[0, i])

    def holding(self, i: int) -> int:
        return int(self.state.hold[0, i])

    def code(self, rc: tuple[int, int]) -> int:
        return int(self.state.cells[0, self.tables.flat(*rc)])

    def event(self, name: str, i: int) -> int:
        return int(self.out.events[0, i, self.env.spec.event_names.index(name)])


@pytest.fixture(params=[1, 3], ids=["K1", "K3"])
def scene(request):
    """Factory: ``scene(ascii_map, **config)`` → Scene at K = 1 and at K = 3."""
    return lambda ascii_map, **config: Scene(ascii_map, request.param, **config)
