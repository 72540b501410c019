"""Scripted Cleanup roles do what their docs say, differ from each other, and show the dilemma."""

from __future__ import annotations

import numpy as np
import pytest

import envs
import envs.cleanup as cleanup
from envs.cleanup import Action as A
from envs.cleanup import Event
from envs.cleanup.scripted import PATIENCE, ROLES, make_team, population


def _play(roles: list[str], steps: int, k: int = 2, seed: int = 0, **config):
    """Per-agent event totals (N, E) and action counts (N, 9), summed over K envs; and the collective return per env."""
    env = cleanup.batched_env(k, num_agents=len(roles), **config)
    team = envs.make_scripted(env, roles, seed=seed)
    out = env.reset(seed)
    team.reset(env, np.ones(k, dtype=bool))
    events = np.zeros((len(roles), len(env.spec.events)), dtype=np.int64)
    actions = np.zeros((len(roles), env.num_actions), dtype=np.int64)
    collective = np.zeros(k)
    for _ in range(steps):
        act = team.act(env, out).actions
        assert act.shape == (k, len(roles)) and act.dtype == np.int64
        for j in range(len(roles)):
            actions[j] += np.bincount(act[:, j], minlength=env.num_actions)
        out = env.step(act)
        events += out.events.sum(axis=0, dtype=np.int64)
        collective += out.rewards.sum(axis=1)
    return events, actions, collective


@pytest.fixture(scope="module")
def mixed():
    return _play(["cleaner", "harvester", "free_rider", "punisher", "random"], steps=300)


def test_cleaner_cleans_and_nothing_else(mixed):
    events, actions, _ = mixed
    assert events[0, Event.CLEANED] > 20 and events[0, Event.FIRED_CLEAN] > 20
    assert actions[0, A.FIRE_PENALTY] == 0 and events[0, Event.ATE_APPLE] == 0


def test_harvester_eats_and_only_walks(mixed):
    events, actions, _ = mixed
    assert events[1, Event.ATE_APPLE] > 10
    assert actions[1, 4:].sum() <= actions[1].sum() * 0.02  # no turning, firing; hardly ever stays


def test_free_rider_waits_in_the_orchard(mixed):
    events, actions, _ = mixed
    assert events[2, Event.ATE_APPLE] > 0
    assert actions[2, [A.TURN_LEFT, A.TURN_RIGHT, A.FIRE_PENALTY, A.FIRE_CLEAN]].sum() == 0
    assert actions[2, A.STAY] > 5 * max(actions[1, A.STAY], 1)


def test_punisher_fines_slackers_and_never_cleans(mixed):
    events, actions, _ = mixed
    assert events[3, Event.PENALTY_HITS] > 0 and actions[3, A.FIRE_CLEAN] == 0
    events, actions, _ = _play(["cleaner", "punisher", "harvester"], steps=300)
    assert events[2, Event.HIT_BY_PENALTY] > 0 and events[0, Event.HIT_BY_PENALTY] == 0  # the cleaner is no slacker


def test_random_uses_every_action(mixed):
    _, actions, _ = mixed
    share = actions[4] / actions[4].sum()
    assert np.all(np.abs(share - 1 / 9) < 0.05)


def test_idle_always_stays():
    env = cleanup.batched_env(2, map="small", num_agents=3)
    team = envs.make_scripted(env, ["idle", "cleaner", "harvester"], seed=0)
    out = env.reset(0)
    start = env.state.pos[:, 0].copy()
    fired = 0
    for _ in range(40):
        act = team.act(env, out).actions
        assert np.all(act[:, 0] == A.STAY)
        out = env.step(act)
        fired += int(out.events[:, 0, [Event.CLEANED, Event.FIRED_CLEAN, Event.FIRED_PENALTY]].sum())
    np.testing.assert_array_equal(env.state.pos[:, 0], start)
    assert fired == 0


def test_punisher_waits_for_patience():
    events, _, _ = _play(["punisher", "harvester"], steps=PATIENCE - 1, map="small")
    assert events[0, Event.FIRED_PENALTY] == 0


def test_the_dilemma_shows():
    _, _, harvesters = _play(["harvester"] * 5, steps=300)
    _, _, with_cleaners = _play(["cleaner", "cleaner", "harvester", "harvester", "harvester"], steps=300)
    assert harvesters.max() == 0  # the classic river starts fouled: nobody cleans, nothing grows
    assert with_cleaners.min() > 100
    _, _, clean_start = _play(["harvester"] * 5, steps=300, waste_from_map=False)
    assert clean_start.min() > 0  # apples grow until the river fouls


def test_population_helper():
    assert population("2 cleaners + 3 harvesters") == ["cleaner"] * 2 + ["harvester"] * 3
    assert population("cleaner, 2 free riders, punisher, 1 random") == ["cleaner", "free_rider", "free_rider", "punisher", "random"]
    assert population("2x free-rider") == ["free_rider"] * 2
    with pytest.raises(ValueError, match="scripted role='gardeners' is not allowed; choose one of: " + ", ".join(ROLES)):
        population("2 gardeners")


def test_team_checks_its_roles():
    world = cleanup.World(cleanup.Config(map="small", num_agents=2))
    with pytest.raises(ValueError, match="3 roles for 2 agents"):
        make_team(["cleaner"] * 3, world, 0)
    env = cleanup.batched_env(1, map="small", num_agents=2)
    with pytest.raises(ValueError, match="choose one of"):
        envs.make_scripted(env, "cleaner,sleeper")
    assert envs.make_scripted(env, "harvester").roles == ("harvester", "harvester")


def test_team_is_reproducible_from_its_seed():
    a = _play(["random", "harvester", "cleaner"], steps=50, map="small", seed=4)
    b = _play(["random", "harvester", "cleaner"], steps=50, map="small", seed=4)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def test_teams_play_with_removal_and_a_small_view():
    """Melting Pot rules (zapped agents leave for a while), a view narrower than the beams."""
    events, _, _ = _play(["punisher", "harvester", "cleaner"], steps=160, preset="meltingpot", view_radius=2)
    assert events[0, Event.PENALTY_HITS] > 0 and events[1, Event.HIT_BY_PENALTY] > 0
