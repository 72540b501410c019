"""One tiny ASCII scenario per Cleanup rule: beams, fines, moves, growth, waste, removal, cooldowns."""

from __future__ import annotations

import numpy as np
import pytest

from envs.cleanup import Action as A
from envs.cleanup import Event
from envs.cleanup.beams import ray_offsets

CORRIDOR = """
@@@@@@@@@@
@ RHRH   @
@@@@@@@@@@
@PPP     @
@@@@@@@@@@
"""

RIVER3 = """
@@@@@@@@@
@ HHH   @
@ RHRH  @
@ HHH   @
@@@@@@@@@
@PP     @
@@@@@@@@@
"""


def test_ray_geometry_matches_the_classic_code():
    # facing up, width 3, length 2 on a grid 10 wide: centre (-1,0),(-2,0); sides start beside the agent
    rays = ray_offsets(2, 3, 10)
    assert rays[A.UP].tolist() == [[-1, -11], [-10, -20], [1, -9]]
    assert rays[A.RIGHT].tolist() == [[-10, -9], [1, 2], [10, 11]]


def test_cleaning_beam_stops_at_the_first_waste(scenario):
    s = scenario(CORRIDOR)
    s.put((1, 1, A.RIGHT), (3, 1))
    rewards, events = s.step(A.FIRE_CLEAN, A.STAY)
    assert not s.has("waste", 1, 3) and s.has("waste", 1, 5)
    assert events[0, Event.CLEANED] == 1 and events[0, Event.FIRED_CLEAN] == 1
    assert rewards.tolist() == [0.0, 0.0]
    s.step(A.FIRE_CLEAN, A.STAY)
    assert not s.has("waste", 1, 5)


def test_each_ray_of_a_wide_cleaning_beam_cleans_its_first_waste(scenario):
    s = scenario(RIVER3)
    s.put((2, 1, A.RIGHT), (5, 1))
    _, events = s.step(A.FIRE_CLEAN, A.STAY)
    assert events[0, Event.CLEANED] == 3
    assert [s.has("waste", 1, c) for c in (2, 3, 4)] == [False, True, True]
    assert [s.has("waste", 2, c) for c in (3, 5)] == [False, True]
    assert [s.has("waste", 3, c) for c in (2, 3, 4)] == [False, True, True]


def test_cleaning_reward_per_cell(scenario):
    s = scenario(RIVER3, clean_reward=0.5)
    s.put((2, 1, A.RIGHT), (5, 1))
    rewards, _ = s.step(A.FIRE_CLEAN, A.STAY)
    assert rewards[0] == pytest.approx(1.5)


def test_cleaning_beam_is_absorbed_by_an_agent(scenario):
    s = scenario(CORRIDOR)
    s.put((1, 1, A.RIGHT), (1, 2))
    _, events = s.step(A.FIRE_CLEAN, A.STAY)
    assert events[0, Event.CLEANED] == 0 and s.has("waste", 1, 3)


PENALTY = """
@@@@@@@@@@
@  H     @
@@@@@@@@@@
@PPP     @
@@@@@@@@@@
"""


def test_penalty_beam_fines_and_is_blocked_by_the_first_agent(scenario):
    s = scenario(PENALTY.replace("  H     ", " RH     "), num_agents=3)
    s.put((1, 1, A.RIGHT), (1, 4), (1, 5))  # agent 1 behind waste (penalty beams pass over it), agent 2 behind agent 1
    rewards, events = s.step(A.FIRE_PENALTY, A.STAY, A.STAY)
    assert rewards.tolist() == [-1.0, -50.0, 0.0]
    assert events[:, Event.FIRED_PENALTY].tolist() == [1, 0, 0]
    assert events[:, Event.HIT_BY_PENALTY].tolist() == [0, 1, 0]
    assert events[0, Event.PENALTY_HITS] == 1
    assert s.has("waste", 1, 3)


def test_penalty_beam_is_blocked_by_walls(scenario):
    s = scenario("@@@@@@@@\n@  @   @\n@@@@@@@@\n@PP    @\n@@@@@@@@")
    s.put((1, 1, A.RIGHT), (1, 4))
    rewards, events = s.step(A.FIRE_PENALTY, A.STAY)
    assert rewards.tolist() == [-1.0, 0.0] and events[1, Event.HIT_BY_PENALTY] == 0


def test_side_rays_hit_an_agent_beside_the_firer_and_fines_add_up(scenario):
    s = scenario("@@@@@@\n@    @\n@    @\n@PPP @\n@@@@@@", num_agents=3)
    s.put((2, 1, A.UP), (2, 2), (2, 3, A.LEFT))  # agent 1 beside agent 0 (its right-hand side); agent 2 faces agent 1
    rewards, events = s.step(A.FIRE_PENALTY, A.STAY, A.FIRE_PENALTY)
    assert rewards.tolist() == [-1.0, -100.0, -1.0]
    assert events[1, Event.HIT_BY_PENALTY] == 2


def test_moves_are_absolute_keep_the_facing_and_turns_rotate(scenario):
    s = scenario(CORRIDOR)
    s.put((3, 4, A.UP), (3, 1))
    s.step(A.RIGHT, A.STAY)
    assert s.cell(0) == (3, 5) and s.state.facing[0, 0] == A.UP
    s.step(A.TURN_LEFT, A.TURN_RIGHT)
    assert s.state.facing[0].tolist() == [A.LEFT, A.RIGHT]
    s.step(A.UP, A.DOWN)  # into walls
    assert s.cell(0) == (3, 5) and s.cell(1) == (3, 1)


