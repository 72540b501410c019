"""One tiny kitchen per rule of the classic dynamics (docs/cooking.md, 'Rules'), on both step paths."""

from __future__ import annotations

import numpy as np
import pytest

from envs.cooking import Action, Item
from envs.cooking.tables import COUNTER, counter_code, pot_code

A = Action

# agent_0 under the pot, agent_1 under the onions with the dish dispenser to its right,
# the serving cell under the middle floor cell
ROW = """
XPXOX
X1 2D
XXSXX
"""
# a counter between the two agents (every station borders a room: a sealed-in one is refused)
SPLIT = """
XPXXX
O1X2S
XXXDX
"""


def test_a_move_into_a_wall_only_turns(scene):
    s = scene(ROW)
    s.step(A.LEFT)
    assert s.where(0) == (1, 1) and s.facing(0) == A.LEFT and s.event("blocked_move", 0) == 1
    s.step(A.UP)
    assert s.where(0) == (1, 1) and s.facing(0) == A.UP
    s.step(A.RIGHT)
    assert s.where(0) == (1, 2) and s.facing(0) == A.RIGHT and s.event("blocked_move", 0) == 0


def test_two_moves_into_one_cell_both_fail(scene):
    s = scene(ROW)
    s.step(A.RIGHT, A.LEFT)
    assert (s.where(0), s.where(1)) == ((1, 1), (1, 3))
    assert (s.facing(0), s.facing(1)) == (A.RIGHT, A.LEFT)  # they still turn
    assert s.event("collision", 0) == s.event("collision", 1) == 1


def test_swapping_cells_fails(scene):
    s = scene(ROW)
    s.agent(1, (1, 2))
    s.step(A.RIGHT, A.LEFT)
    assert (s.where(0), s.where(1)) == ((1, 1), (1, 2))
    assert s.event("collision", 0) == s.event("collision", 1) == 1


def test_moving_into_a_standing_agent_fails(scene):
    s = scene(ROW)
    s.agent(1, (1, 2))
    s.step(A.RIGHT, A.STAY)
    assert (s.where(0), s.where(1)) == ((1, 1), (1, 2))
    assert (s.event("collision", 0), s.event("collision", 1)) == (1, 0)


@pytest.mark.parametrize("leader", [0, 1])
def test_moving_into_the_cell_being_vacated_is_allowed(scene, leader):
    s = scene(ROW)
    follower = 1 - leader
    s.agent(leader, (1, 2))
    s.agent(follower, (1, 1))
    actions = {leader: A.RIGHT, follower: A.RIGHT}
    s.step(actions[0], actions[1])
    assert (s.where(leader), s.where(follower)) == ((1, 3), (1, 2))
    assert s.out.events.sum() == 0


def test_interacts_resolve_agent_0_first(scene):
    s = scene(SPLIT)
    s.agent(0, (1, 1), A.RIGHT, Item.INGREDIENT)
    s.agent(1, (1, 3), A.LEFT)
    s.step(A.INTERACT, A.INTERACT)  # agent_0 puts it down, agent_1 already sees it and takes it
    assert (s.holding(0), s.holding(1), s.code((1, 2))) == (Item.NONE, Item.INGREDIENT, COUNTER)
    assert s.event("placed_on_counter", 0) == 1
    assert s.event("took_from_counter", 1) == s.event("picked_onion", 1) == s.event("handed_over", 1) == 1
    s.step(A.INTERACT, A.INTERACT)  # agent_0 finds the counter empty, then agent_1 puts it back
    assert (s.holding(0), s.holding(1), s.code((1, 2))) == (Item.NONE, Item.NONE, counter_code(Item.INGREDIENT, 2))
    assert s.out.events[0, 0].sum() == 0


def test_taking_back_your_own_item_is_no_handover(scene):
    s = scene(SPLIT)
    s.agent(0, (1, 1), A.RIGHT, Item.DISH)
    s.step(A.INTERACT)
    s.step(A.INTERACT)
    assert s.holding(0) == Item.DISH and s.event("took_from_counter", 0) == 1 and s.event("handed_over", 0) == 0


def test_a_counter_holds_one_item(scene):
    s = scene(SPLIT)
    s.agent(0, (1, 1), A.RIGHT, Item.INGREDIENT)
    s.item((1, 2), Item.DISH)
    s.step(A.INTERACT)
    assert s.holding(0) == Item.INGREDIENT and s.code((1, 2)) == counter_code(Item.DISH)
    assert s.out.events.sum() == 0


def test_dispensers_give_to_empty_hands_only(scene):
    s = scene(ROW)
    s.agent(1, (1, 3), A.UP)
    s.step(A.STAY, A.INTERACT)
    assert s.holding(1) == Item.INGREDIENT and s.event("picked_onion", 1) == 1
    s.step(A.STAY, A.RIGHT)  # turn to the dish dispenser
    s.step(A.STAY, A.INTERACT)
    assert s.holding(1) == Item.INGREDIENT and s.out.events.sum() == 0
    s.agent(1, (1, 3), A.RIGHT, Item.NONE)
    s.step(A.STAY, A.INTERACT)
    assert s.holding(1) == Item.DISH and s.event("picked_dish", 1) == 1


