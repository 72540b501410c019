"""The give-way rules of the scripted cooks (``envs.cooking.traffic``), one tiny kitchen per rule.

Each scene runs at K = 1 and K = 3 (all envs in one state, see ``conftest.Scene``); the scripted
team must pick the same actions in every env.
"""

from __future__ import annotations

import numpy as np

from envs.cooking import Action, Item
from envs.cooking.scripted import make_team

A = Action

NOOK = """
XDXXXXXSX
O1     2P
XXXX XXXX
"""
"""A one-cell-wide corridor with a single side cell: the only place where two agents can pass."""

RING = """
XXXPX
X 1 P
D2X X
O   X
XOSXX
"""
"""coordination_ring with the start cells moved so that nobody stands on the dish access."""


def _act(scene, roles) -> list[int]:
    team = make_team(roles, scene.env.world, seed=0)
    actions = team.act(scene.env, scene.out).actions
    scripted = [i for i, role in enumerate(roles) if role != "random"]
    assert (actions[:, scripted] == actions[:1, scripted]).all(), "envs in one state disagree"
    return actions[0].tolist()


def _play(scene, roles, steps: int) -> np.ndarray:
    """Step the team; returns the summed events (K, 2, E)."""
    team = make_team(roles, scene.env.world, seed=0)
    total = np.zeros_like(scene.out.events, dtype=np.int64)
    for _ in range(steps):
        scene.out = scene.env.step(team.act(scene.env, scene.out).actions)
        total += scene.out.events
    return total


def test_head_on_in_a_corridor_the_one_that_can_steps_into_the_side_cell(scene):
    s = scene(NOOK)
    s.agent(0, (1, 3), A.RIGHT, Item.INGREDIENT)  # on its way to the pot
    s.agent(1, (1, 4), A.LEFT)  # on its way to the onions; only it can reach the side cell
    assert _act(s, ["planner", "planner"]) == [A.RIGHT, A.DOWN]
    events = _play(s, ["planner", "planner"], 12)
    names = s.env.spec.event_names
    assert events[0, 0, names.index("put_onion_in_pot")] == 1 and events[0, 1, names.index("picked_onion")] >= 1


def test_head_on_where_both_can_give_way_agent_0_does(scene):
    s = scene(RING)
    s.agent(0, (1, 2), A.RIGHT, Item.INGREDIENT)  # to the pot at (0, 3): its one access cell is where agent_1 stands
    s.agent(1, (1, 3), A.LEFT)  # to the dishes: 3 steps through agent_0, 5 round the ring
    s.pot((1, 4), 3, 5)  # cooking, so a dish is needed
    assert _act(s, ["planner", "planner"]) == [A.LEFT, A.LEFT]  # agent_0 backs off the dish way, agent_1 follows
    events = _play(s, ["planner", "planner"], 12)
    names = s.env.spec.event_names
    assert events[0, 0, names.index("put_onion_in_pot")] == 1 and events[0, 1, names.index("picked_dish")] == 1


def test_two_moves_into_one_cell_agent_0_waits(scene):
    s = scene("XXPXX\nO12 O\nX   X\nXDXSX")
    s.agent(0, (1, 1), A.UP, Item.INGREDIENT)
    s.agent(1, (1, 3), A.UP, Item.INGREDIENT)  # both bring an onion to the pot's one access cell (1, 2)
    assert _act(s, ["planner", "planner"]) == [A.STAY, A.LEFT]


def test_an_agent_about_to_interact_is_waited_for(scene):
    s = scene(NOOK)
    s.agent(0, (1, 6), A.RIGHT, Item.INGREDIENT)
    s.agent(1, (1, 7), A.RIGHT, Item.INGREDIENT)  # at the pot, about to put its onion in
    assert _act(s, ["planner", "planner"]) == [A.STAY, A.INTERACT]


def test_an_idle_handed_agent_trapped_in_a_dead_end_is_let_out(scene):
    s = scene(NOOK)
    s.pot((1, 8), 3, 20)  # the soup is ready
    s.agent(0, (1, 6), A.RIGHT, Item.DISH)  # needs the cell in front of the pot ...
    s.agent(1, (1, 7), A.LEFT)  # ... where agent_1 stands with nothing to do; it cannot step aside
    assert _act(s, ["planner", "planner"]) == [A.LEFT, A.LEFT]  # so agent_0 backs out and lets it through
    events = _play(s, ["planner", "planner"], 16)
    assert events[0, 0, s.env.spec.event_names.index("delivered")] == 1


def test_a_planner_walks_round_an_idle_agent_in_its_way(scene):
    s = scene(RING)
    s.agent(0, (1, 1), A.UP, Item.INGREDIENT)  # the short way to the pots is through (1, 2)
    s.agent(1, (1, 2), A.UP)
    assert _act(s, ["planner", "idle"]) == [A.DOWN, A.STAY]  # round the ring the other way
    events = _play(s, ["planner", "idle"], 120)
    assert events[0, 0, s.env.spec.event_names.index("delivered")] >= 2


def test_a_planner_gives_way_to_a_random_agent_only_round_short_detours(scene):
    s = scene(RING)
    s.agent(0, (1, 1), A.UP, Item.INGREDIENT)
    s.agent(1, (1, 2), A.UP)  # a random agent where the planner wants to go; the way round is 4 steps longer
    planner_action = _act(s, ["planner", "random"])[0]
    assert planner_action == A.DOWN
    s.agent(0, (2, 3), A.UP, Item.INGREDIENT)
    s.agent(1, (1, 3), A.UP)  # on the pots' only access: no way round, the planner tries its move
    assert _act(s, ["planner", "random"])[0] == A.UP
