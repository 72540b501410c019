"""Cleanup's faces and contracts: PettingZoo API and seeding, determinism, golden trajectory, presets, bad input."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test, parallel_seed_test

import envs
import envs.cleanup as cleanup
from envs.config import ConfigError, config_from_dict, config_to_dict

GOLDEN = Path(__file__).with_name("golden_small.json")
SMALL = {"map": "small", "num_agents": 3, "horizon": 40}


def test_pettingzoo_parallel_api():
    env = cleanup.parallel_env(**SMALL)
    parallel_api_test(env, num_cycles=60)
    obs, infos = env.reset(seed=3)
    assert set(obs) == {"agent_0", "agent_1", "agent_2"}
    assert env.observation_space("agent_0").contains(obs["agent_0"])
    assert infos["agent_1"]["concepts"].shape == (env.spec.concepts.gt_dim,)


def test_pettingzoo_parallel_seed():
    parallel_seed_test(lambda: cleanup.parallel_env(**SMALL), num_cycles=40)


def test_registry_builds_cleanup():
    env = envs.make_batched("cleanup", {"preset": "meltingpot", "num_agents": 4}, num_envs=2)
    assert env.num_agents == 4 and env.world.config.removal_steps == 50
    facade = envs.make_parallel("cleanup", {"map": "small", "num_agents": 2}, render_mode="ansi")
    facade.reset(seed=0)
    assert "0" in facade.render()


def _trajectory(seed: int, k: int = 3, steps: int = 80, **config):
    env = cleanup.batched_env(k, auto_reset=True, **{**SMALL, **config})
    rng = np.random.default_rng(123)
    out = env.reset(seed)
    frames = [(out.obs, out.concepts)]
    for _ in range(steps):
        out = env.step(rng.integers(0, env.num_actions, size=(k, env.num_agents)))
        frames.append((out.obs, out.rewards, out.events, out.concepts, out.t))
    return frames


def test_same_seed_same_trajectory_and_other_seeds_differ():
    a, b, c = _trajectory(7), _trajectory(7), _trajectory(8)
    for fa, fb in zip(a, b, strict=True):
        for x, y in zip(fa, fb, strict=True):
            np.testing.assert_array_equal(x, y)
    assert any(not np.array_equal(fa[0], fc[0]) for fa, fc in zip(a, c, strict=True))


def _digest(config: dict, seed: int, steps: int) -> dict:
    env = cleanup.batched_env(2, **config)
    rng = np.random.default_rng(seed)
    out = env.reset(seed)
    h = hashlib.sha256()
    rewards, events = [], np.zeros(len(env.spec.events), dtype=np.int64)
    for _ in range(steps):
        out = env.step(rng.integers(0, env.num_actions, size=(2, env.num_agents)))
        h.update(out.obs.tobytes())
        h.update(out.concepts.tobytes())
        rewards.append(out.rewards.sum(axis=1).tolist())
        events += out.events.sum(axis=(0, 1), dtype=np.int64)
    return {"rewards": rewards, "events": events.tolist(), "obs_concepts_sha256": h.hexdigest(), "final": env.render_ascii(0).splitlines()}


def _dumps(golden: dict) -> str:
    """One line per key (the final map one line per row), so diffs stay readable."""
    items = [f"  {json.dumps(k)}: {json.dumps(v, indent=4 if k == 'final' else None)}" for k, v in golden.items()]
    return "{\n" + ",\n".join(items) + "\n}\n"


def test_golden_trajectory():
    """A fixed rollout on the small map; ETHOGRAM_REGOLD=1 rewrites the file after a deliberate rule change."""
    config = {"map": "small", "num_agents": 4, "apple_growth": 0.2, "initial_apples": 0.3, "removal_steps": 3, "penalty_cooldown": 1}
    got = _digest(config, seed=11, steps=60)
    if os.environ.get("ETHOGRAM_REGOLD") == "1" or not GOLDEN.exists():
        GOLDEN.write_text(_dumps(got))
        if os.environ.get("ETHOGRAM_REGOLD") != "1":
            pytest.fail(f"{GOLDEN.name} was missing and has been written; commit it")
    want = json.loads(GOLDEN.read_text())
    assert got["rewards"] == want["rewards"]
    assert got["events"] == want["events"]
    assert got["final"] == want["final"]
    assert got["obs_concepts_sha256"] == want["obs_concepts_sha256"]


@pytest.mark.parametrize("preset", ["classic", "meltingpot", "concept_paper"])
def test_presets_build_step_and_round_trip(preset):
    config = cleanup.Config(preset=preset)
    assert config_from_dict(cleanup.Config, config_to_dict(config)) == config
    env = cleanup.batched_env(2, preset=preset)
    env.reset(0)
    for _ in range(3):
        out = env.step(np.full((2, env.num_agents), cleanup.Action.FIRE_PENALTY))
    assert out.rewards.shape == (2, config.num_agents)


def test_preset_constants():
    classic, mp, paper = (cleanup.Config(preset=p) for p in ("classic", "meltingpot", "concept_paper"))
    assert (classic.num_agents, classic.beam_length, classic.penalty_fine, classic.removal_steps) == (5, 5, 50.0, 0)
    assert (classic.apple_growth, classic.depletion_threshold, classic.waste_spawn_prob, classic.horizon) == (0.05, 0.4, 0.5, 1000)
    assert (mp.num_agents, mp.beam_length, mp.removal_steps, mp.waste_start_step, mp.penalty_fine) == (7, 3, 50, 50, 0.0)
    assert (paper.apple_growth, paper.depletion_threshold, paper.waste_spawn_prob, paper.waste_start_step) == (0.1, 0.75, 0.25, 100)
    assert (paper.apple_reward, paper.clean_reward) == (0.1, 0.005)
    assert cleanup.Config(preset="meltingpot", num_agents=5).num_agents == 5
    coerced = cleanup.Config(horizon=np.int64(7), apple_growth=1, waste_from_map=np.bool_(False))
    assert (type(coerced.horizon), type(coerced.apple_growth), type(coerced.waste_from_map)) == (int, float, bool)


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"preset": "harvest"}, r"preset='harvest' is not allowed; choose one of: classic, meltingpot, concept_paper"),
        ({"map": "nowhere"}, r"map='nowhere' is not allowed; choose one of: classic, small"),
        ({"map": "@@@@\n@P P@\n@@@@"}, r"row 1 has 5 characters, row 0 has 4"),
        ({"map": "@@@@\n@PX@\n@@@@", "num_agents": 2}, r"unknown character 'X' at row 1, column 2"),
        ({"map": "@@@@\n@P @\n@@@@"}, r"1 spawn points \('P'\) for num_agents=5"),
        ({"num_agents": 11}, r"num_agents=11 is out of range"),
        ({"beam_width": 2}, r"beam_width=2 must be odd"),
        ({"depletion_threshold": 0.0}, r"must be above restoration_threshold"),
        ({"bogus": 1}, r"unknown field\(s\) bogus; allowed: preset, num_agents"),
        ({"horizon": 2.5}, r"horizon=2.5 must be an integer"),
        ({"waste_from_map": "no"}, r"waste_from_map='no' must be true or false"),
    ],
)
def test_bad_configs_are_refused_clearly(config, match):
    with pytest.raises(ConfigError, match=match):
        cleanup.batched_env(1, **config)


def test_bad_actions_are_refused_clearly():
    env = cleanup.batched_env(2, map="small", num_agents=2)
    env.reset(0)
    with pytest.raises(ValueError, match=r"shaped \(num_envs, num_agents\) = \(2, 2\)"):
        env.step(np.zeros((2, 3), dtype=np.int64))
    with pytest.raises(ValueError, match=r"action 9 out of range; valid: 0..8"):
        env.step(np.full((2, 2), 9))
    with pytest.raises(ValueError, match=r"shaped"):
        env.step(np.zeros((2, 2), dtype=np.float32))


def test_scenario_helpers_refuse_bad_cells():
    env = cleanup.batched_env(1, map="small", num_agents=2)
    env.reset(0)
    with pytest.raises(ValueError, match="on a wall or two agents on one cell"):
        env.world.place_agents(env.state, 0, {0: (0, 0, 0)})
    with pytest.raises(ValueError, match="not an orchard cell"):
        env.world.set_item(env.state, 0, 1, 1, "apple")
    with pytest.raises(ValueError, match="outside the 9x12 map"):
        env.world.set_item(env.state, 0, 20, 1, "waste")
