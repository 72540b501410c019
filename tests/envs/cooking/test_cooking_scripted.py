"""Scripted agents: planner pairs deliver on every classic layout; roles keep to their jobs."""

from __future__ import annotations

import numpy as np
import pytest

from envs import make_batched, make_scripted
from envs.config import ConfigError
from envs.cooking import CLASSIC_LAYOUTS, Action, batched_env
from envs.cooking.scripted import ROLES, make_team


def _run(layout: str, roles: list[str], steps: int, num_envs: int = 4, seed: int = 0):
    env = batched_env(num_envs, layout=layout, horizon=steps)
    team = make_team(roles, env.world, seed=seed)
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


@pytest.mark.parametrize("layout", CLASSIC_LAYOUTS)
def test_planner_pair_delivers_on_every_classic_layout(layout):
    env, events, _ = _run(layout, ["planner", "planner"], steps=120)
    delivered = events[..., env.spec.event_names.index("delivered")].sum(axis=(0, 2))
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


def test_roles_keep_to_their_jobs():
    env, events, actions = _run("cramped_room", ["ingredient", "dish"], steps=150)
    names = env.spec.event_names
    ing, dish = events[:, :, 0], events[:, :, 1]
    assert ing[..., names.index("picked_dish")].sum() == ing[..., names.index("picked_soup")].sum() == 0
    assert dish[..., names.index("picked_onion")].sum() == 0
    assert ing[..., names.index("put_onion_in_pot")].sum() > 0 and dish[..., names.index("delivered")].sum() > 0
    _, _, actions = _run("cramped_room", ["idle", "random"], steps=100)
    assert (actions[:, :, 0] == Action.STAY).all()
    assert set(np.unique(actions[:, :, 1]).tolist()) == set(range(6))


def test_planner_alone_cooks_unless_its_idle_teammate_blocks_the_dishes():
    env, events, _ = _run("cramped_room", ["planner", "idle"], steps=150)
    delivered = env.spec.event_names.index("delivered")
    assert (events[:, :, 0, delivered].sum(axis=0) >= 2).all()
    env, events, _ = _run("cramped_room", ["idle", "planner"], steps=150)  # agent_0 stands at the only dish access
    assert events[..., delivered].sum() == 0


def test_make_scripted_dispatches_and_checks_roles():
    env = make_batched("cooking", {"layout": "cramped_room"}, num_envs=2)
    out = env.reset(seed=0)
    team = make_scripted(env, "planner,idle", seed=1)
    assert team.roles == ("planner", "idle") and team.act(env, out).actions.shape == (2, 2)
    assert make_scripted(env, "random").roles == ("random", "random")
    with pytest.raises(ConfigError, match="choose one of: " + ", ".join(ROLES)):
        make_scripted(env, "chef")