def test_move_conflicts(scenario):
    s = scenario("@@@@@@@@\n@PPP   @\n@@@@@@@@", num_agents=3)
    s.put((1, 1), (1, 3), (1, 6))
    s.step(A.RIGHT, A.LEFT, A.STAY)  # both into (1, 2): one random winner
    assert sorted([s.cell(0), s.cell(1)]) in ([(1, 1), (1, 2)], [(1, 2), (1, 3)])
    s.put((1, 1), (1, 2), (1, 6))
    s.step(A.RIGHT, A.LEFT, A.STAY)  # swap fails
    assert (s.cell(0), s.cell(1)) == ((1, 1), (1, 2))
    s.step(A.RIGHT, A.RIGHT, A.STAY)  # follow the leader
    assert (s.cell(0), s.cell(1)) == ((1, 2), (1, 3))
    s.place(1, 1, 5)
    s.step(A.STAY, A.RIGHT, A.STAY)  # into an agent that stays
    assert s.cell(1) == (1, 5)


def test_entering_river_and_orchard_and_eating(scenario):
    s = scenario("@@@@@@@\n@R PPB@\n@@@@@@@")
    s.put((1, 2), (1, 4))
    s.world.set_item(s.state, 0, 1, 5, "apple")
    rewards, events = s.step(A.LEFT, A.RIGHT)
    assert events[0, Event.ENTERED_RIVER] == 1 and events[1, Event.ENTERED_ORCHARD] == 1
    assert events[1, Event.ATE_APPLE] == 1 and rewards.tolist() == [0.0, 1.0]
    assert not s.has("apple", 1, 5)
    _, events = s.step(A.STAY, A.STAY)
    assert events[:, Event.ENTERED_RIVER :].sum() == 0


ORCHARD = """
@@@@@@@@@@@@@
@RRRRRRRRRR @
@PP BBBBBBBB@
@@@@@@@@@@@@@
"""


@pytest.mark.parametrize(("waste", "grows"), [(4, False), (5, False), (3, True), (0, True)])
def test_apple_growth_stops_at_and_above_the_depletion_threshold(scenario, waste, grows):
    s = scenario(ORCHARD, apple_growth=1.0)  # 10 river cells: depletion 0.4 = 4 waste cells
    for c in range(1, 1 + waste):
        s.world.set_item(s.state, 0, 1, c, "waste")
    for _ in range(5):
        s.step(A.STAY, A.STAY)
    assert (s.count("apple") > 0) == grows
    if waste == 0:  # full rate 1.0: every free orchard cell at once
        assert s.count("apple") == 8


def test_growth_rate_is_linear_in_waste_density(scenario):
    s = scenario(ORCHARD, apple_growth=0.05)
    assert s.world.grow_p[[0, 1, 2, 3, 4, 10]] == pytest.approx([0.05, 0.0375, 0.025, 0.0125, 0.0, 0.0])


def test_no_apple_grows_under_an_agent(scenario):
    s = scenario(ORCHARD, apple_growth=1.0)
    s.put((2, 4), (2, 1))
    s.step(A.STAY, A.STAY)
    assert not s.has("apple", 2, 4) and s.count("apple") == 7


def test_waste_spawning(scenario):
    s = scenario(ORCHARD, waste_spawn_prob=1.0, waste_start_step=2, waste_pauses_at_depletion=False)
    counts = []
    for _ in range(14):
        s.step(A.STAY, A.STAY)
        counts.append(s.count("waste"))
    assert counts == [0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 10, 10]


def test_waste_pauses_at_depletion_in_the_classic_rules(scenario):
    s = scenario(ORCHARD, waste_spawn_prob=1.0)
    for _ in range(10):
        s.step(A.STAY, A.STAY)
    assert s.count("waste") == 4


def test_initial_waste_from_the_map_or_clean(scenario):
    assert scenario(RIVER3).count("waste") == 8
    assert scenario(RIVER3, waste_from_map=False).count("waste") == 0
    assert scenario(RIVER3, waste_from_map=False, initial_waste=1.0).count("waste") == 10


def test_removal_timer(scenario):
    s = scenario(PENALTY, removal_steps=3, penalty_fine=0.0, penalty_cost=0.0)
    s.put((1, 1, A.RIGHT), (1, 2))
    rewards, events = s.step(A.FIRE_PENALTY, A.STAY)  # step 0: hit
    assert events[1, Event.HIT_BY_PENALTY] == 1 and rewards.tolist() == [0.0, 0.0]
    removed = []
    for _ in range(4):
        removed.append(bool(s.concept(0, "agent_1.removed")[0]))
        assert (s.world.observe(s.state)[0, 1].any()) == (not removed[-1])
        if removed[-1]:
            assert s.concept(0, "agent_1.position").tolist() == [-1.0, -1.0]
            assert s.world.observe(s.state)[0, 0, ..., 5:].sum() == 1  # agent 0 sees only itself
        s.step(A.STAY, A.RIGHT)  # the removed agent's actions are ignored
    assert removed == [True, True, True, False]
    assert s.world.geo.spawns.tolist().count(s.state.pos[0, 1]) == 1  # back on a spawn point
    _, events = s.step(A.FIRE_PENALTY, A.STAY)  # its old cell is empty now
    assert events[0, Event.PENALTY_HITS] == 0


def test_penalty_cooldown(scenario):
    s = scenario(PENALTY, penalty_cooldown=2)
    s.put((1, 1, A.RIGHT), (1, 2))
    fired = [s.step(A.FIRE_PENALTY, A.STAY)[1][0, Event.FIRED_PENALTY] for _ in range(5)]
    assert fired == [1, 0, 0, 1, 0]


def test_rewards_are_float32_and_events_uint8(scenario):
    s = scenario(CORRIDOR)
    rewards, events = s.step(A.STAY, A.STAY)
    assert rewards.dtype == np.float32 and events.dtype == np.uint8