def test_pot_cooks_by_itself_at_three_for_cook_time_steps(scene):
    s = scene(ROW)
    s.agent(0, (1, 1), A.UP, Item.INGREDIENT)
    s.pot((0, 1), 2)
    s.step(A.INTERACT)
    assert s.event("put_onion_in_pot", 0) == 1 and s.code((0, 1)) == pot_code(3, 1)  # cooked 1 step already
    s.agent(0, (1, 1), A.UP, Item.INGREDIENT)
    s.step(A.INTERACT)  # a full pot takes no more
    assert s.holding(0) == Item.INGREDIENT and s.code((0, 1)) == pot_code(3, 2)
    s.agent(0, (1, 1), A.UP, Item.DISH)
    taken = []
    for _ in range(20):
        s.step(A.INTERACT)  # a dish on a pot that is still cooking does nothing
        taken.append(s.holding(0) == Item.SOUP)
    assert taken == [False] * 18 + [True, True]  # filled at step 1, done after 20 steps, taken at step 21
    assert s.code((0, 1)) == pot_code(0) and s.event("picked_soup", 0) == 0


def test_pot_progress_in_concepts_and_observation(scene):
    s = scene(ROW, obs_mode="global", cook_time=4)
    s.pot((0, 1), 3, 0)
    s.step(A.STAY)
    spec, obs = s.env.spec, s.out.obs[0, 0]
    concepts = s.out.concepts[0, 0]
    assert concepts[spec.concepts.gt_slices["pot_0.count"]] == 3
    assert concepts[spec.concepts.gt_slices["pot_0.progress"]] == pytest.approx(0.25)
    channels = spec.observation.channels
    assert obs[0, 1, channels.index("pot_count")] == 3 and obs[0, 1, channels.index("pot_cooked")] == 1
    assert obs[0, 1, channels.index("pot_ready")] == 0
    for _ in range(3):
        s.step(A.STAY)
    assert s.out.obs[0, 0, 0, 1, channels.index("pot_ready")] == 1
    assert s.out.concepts[0, 0, spec.concepts.gt_slices["pot_0.progress"]] == pytest.approx(1.0)


def test_dish_soup_serve_gives_the_team_the_reward(scene):
    s = scene(ROW)
    s.agent(0, (1, 1), A.UP, Item.DISH)
    s.pot((0, 1), 3, 20)
    s.step(A.INTERACT)
    assert s.holding(0) == Item.SOUP and s.out.rewards.sum() == 0
    s.step(A.RIGHT)
    s.step(A.DOWN)  # turn to the serving cell
    s.step(A.INTERACT)
    assert s.holding(0) == Item.NONE and s.event("delivered", 0) == 1
    np.testing.assert_array_equal(s.out.rewards, np.full_like(s.out.rewards, 20.0))


def test_only_soup_is_served(scene):
    s = scene(ROW, delivery_reward=7.0)
    s.agent(1, (1, 2), A.DOWN, Item.DISH)
    s.step(A.STAY, A.INTERACT)
    assert s.holding(1) == Item.DISH and s.out.rewards.sum() == 0
    s.agent(1, (1, 2), A.DOWN, Item.SOUP)
    s.step(A.STAY, A.INTERACT)
    assert s.out.rewards[0].tolist() == [7.0, 7.0]


def test_shaping_goes_to_the_actor(scene):
    s = scene(ROW, shaping=True)
    s.agent(0, (1, 1), A.UP, Item.INGREDIENT)
    s.agent(1, (1, 3), A.RIGHT)
    s.step(A.INTERACT, A.INTERACT)  # onion into pot (3); dish while no pot is full (0)
    assert s.out.rewards[0].tolist() == [3.0, 0.0]
    s.agent(1, (1, 3), A.RIGHT, Item.NONE)
    s.pot((0, 1), 3, 5)
    s.step(A.STAY, A.INTERACT)  # dish while a pot cooks (3)
    assert s.out.rewards[0].tolist() == [0.0, 3.0]
    s.agent(0, (1, 1), A.UP, Item.DISH)
    s.pot((0, 1), 3, 20)
    s.step(A.INTERACT)  # soup pickup (5)
    assert s.out.rewards[0].tolist() == [5.0, 0.0]
    s.env.world.shaping_scale = 0.5
    s.agent(0, (1, 1), A.UP, Item.INGREDIENT)
    s.step(A.INTERACT)
    assert s.out.rewards[0].tolist() == [1.5, 0.0]


def test_shared_shaping_pays_the_team(scene):
    s = scene(ROW, shaping=True, shaping_shared=True)
    s.agent(0, (1, 1), A.UP, Item.INGREDIENT)
    s.agent(1, (1, 3), A.RIGHT)
    s.step(A.INTERACT, A.INTERACT)  # agent_0: onion into pot (3), paid to both
    assert s.out.rewards[0].tolist() == [3.0, 3.0]


def test_horizon_truncates(scene):
    s = scene(ROW, horizon=3)
    assert [bool(s.step(A.STAY).truncated[0]) for _ in range(3)] == [False, False, True]
    assert not s.out.terminated.any() and s.out.t[0] == 3
    with pytest.raises(RuntimeError, match="finished their episode"):
        s.step(A.STAY)
