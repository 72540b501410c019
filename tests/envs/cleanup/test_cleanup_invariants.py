"""Invariants of Cleanup rollouts: obs is a crop of the state, concepts match a brute-force recompute, spaces hold."""

from __future__ import annotations

import numpy as np
import pytest

import envs.cleanup as cleanup
from envs.cleanup.maps import APPLE, ORCHARD, RIVER, WALL, WASTE
from envs.cleanup.observe import CHANNELS
from envs.spec import ABSENT

TALL = """
@@@@@@@@
@HRR  B@
@RHP  B@
@RR P B@
@HRP  B@
@RR   A@
@HHSSSB@
@RR P B@
@@@@@@@@
"""

RADIUS = 3


def _rollout(config: dict, steps: int, k: int = 3, seed: int = 0):
    env = cleanup.batched_env(k, auto_reset=True, **config)
    rng = np.random.default_rng(seed)
    out = env.reset(seed)
    yield env, out
    for _ in range(steps):
        out = env.step(rng.integers(0, env.num_actions, size=(k, env.num_agents)))
        yield env, out


def _expected_obs(env, index: int) -> np.ndarray:
    """Each agent's window recomputed from the map, the item flags and the agents, independently of the canvas."""
    world, state = env.world, env.state
    chars = world.cmap.chars
    h, w = chars.shape
    grid = np.zeros((h, w, len(CHANNELS)), dtype=np.uint8)
    grid[..., 0] = chars == WALL
    grid[..., 3] = np.isin(chars, [RIVER, WASTE])
    grid[..., 4] = np.isin(chars, [ORCHARD, APPLE])
    for cells, flags, channel in ((world.geo.orchard, world.apples(state), 1), (world.geo.river, world.waste(state), 2)):
        r, c = world.geo.row_col(cells)
        grid[r, c, channel] = flags[index]
    rows, cols = world.geo.row_col(state.pos[index])
    for j in range(world.num_agents):
        if state.removed[index, j] == 0:
            grid[rows[j], cols[j], 5 + state.facing[index, j]] = 1
    r = world.config.view_radius
    padded = np.zeros((h + 2 * r, w + 2 * r, len(CHANNELS)), dtype=np.uint8)
    padded[..., 0] = 1
    padded[r : r + h, r : r + w] = grid
    out = np.zeros((world.num_agents, 2 * r + 1, 2 * r + 1, len(CHANNELS)), dtype=np.uint8)
    for j in range(world.num_agents):
        if state.removed[index, j] == 0:
            out[j] = padded[rows[j] : rows[j] + 2 * r + 1, cols[j] : cols[j] + 2 * r + 1]
    return out


def _expected_nearest(world, state, index: int, viewer: int, cells: np.ndarray, flags: np.ndarray, k: int) -> np.ndarray:
    out = np.full((k, 2), ABSENT, dtype=np.float32)
    if state.removed[index, viewer]:
        return out
    vr, vc = world.geo.row_col(state.pos[index, viewer])
    rows, cols = world.geo.row_col(cells[flags[index]])
    order = sorted(range(len(rows)), key=lambda i: ((rows[i] - vr) ** 2 + (cols[i] - vc) ** 2, rows[i], cols[i]))[:k]
    h, w = world.cmap.chars.shape
    for slot, i in enumerate(order):
        out[slot] = (cols[i] / (w - 1), rows[i] / (h - 1))
    return out


