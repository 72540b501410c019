"""Clean Up's global state (PettingZoo's ``state()``): it changes exactly where the world changed,
a removed agent is in no channel, and every agent's window is a crop of it."""

from __future__ import annotations

import numpy as np

from envs import cleanup
from tests.envs.test_pettingzoo_faces import changed

CORRIDOR = """
@@@@@@@
@ RRHH@
@PP   @
@@@@@@@
"""


def test_cleanup_state_changes_where_the_world_changed(scenario):
    s = scenario(CORRIDOR, removal_steps=3)
    channels = s.world.state_layout.channels
    assert channels[-2:] == ("agent_0", "agent_1")
    s.put((2, 3, cleanup.Action.UP), (2, 5, cleanup.Action.UP))
    before = s.world.global_state(s.state)[0]
    s.step(cleanup.Action.RIGHT, cleanup.Action.STAY)  # absolute move, facing kept
    after = s.world.global_state(s.state)[0]
    assert changed(before, after, channels) == {(2, 3, "agent_up", 0), (2, 3, "agent_0", 0), (2, 4, "agent_up", 1), (2, 4, "agent_0", 1)}
    waste = s.count("waste")
    _, events = s.step(cleanup.Action.FIRE_CLEAN, cleanup.Action.STAY)
    cleaned = changed(after, s.world.global_state(s.state)[0], channels)
    assert cleaned and all(ch == "waste" and value == 0 for _, _, ch, value in cleaned)
    assert len(cleaned) == events[0, cleanup.Event.CLEANED] == waste - s.count("waste")
    s.put((2, 4, cleanup.Action.RIGHT))
    before = s.world.global_state(s.state)[0]
    s.step(cleanup.Action.FIRE_PENALTY, cleanup.Action.STAY)  # agent_1 is hit and removed: in no channel
    assert changed(before, s.world.global_state(s.state)[0], channels) == {(2, 5, "agent_up", 0), (2, 5, "agent_1", 0)}


def test_cleanup_windows_are_crops_of_the_state():
    env = cleanup.batched_env(2, map="small", num_agents=3, view_radius=3, removal_steps=2)
    env.reset(seed=4)
    rng = np.random.default_rng(4)
    geo, r = env.world.geo, 3
    for _ in range(40):
        out = env.step(rng.integers(0, env.num_actions, size=(2, 3)))
        state = env.global_state()
        padded = np.zeros((2, geo.cmap.height + 2 * r, geo.cmap.width + 2 * r, 9), dtype=np.uint8)
        padded[..., 0] = 1
        padded[:, r:-r, r:-r] = state[..., :9]
        rows, cols = geo.row_col(env.state.pos)
        for k, i in zip(*np.nonzero(env.state.removed == 0), strict=True):
            row, col = rows[k, i], cols[k, i]
            np.testing.assert_array_equal(out.obs[k, i], padded[k, row : row + 2 * r + 1, col : col + 2 * r + 1])
            assert state[k, row, col, 9 + i] == 1 and state[k, ..., 9 + i].sum() == 1
