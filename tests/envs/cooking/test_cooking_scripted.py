"""Scripted agents: planner pairs deliver; every role pair keeps to its job and does not stall.

Rollouts are short (K envs at once) and check what each role did through the events; the
give-way rules have one tiny scenario each in ``test_cooking_traffic.py``.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from envs import make_batched, make_scripted
from envs.config import ConfigError
from envs.cooking import CLASSIC_LAYOUTS, Action, Item, batched_env
from envs.cooking.scripted import ROLES, STOCK, make_team

LAYOUTS = (*CLASSIC_LAYOUTS, "coordination_required", "coordination_optional")


def _run(layout: str, roles: list[str], steps: int, num_envs: int = 4, seed: int = 0, epsilon: float = 0.0, **config):
    env = batched_env(num_envs, layout=layout, horizon=steps, **config)
    team = make_team(roles, env.world, seed=seed, epsilon=epsilon)
    out = env.reset(seed=seed)
    team.reset(env, np.ones(num_envs, dtype=bool))
    events, actions = [], []
    for _ in range(steps):
        a = team.act(env, out).actions
        assert a.shape == (num_envs, 2) and a.dtype == np.int64
        out = env.step(a)
        events.append(out.events)
        actions.append(a)
    return env, np.array(events), np.array(actions)  # (T, K, 2, E), (T, K, 2)


def _count(env, events: np.ndarray, name: str) -> np.ndarray:
    """(K, 2) how often each agent had event ``name``."""
    return events[..., env.spec.event_names.index(name)].sum(axis=0)


def _full_pots(env) -> np.ndarray:
    """(K,) pots holding 3 ingredients (cooking or done) at the end."""
    return env.world.tables.pot_full[env.state.cells[:, env.world.tables.pot_cells]].sum(axis=1)


@pytest.mark.parametrize("layout", CLASSIC_LAYOUTS)
def test_planner_pair_delivers_on_every_classic_layout(layout):
    env, events, _ = _run(layout, ["planner", "planner"], steps=120)
    delivered = _count(env, events, "delivered").sum(axis=1)
    assert (delivered >= 2).all(), f"{layout}: soups per env {delivered.tolist()}"


def test_forced_coordination_needs_handovers():
    env, events, _ = _run("forced_coordination", ["planner", "planner"], steps=120)
    names = env.spec.event_names
    assert events[..., names.index("handed_over")].sum() >= 8
    # the left room (agent_1) never touches a pot, the right room (agent_0) never a dispenser
    assert events[:, :, 1, names.index("put_onion_in_pot")].sum() == 0
    assert (
        events[:, :, 0, names.index("picked_dish")].sum()
        == events[:, :, 0, names.index("took_from_counter")].sum() - events[:, :, 0, names.index("picked_onion")].sum()
    )


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_role_pair_keeps_to_its_job(layout):
    """Ingredient agents never hold a dish or a soup, dish agents never an ingredient, idle ones never act."""
    for roles in itertools.product(("planner", "ingredient", "dish", "idle"), repeat=2):
        env, events, actions = _run(layout, list(roles), steps=60, num_envs=1)
        for i, role in enumerate(roles):
            did = {name: int(_count(env, events, name)[0, i]) for name in env.spec.event_names}
            if role == "ingredient":
                assert did["picked_dish"] == did["picked_soup"] == did["delivered"] == 0, (layout, roles, did)
            if role == "dish":
                assert did["picked_onion"] == did["put_onion_in_pot"] == 0, (layout, roles, did)
            if role == "idle":
                assert (actions[:, 0, i] == Action.STAY).all()


def test_working_pairs_cook_and_serve():
    """On the open kitchens the split roles (either order) deliver like planners; the planner does what its partner does not."""
    for layout in ("cramped_room", "asymmetric_advantages", "coordination_ring", "counter_circuit"):
        for roles in (["ingredient", "dish"], ["dish", "ingredient"], ["planner", "dish"], ["ingredient", "planner"]):
            env, events, _ = _run(layout, roles, steps=150, num_envs=1)
            assert _count(env, events, "delivered").sum() >= 2, (layout, roles)
            i_dish = roles.index("dish") if "dish" in roles else None
            if i_dish is not None and roles[1 - i_dish] == "planner":  # the dish agent serves, the planner cooks
                assert _count(env, events, "put_onion_in_pot")[0, 1 - i_dish] >= 6 and _count(env, events, "delivered")[0, i_dish] >= 2


REACHABLE_POTS = {"cramped_room": 1, "asymmetric_advantages": 2, "coordination_ring": 2, "counter_circuit": 1, "coordination_optional": 1}
"""Pots agent_0 reaches round an idle agent_1 on its drawn start (on counter_circuit it stands at one pot's access)."""


@pytest.mark.parametrize("layout", sorted(REACHABLE_POTS))
def test_ingredient_and_dish_agents_beside_an_idle_one_keep_at_their_job(layout):
    """Nobody serves: the ingredient agent fills every pot it reaches, stocks STOCK more and waits holding one;
    the dish agent fetches a dish and waits with it."""
    env, events, _ = _run(layout, ["ingredient", "idle"], steps=150, num_envs=1)
    tb, cells = env.world.tables, env.state.cells[0]
    assert _full_pots(env)[0] == REACHABLE_POTS[layout] and env.state.hold[0, 0] == Item.INGREDIENT
    assert (tb.item_of[cells[tb.counter_cells]] == Item.INGREDIENT).sum() == STOCK
    assert _count(env, events, "put_onion_in_pot")[0, 0] == 3 * REACHABLE_POTS[layout]
    if layout != "coordination_ring":  # there the idle agent stands on the only access to the dishes
        env, events, _ = _run(layout, ["dish", "idle"], steps=60, num_envs=1)
        assert env.state.hold[0, 0] == Item.DISH and _count(env, events, "picked_dish")[0, 0] == 1


def test_planner_fills_every_pot_it_can_reach_beside_an_idle_agent():
    """coordination_ring: the idle agent_1 stands on the only access to the dishes; the planner still fills both pots."""
    env, events, _ = _run("coordination_ring", ["planner", "idle"], steps=150, num_envs=1)
    assert _full_pots(env)[0] == 2 and _count(env, events, "put_onion_in_pot")[0, 0] == 6
    assert _count(env, events, "picked_dish").sum() == 0


def test_planner_alone_cooks_unless_its_idle_teammate_blocks_the_dishes():
    env, events, _ = _run("cramped_room", ["planner", "idle"], steps=150)
    assert (_count(env, events, "delivered")[:, 0] >= 2).all()
    env, events, _ = _run("cramped_room", ["idle", "planner"], steps=150)  # agent_0 stands at the only dish access
    assert _count(env, events, "delivered").sum() == 0


def test_planning_roles_are_deterministic_and_noise_is_per_agent():
    _, _, a = _run("coordination_ring", ["planner", "dish"], steps=40, seed=0)
    _, _, b = _run("coordination_ring", ["planner", "dish"], steps=40, seed=7)
    np.testing.assert_array_equal(a, b)  # the team's seed only drives random agents and noise
    _, _, noisy = _run("cramped_room", ["idle", "idle"], steps=200, num_envs=8, epsilon=(0.3, 0.0))
    moved = (noisy != Action.STAY).mean(axis=(0, 1))  # a random action is STAY 1 time in 6
    assert abs(moved[0] - 0.3 * 5 / 6) < 0.04 and moved[1] == 0.0
    _, _, c = _run("cramped_room", ["planner", "planner"], steps=40, seed=0, epsilon=0.2)
    _, _, d = _run("cramped_room", ["planner", "planner"], steps=40, seed=1, epsilon=0.2)
    assert (c != d).any()


def test_random_starts_give_varied_episodes_and_planners_still_deliver():
    env, events, _ = _run("counter_circuit", ["planner", "planner"], steps=160, num_envs=6, seed=3, random_start=True)
    assert (_count(env, events, "delivered").sum(axis=1) >= 2).all()
    first = events[:20, :, :, :8].reshape(20, 6, -1)
    assert len({first[:, k].tobytes() for k in range(6)}) > 1  # not six copies of one episode


def test_make_team_and_make_scripted_check_their_inputs():
    env = make_batched("cooking", {"layout": "cramped_room"}, num_envs=2)
    out = env.reset(seed=0)
    team = make_scripted(env, "planner,idle", seed=1)
    assert team.roles == ("planner", "idle") and team.act(env, out).actions.shape == (2, 2)
    assert make_scripted(env, "random").roles == ("random", "random")
    with pytest.raises(ConfigError, match="choose one of: " + ", ".join(ROLES)):
        make_scripted(env, "chef")
    with pytest.raises(ConfigError, match="choose one of"):
        make_team(["planner", "cook"], env.world)
    with pytest.raises(ValueError, match="2 agents"):
        make_team(["planner"], env.world)
    for bad in (1.5, -0.1, (0.1, 0.2, 0.3), "a lot", float("nan")):
        with pytest.raises(ConfigError, match="epsilon"):
            make_team(["planner", "planner"], env.world, epsilon=bad)
    assert make_team(["planner", "dish"], env.world, epsilon=(0.0, 0.25)).epsilon.tolist() == [0.0, 0.25]
