"""The cooking world's global state (PettingZoo's ``state()``): it changes exactly where the kitchen
changed, and it is agent_0's global view whatever the observation mode."""

from __future__ import annotations

import numpy as np

from envs import cooking
from envs.cooking import Action as CA
from tests.envs.test_pettingzoo_faces import changed


def test_cooking_state_changes_where_the_kitchen_changed():
    par = cooking.parallel_env(layout="cramped_room")  # agent_0 at (2, 1), agent_1 at (1, 3), both facing up
    par.reset(seed=0)
    channels = par.core.world.state_layout.channels
    before = par.state()
    par.step({"agent_0": CA.RIGHT, "agent_1": CA.RIGHT})  # agent_0 walks to (2, 2); agent_1 turns to the onion dispenser
    after = par.state()
    assert changed(before, after, channels) == {
        (2, 1, "agent_0", 0),
        (2, 1, "agent_0_facing_up", 0),
        (2, 2, "agent_0", 1),
        (2, 2, "agent_0_facing_right", 1),
        (1, 3, "agent_1_facing_up", 0),
        (1, 3, "agent_1_facing_right", 1),
    }
    par.step({"agent_0": CA.STAY, "agent_1": CA.INTERACT})  # agent_1 takes an onion: it shows at its cell
    assert changed(after, par.state(), channels) == {(1, 3, "onion", 1)}


def test_cooking_state_is_agent_0s_global_view_whatever_the_obs_mode():
    ego = cooking.batched_env(3, layout="counter_circuit")
    glob = cooking.batched_env(3, layout="counter_circuit", obs_mode="global")
    rng = np.random.default_rng(1)
    out, _ = ego.reset(seed=2), glob.reset(seed=2)
    for _ in range(60):
        actions = rng.choice([0, 1, 2, 3, 5, 5], size=(3, 2))
        out, g = ego.step(actions), glob.step(actions)
        np.testing.assert_array_equal(ego.global_state(), g.obs[:, 0])
        np.testing.assert_array_equal(glob.global_state(), g.obs[:, 0])
    assert out.obs.shape[2:4] == (5, 5) and ego.global_state().shape == (3, *ego.world.state_layout.shape)