@pytest.mark.parametrize(
    "config",
    [
        {"map": TALL, "num_agents": 3, "view_radius": RADIUS, "nearest_k": 3, "beam_length": 3},
        {"map": TALL, "num_agents": 4, "view_radius": RADIUS, "removal_steps": 4, "penalty_cooldown": 2, "apple_growth": 0.3},
        {"map": "small", "num_agents": 5, "waste_from_map": False, "initial_apples": 0.5, "horizon": 30},
    ],
)
def test_obs_is_a_crop_of_the_state_and_concepts_match_a_recompute(config):
    seen_removed = False
    for env, out in _rollout(config, steps=60):
        world, state = env.world, env.state
        assert out.obs.dtype == np.uint8 and out.obs.shape == (env.num_envs, env.num_agents, *env.spec.observation.shape)
        assert out.concepts.shape == (env.num_envs, env.num_agents, env.spec.concepts.gt_dim)
        slices = env.spec.concepts.gt_slices
        k = world.config.nearest_k
        for index in range(env.num_envs):
            np.testing.assert_array_equal(out.obs[index], _expected_obs(env, index))
            on_map = state.pos[index][state.removed[index] == 0]
            assert len(set(on_map.tolist())) == on_map.size and not world.geo.wall[on_map].any()
            seen_removed |= bool(state.removed[index].any())
            for viewer in range(env.num_agents):
                c = out.concepts[index, viewer]
                for j in range(env.num_agents):
                    assert c[slices[f"agent_{j}.orientation"]][0] == state.facing[index, j]
                    assert c[slices[f"agent_{j}.removed"]][0] == (state.removed[index, j] > 0)
                apples = c[slices["apple_0.position"].start : slices[f"apple_{k - 1}.position"].stop].reshape(k, 2)
                waste = c[slices["waste_0.position"].start : slices[f"waste_{k - 1}.position"].stop].reshape(k, 2)
                expected_apples = _expected_nearest(world, state, index, viewer, world.geo.orchard, world.apples(state), k)
                expected_waste = _expected_nearest(world, state, index, viewer, world.geo.river, world.waste(state), k)
                np.testing.assert_allclose(apples, expected_apples, rtol=1e-6)
                np.testing.assert_allclose(waste, expected_waste, rtol=1e-6)
                assert c[slices["env.waste_density"]][0] == pytest.approx(world.waste(state)[index].mean())
                assert c[slices["env.apples"]][0] == pytest.approx(world.apples(state)[index].mean())
    if config.get("removal_steps"):
        assert seen_removed, "the rollout should have removed someone"


def test_own_concepts_describe_the_agent():
    env = cleanup.batched_env(2, map=TALL, num_agents=3, view_radius=RADIUS)
    out = env.reset(1)
    slices = env.spec.concepts.gt_slices
    h, w = env.world.cmap.chars.shape
    for index in range(2):
        rows, cols = env.world.geo.row_col(env.state.pos[index])
        for j in range(3):
            pos = out.concepts[index, 0, slices[f"agent_{j}.position"]]
            np.testing.assert_allclose(pos, [cols[j] / (w - 1), rows[j] / (h - 1)])
            in_river = env.world.cmap.chars[rows[j], cols[j]] in (RIVER, WASTE)
            assert out.concepts[index, 1, slices[f"agent_{j}.in_river"]][0] == in_river
        assert (out.concepts[index, :, : 6 * 3] == out.concepts[index, :1, : 6 * 3]).all()  # same for every viewer


def test_spec_describes_the_arrays():
    env = cleanup.batched_env(1)
    spec = env.spec
    assert spec.env_id == "cleanup" and spec.num_agents == 5
    assert spec.observation.shape == (15, 15, 9) and spec.observation.channels == CHANNELS
    assert spec.action_names == ("UP", "RIGHT", "DOWN", "LEFT", "TURN_LEFT", "TURN_RIGHT", "STAY", "FIRE_PENALTY", "FIRE_CLEAN")
    assert spec.event_names == (
        "ate_apple",
        "cleaned",
        "fired_penalty",
        "hit_by_penalty",
        "penalty_hits",
        "fired_clean",
        "entered_river",
        "entered_orchard",
    )
    names = spec.concepts.names
    expected = {"agent_0.position", "agent_4.orientation", "apple_4.position", "waste_0.position", "env.waste_density", "env.apples"}
    assert expected <= set(names)
    assert spec.concepts["agent_2.orientation"].classes == ("up", "right", "down", "left")
    assert spec.concepts.gt_dim == 5 * 6 + 4 * 5 + 2
    assert spec.config["preset"] == "classic" and spec.config["num_agents"] == 5


def test_classic_start_matches_the_reference():
    env = cleanup.batched_env(2)
    out = env.reset(0)
    world = env.world
    assert world.cmap.chars.shape == (25, 18)
    assert len(world.geo.river) == 119 and world.waste(env.state).sum(axis=1).tolist() == [56, 56]
    assert world.apples(env.state).sum() == 0 and len(world.geo.spawns) == 10
    density = out.concepts[0, 0, env.spec.concepts.gt_slices["env.waste_density"]][0]
    assert density == pytest.approx(56 / 119)
    assert world.grow_p[56] == 0.0  # fouled: no apple grows until agents clean


def test_renders():
    env = cleanup.batched_env(1, map="small", num_agents=3)
    env.reset(0)
    frame = env.render_rgb(0)
    assert frame.shape == (9 * 16, 12 * 16, 3) and frame.dtype == np.uint8
    text = env.render_ascii(0)
    lines = text.splitlines()
    assert len(lines) == 10 and all(len(line) == 12 for line in lines[:9])
    assert all(str(j) in text for j in range(3)) and lines[9].startswith("0")
