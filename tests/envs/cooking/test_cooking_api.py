"""The two faces: PettingZoo conformance, seeding, spaces, observations, concepts and bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test, parallel_seed_test

from envs import make_batched, make_parallel, make_scripted
from envs.config import ConfigError
from envs.cooking import LAYOUTS, Action, Item, batched_env, parallel_env
from envs.cooking.paths import floor_regions
from envs.cooking.tables import counter_code
from envs.spec import ABSENT, EnvSpec


def _random_rollout(env, steps: int, seed: int) -> list:
    rng = np.random.default_rng(seed)
    return [env.reset(seed=seed)] + [env.step(rng.integers(0, 6, (env.num_envs, 2))) for _ in range(steps)]


def test_pettingzoo_api():
    parallel_api_test(parallel_env(layout="cramped_room", horizon=60), num_cycles=200)
    parallel_api_test(parallel_env(layout="forced_coordination", obs_mode="global", horizon=60), num_cycles=100)


def test_pettingzoo_seed():
    parallel_seed_test(lambda: parallel_env(layout="cramped_room", horizon=60), num_cycles=100)


def test_pettingzoo_seed_with_random_starts():
    parallel_seed_test(lambda: parallel_env(layout="coordination_ring", horizon=40, random_start=True), num_cycles=60)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_random_starts_are_distinct_seeded_and_keep_each_agent_in_its_region(layout):
    env = batched_env(64, layout=layout, random_start=True)
    env.reset(seed=5)
    tb = env.world.tables
    pos, dirs = env.state.pos.copy(), env.state.dir.copy()
    region = dict(zip(*(a.tolist() for a in floor_regions(tb)), strict=True))
    assert (pos[:, 0] != pos[:, 1]).all() and set(dirs.ravel().tolist()) == {0, 1, 2, 3}
    for i in range(2):
        assert {region[c] for c in pos[:, i].tolist()} == {region[int(tb.starts[i])]}
        assert len(set(pos[:, i].tolist())) > 1
    env.reset(seed=5)
    np.testing.assert_array_equal(env.state.pos, pos)
    np.testing.assert_array_equal(env.state.dir, dirs)
    env.reset(seed=6)
    assert (env.state.pos != pos).any()
    fixed = batched_env(2, layout=layout)  # the default: the drawn start cells, facing up
    fixed.reset(seed=5)
    assert (fixed.state.pos == tb.starts).all() and (fixed.state.dir == Action.UP).all()


def test_auto_reset_draws_new_random_starts():
    env = batched_env(16, auto_reset=True, layout="cramped_room", horizon=2, random_start=True)
    env.reset(seed=0)
    first = env.state.pos.copy()
    for _ in range(2):
        env.step(np.full((16, 2), Action.STAY))
    assert (env.state.pos != first).any() and (env.state.pos[:, 0] != env.state.pos[:, 1]).all()


def test_same_seed_same_trajectory():
    a = _random_rollout(batched_env(4, auto_reset=True, layout="coordination_ring", horizon=30), 70, seed=3)
    b = _random_rollout(batched_env(4, auto_reset=True, layout="coordination_ring", horizon=30), 70, seed=3)
    for x, y in zip(a, b, strict=True):
        for name in ("obs", "rewards", "events", "concepts", "t"):
            np.testing.assert_array_equal(getattr(x, name), getattr(y, name))


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("mode", ["egocentric", "global"])
def test_one_env_and_batched_paths_agree(layout, mode):
    """K = 1 runs a scalar fast path: it must match the batched path step for step."""
    single = batched_env(1, layout=layout, obs_mode=mode, shaping=True)
    batch = batched_env(3, layout=layout, obs_mode=mode, shaping=True)
    single.reset(seed=0)
    batch.reset(seed=0)
    rng = np.random.default_rng(1)
    for _ in range(150):
        actions = rng.choice([0, 1, 2, 3, 5, 5], size=(3, 2))  # interact often so items pile up
        a, b = single.step(actions[:1]), batch.step(actions)
        for name in ("obs", "rewards", "events", "concepts"):
            np.testing.assert_array_equal(getattr(a, name)[0], getattr(b, name)[0], err_msg=name)


def test_spaces_are_exact():
    env = parallel_env(layout="cramped_room", cook_time=20)
    space = env.observation_space("agent_0")
    assert space.shape == (5, 5, 22) and space.dtype == np.uint8 and int(space.high.max()) == 20
    assert env.observation_space("agent_0") is env.observation_space("agent_0")
    assert env.action_space("agent_1").n == len(Action) == 6
    assert parallel_env(cook_time=2).observation_space("agent_0").high.max() == 3  # pot count 0..3
    outs = _random_rollout(batched_env(8, layout="cramped_room", cook_time=5), 200, seed=0)
    assert max(out.obs.max() for out in outs) == 5  # the high is reached


def test_observation_channels_and_non_square_global_view():
    env = batched_env(1, layout="wide_room", obs_mode="global")
    out = env.reset(seed=0)
    spec = env.spec
    ch = spec.observation.channels
    assert out.obs.shape == (1, 2, 4, 7, len(ch))
    assert ch[:6] == ("counter", "pot", "onion_dispenser", "dish_dispenser", "serving", "outside")
    obs = out.obs[0]
    for i, (r, c) in enumerate(env.world.config.layout_obj.starts):
        assert obs[i, r, c, ch.index("self")] == 1 and obs[i, r, c, ch.index("self_facing_up")] == 1
        assert obs[1 - i, r, c, ch.index("other")] == 1
    assert obs[0, :, :, ch.index("pot")].sum() == 2 and obs[0, 0, 3, ch.index("pot")] == 1


def test_each_channel_stays_within_its_declared_high():
    env = batched_env(8, layout="cramped_room", obs_mode="global", horizon=200)
    planner = make_scripted(env, "planner")
    out = env.reset(seed=3)
    planner.reset(env, np.ones(env.num_envs, dtype=bool))
    seen = out.obs.max(axis=(0, 1, 2, 3))
    for _ in range(200):
        out = env.step(planner.act(env, out).actions)
        seen = np.maximum(seen, out.obs.max(axis=(0, 1, 2, 3)))
    highs = np.array(env.spec.observation.highs())
    ch = env.spec.observation.channels
    assert (seen <= highs).all()
    assert highs.max() == env.spec.observation.high == env.world.tables.cook_time
    for name in ("pot_count", "pot_cooked", "soup", "counter"):  # the planner cooks, so the counts and timers peak
        assert seen[ch.index(name)] == highs[ch.index(name)] > 0, name


def test_egocentric_view_is_a_crop_of_the_global_view():
    ego = batched_env(6, layout="counter_circuit", view_size=5)
    glob = batched_env(6, layout="counter_circuit", obs_mode="global")
    e_outs, g_outs = _random_rollout(ego, 80, seed=5), _random_rollout(glob, 80, seed=5)
    ch = ego.spec.observation.channels
    h, w = 5, 8
    for e_out, g_out in zip(e_outs[::7], g_outs[::7], strict=True):
        padded = np.zeros((6, 2, h + 4, w + 4, len(ch)), dtype=np.uint8)
        padded[..., ch.index("outside")] = 1
        padded[:, :, 2:-2, 2:-2] = g_out.obs
        for k in range(6):
            for i in range(2):
                conc = e_out.concepts[k, i, ego.spec.concepts.gt_slices[f"agent_{i}.position"]]
                r, c = round(conc[1] * (h - 1)), round(conc[0] * (w - 1))
                crop = padded[k, i, r : r + 5, c : c + 5]
                # the teammate outside the window is not drawn in the crop either
                np.testing.assert_array_equal(e_out.obs[k, i], crop)


def test_concepts_follow_the_state():
    env = batched_env(1, layout="cramped_room")
    out = env.reset(seed=0)
    cs = env.spec.concepts
    gt = out.concepts[0, 0]
    assert out.concepts.shape == (1, 2, cs.gt_dim)
    np.testing.assert_array_equal(out.concepts[0, 0], out.concepts[0, 1])
    np.testing.assert_allclose(gt[cs.gt_slices["agent_0.position"]], [1 / 4, 2 / 3])  # (row 2, col 1) of 4 x 5
    np.testing.assert_allclose(gt[cs.gt_slices["serving_0.position"]], [3 / 4, 1.0])
    assert gt[cs.gt_slices["agent_1.orientation"]] == Action.UP
    assert (gt[cs.gt_slices["counter_onion_0.position"]] == ABSENT).all()
    names = cs.names
    assert {"pot_0.count", "pot_0.progress", "onion_dispenser_1.position", "counter_soup_2.position"} <= set(names)
    assert cs["pot_0.count"].classes == ("0", "1", "2", "3") and cs["agent_0.orientation"].kind == "categorical"
    env.state.hold[0, 1] = Item.DISH
    tables = env.world.tables
    for col in (0, 4):  # dishes on the counters at (2, 0) and (2, 4)
        env.state.cells[0, tables.flat(2, col)] = counter_code(Item.DISH)
    out = env.step(np.array([[Action.STAY, Action.STAY]]))
    gt = out.concepts[0, 1]
    assert gt[cs.gt_slices["agent_1.holding_dish"]] == 1 and gt[cs.gt_slices["agent_1.holding_onion"]] == 0
    np.testing.assert_allclose(gt[cs.gt_slices["counter_dish_0.position"]], [0.0, 2 / 3])
    np.testing.assert_allclose(gt[cs.gt_slices["counter_dish_1.position"]], [1.0, 2 / 3])
    assert (gt[cs.gt_slices["counter_dish_2.position"]] == ABSENT).all()


def test_facade_infos_rendering_and_registry():
    env = make_parallel("cooking", {"layout": "cramped_room"}, render_mode="rgb_array")
    _, infos = env.reset(seed=1)
    assert infos["agent_0"]["concepts"].shape == (env.spec.concepts.gt_dim,)
    _, rewards, _, _, infos = env.step({"agent_0": Action.INTERACT, "agent_1": Action.LEFT})
    assert infos["agent_1"]["events"].shape == (len(env.spec.events),) and rewards == {"agent_0": 0.0, "agent_1": 0.0}
    frame = env.render()
    assert frame.shape == (4 * 24, 5 * 24, 3) and frame.dtype == np.uint8
    text = make_parallel("cooking", {"layout": "cramped_room"}, render_mode="ansi")
    text.reset(seed=0)
    assert text.render().splitlines()[0] == "XXPXX" and "agent_1 at (1,3) facing up" in text.render()
    assert EnvSpec.from_json(env.spec.to_json()) == env.spec
    assert make_batched("cooking", {"layout": "tall_room"}, num_envs=2).reset(seed=0).obs.shape[:2] == (2, 2)


def test_bad_inputs_are_refused():
    env = batched_env(2)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"shaped \(num_envs, num_agents\) = \(2, 2\)"):
        env.step(np.zeros((2, 3), dtype=np.int64))
    with pytest.raises(ValueError, match=r"action 6 out of range; valid: 0..5"):
        env.step(np.full((2, 2), 6))
    with pytest.raises(ValueError, match="must be integers"):
        env.step(np.zeros((2, 2), dtype=np.float32))
    with pytest.raises(ConfigError, match="unknown field"):
        batched_env(1, colour="red")
    with pytest.raises(ConfigError, match="choose one of"):
        parallel_env(layout="nowhere")
    with pytest.raises(ConfigError, match="random_start='yes' must be true or false"):
        batched_env(1, random_start="yes")
