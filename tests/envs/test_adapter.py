"""The PettingZoo adapter (``envs.pettingzoo``): a user's ParallelEnv behind the batched face.

Layers: the batched-env invariants (shapes, dtypes, seeding, auto-reset, horizon) on a toy env and
on MPE simple_spread; vectorised concept functions and the example's ParallelEnv equal to the plain
path; the PettingZoo faces over it; each refused case named; the MPE example's concepts against
MPE's own state; a recording that loads, and ``ethogram analyze`` on it.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test

import envs
from envs.config import ConfigError
from envs.pettingzoo import AdapterError
from envs.spec import VECTOR_MODE

pytest.importorskip("mpe2")
from experiments import mpe_spread

TOY = {
    "entry_point": "tests.envs.adapter_toys:line",
    "declare": "tests.envs.adapter_toys:declare",
    "concepts": "tests.envs.adapter_toys:concepts",
    "events": "tests.envs.adapter_toys:events",
    "horizon": 6,
    "action_names": ["stay", "left", "right"],
}
VECTORISED = {"vectorised": True, "concepts": "tests.envs.adapter_toys:concepts_batch", "events": "tests.envs.adapter_toys:events_batch"}
MPE = mpe_spread.ENV_CONFIG
MPE2 = "mpe2.simple_spread_v3:parallel_env"
MPE_PLAIN = {**MPE, "entry_point": MPE2, "vectorised": False}
MPE_PLAIN |= {"concepts": "experiments.mpe_spread:concepts", "events": "experiments.mpe_spread:events"}
"""The example as a user first writes it: mpe2's own parallel_env, one env per concept and event call."""


def _episodes(env_id: str, config: dict, seed: int, steps: int) -> list[np.ndarray]:
    env = envs.make_batched(env_id, config, 3, auto_reset=True)
    rng = np.random.default_rng(1)
    out = env.reset(seed=seed)
    frames = [out.obs, out.concepts]
    for _ in range(steps):
        out = env.step(rng.integers(0, env.num_actions, (3, env.num_agents)))
        frames += [out.obs, out.concepts, out.rewards, out.events, out.done]
    return frames


@pytest.mark.parametrize("config", [TOY, MPE], ids=["toy", "mpe"])
def test_batched_face_shapes_seeding_and_auto_reset(config):
    env = envs.make_batched("pettingzoo", config, 3, auto_reset=True)
    spec = env.spec
    assert spec.env_id == "pettingzoo" and spec.config["entry_point"] == config["entry_point"]
    assert spec.observation.mode == VECTOR_MODE and spec.observation.shape[:2] == (1, 1)
    n, d, c, h = env.num_agents, spec.observation.shape[-1], spec.concepts.gt_dim, env.horizon
    out = env.reset(seed=3)
    assert out.obs.shape == (3, n, 1, 1, d) and out.obs.dtype == np.uint8 and out.concepts.shape == (3, n, c)
    assert env.global_state().shape == (3, 1, 1, n * d) and env.render_rgb(0).shape == (64, 64, 3) and env.render_ascii(0)
    for step in range(1, 2 * h + 1):
        out = env.step(np.random.default_rng(step).integers(0, env.num_actions, (3, n)))
        assert out.rewards.shape == (3, n) and out.events.shape == (3, n, len(spec.events)) and out.events.dtype == np.uint8
        assert out.truncated.all() == (step % h == 0) and not out.terminated.any()
        assert (out.t == step % h).all() and (out.final_obs is not None) == (step % h == 0)
    a, b = _episodes("pettingzoo", config, 5, 2 * h), _episodes("pettingzoo", config, 5, 2 * h)
    other = _episodes("pettingzoo", config, 6, h)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, other, strict=False))


def test_toy_values_pass_through_exactly():
    env = envs.make_batched("pettingzoo", TOY, 2)
    out = env.reset(seed=0)
    world = env.world
    for k, inner in enumerate(env.state.envs):
        pos = inner.pos
        values = world.obs_low[:2] + out.obs[k, :, 0, 0, :].astype(float) * world.obs_scale[:2]
        np.testing.assert_allclose(values, [[pos[0], pos[1]], [pos[1], pos[0]]], atol=world.obs_scale[0] / 2 + 1e-9)  # 0..6 in 255 codes
        assert out.concepts[k, 0].tolist() == out.concepts[k, 1].tolist()  # (D,) broadcast to every agent
    out = env.step(np.full((2, 2), 2))
    for k, inner in enumerate(env.state.envs):
        assert out.rewards[k].tolist() == [float(p == 6) for p in inner.pos] and out.events[k, :, 0].tolist() == out.rewards[k].tolist()


@pytest.mark.parametrize(("fast", "plain"), [(TOY | VECTORISED, TOY), (MPE, MPE_PLAIN)], ids=["toy", "mpe"])
def test_vectorised_functions_and_the_example_env_change_nothing(fast, plain):
    """Vectorised concept and event functions (and, for MPE, the example's own ParallelEnv over mpe2's raw env)
    give the same observations, rewards, episode ends, concepts and events as the one-env path, bit for bit."""
    a, b = _episodes("pettingzoo", fast, 5, 60), _episodes("pettingzoo", plain, 5, 60)
    assert all(x.dtype == y.dtype and np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_the_example_parallel_env_steps_as_mpe2s_own():
    from mpe2 import simple_spread_v3

    kwargs = MPE["env_kwargs"]
    parallel_api_test(mpe_spread.parallel_env(**kwargs), num_cycles=30)
    ours, theirs = mpe_spread.parallel_env(**kwargs), simple_spread_v3.parallel_env(**kwargs)
    rng = np.random.default_rng(0)
    for seed in (0, 1):
        pairs = [(ours.reset(seed=seed), theirs.reset(seed=seed))]
        while theirs.agents:
            assert ours.agents == theirs.agents
            actions = {agent: int(rng.integers(5)) for agent in theirs.agents}
            pairs.append((ours.step(actions), theirs.step(actions)))
        assert not ours.agents and len(pairs) == 1 + kwargs["max_cycles"]
        for mine, reference in pairs:
            obs, *rest = mine
            assert obs.keys() == reference[0].keys() and all(np.array_equal(obs[a], reference[0][a]) for a in obs)
            assert [dict(x) for x in rest] == [dict(x) for x in reference[1:]]  # rewards, terminations, truncations, infos
    ours.reset(seed=0)
    with pytest.raises(ValueError, match=r"action 5 is outside Discrete\(5\)"):
        ours.step(dict.fromkeys(ours.agents, 5))


def test_parallel_and_aec_faces_and_the_id_shorthand():
    parallel_api_test(envs.make_parallel("pettingzoo", TOY), num_cycles=20)
    config = {k: v for k, v in MPE.items() if k != "entry_point"}
    env = envs.make_batched("pettingzoo:mpe2.simple_spread_v3:parallel_env", config)
    assert env.spec.env_id == "pettingzoo" and env.spec.config["entry_point"] == MPE2
    assert envs.canonical_env_id("pettingzoo_v0") == "pettingzoo"
    with pytest.raises(ConfigError, match="names entry point"):
        envs.make_config("pettingzoo:mpe2.simple_spread_v3:parallel_env", {**config, "entry_point": "tests.envs.adapter_toys:line"})
    with pytest.raises(ConfigError, match="pettingzoo:MODULE:CALLABLE"):
        envs.canonical_env_id("pettingzoo:mpe2.simple_spread_v3")


def _refusal(**changes) -> str:
    with pytest.raises((AdapterError, ConfigError)) as info:
        env = envs.make_batched("pettingzoo", {**TOY, **changes}, 2)
        env.reset(seed=0)
        for _ in range(TOY["horizon"]):
            env.step(np.zeros((2, 2), np.int64))
    return str(info.value)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"entry_point": "tests.envs.adapter_toys:line_aec"}, "returned an AEC env .*aec_to_parallel"),
        ({"env_kwargs": {"continuous": True}}, r"action space is Box.*Discrete\(n\).*continuous_actions: false"),
        ({"env_kwargs": {"dict_obs": True}}, "observation space is Dict.*Box observations only"),
        ({"env_kwargs": {"leave_at": 2}}, r"agents \['agent_1'\] ended at step 2 while \['agent_0'\] go on"),
        ({"env_kwargs": {"truncate_at": 3}}, "truncated its episode at step 3, before the adapter's horizon 6"),
        ({"concepts": "tests.envs.adapter_toys:concepts_wrong_shape"}, r"returned shape \(6,\); expected \(2, 7\) or \(7,\)"),
        ({"concepts": "tests.envs.adapter_toys:concepts_not_binary"}, "concept agent_0.on_goal = 2 is not binary"),
        ({"concepts": "tests.envs.adapter_toys:concepts_bad_class"}, r"env.leader = 3 is not a class index; expected an integer in 0..2"),
        ({"concepts": "tests.envs.adapter_toys:concepts_half_absent"}, "agent_0.position = -1 is not a position coordinate"),
        ({"events": "tests.envs.adapter_toys:events_wrong_shape"}, r"returned shape \(2, 3\); expected \(2, 1\)"),
        ({"events": "tests.envs.adapter_toys:events_out_of_range"}, r"returned \[\[25\d\], \[25\d\]\]; event counts must be integers"),
        (VECTORISED | {"concepts": "tests.envs.adapter_toys:concepts_batch_wrong_shape"}, r"\(1, 6\); expected \(1, 2, 7\) or \(1, 7\)"),
        (VECTORISED | {"events": "tests.envs.adapter_toys:events_batch_one_env"}, r"shape \(2, 1\); expected \(2, 2, 1\): per env"),
        ({"declare": "tests.envs.adapter_toys:declare_nothing"}, "returned dict; expected envs.pettingzoo.Declaration"),
        ({"declare": "tests.envs.adapter_toys:declare_no_events"}, "give an events function exactly when"),
        ({"entry_point": "no_such_module:f"}, "cannot import 'no_such_module'"),
        ({"concepts": "tests.envs.adapter_toys"}, "must be MODULE:NAME"),
        ({"action_names": ["a", "b"]}, r"names 2 actions; the env has Discrete\(3\)"),
        ({"obs_range": [1.0, 1.0]}, "high must be above low"),
    ],
)
def test_refusals_name_the_problem(changes, message):
    text = _refusal(**changes)
    assert re.search(message, text), text


def test_terminating_together_ends_the_episode_and_unbounded_boxes_need_a_range():
    env = envs.make_batched("pettingzoo", {**TOY, "env_kwargs": {"terminate_at": 2}}, 2)
    env.reset(seed=0)
    assert not env.step(np.zeros((2, 2), np.int64)).done.any()
    out = env.step(np.zeros((2, 2), np.int64))
    assert out.terminated.all() and not out.truncated.any()
    with pytest.raises(ConfigError, match=r"unbounded.*set obs_range"):
        envs.make_batched("pettingzoo", {**MPE, "obs_range": []})


def test_mpe_concepts_follow_the_mpe_world():
    env = envs.make_batched("pettingzoo", MPE, 2)
    out = env.reset(seed=0)
    spec = env.spec.concepts
    rng = np.random.default_rng(0)
    for _ in range(10):
        out = env.step(rng.integers(0, 5, (2, 3)))
    for k, inner in enumerate(env.state.envs):
        world = inner.unwrapped.world
        x, y = out.concepts[k, 1, spec.gt_slices["landmark_2.position"]]
        np.testing.assert_allclose([x, y], (world.landmarks[2].state.p_pos + 1.5) / 3, atol=1e-6)
        x, y = out.concepts[k, 0, spec.gt_slices["agent_1.position"]]
        np.testing.assert_allclose([x, y], np.clip((world.agents[1].state.p_pos + 1.5) / 3, 0, 1), atol=1e-6)
        dist = [np.linalg.norm(a.state.p_pos - world.landmarks[0].state.p_pos) for a in world.agents]
        expected = 0 if min(dist) >= 0.1 else 1 + int(np.argmin(dist))
        assert out.concepts[k, 2, spec.gt_slices["landmark_0.covered_by"]][0] == expected
    assert env.spec.grid == (31, 31) and env.spec.event_names == ("collided", "covering") and env.spec.team_reward == "mean"


def test_a_random_team_records_a_dataset_that_loads_and_analyze_runs(tmp_path):
    from analysis.dataset import load
    from experiments.cli import main

    out = tmp_path / "mpe"
    argv = ["rollout", "--env", "pettingzoo:mpe2.simple_spread_v3:parallel_env", "--policy", "scripted:random", "--episodes", "8"]
    sets = [x for k, v in MPE.items() if k != "entry_point" for x in ("--set", f"{k}={json.dumps(v)}")]
    assert main([*argv, "--num-envs", "4", "--out", str(out), "--no-progress", *sets]) == 0
    eps = load(out, fields=("actions", "rewards", "concepts", "events", "obs"))
    assert eps.spec.env_id == "pettingzoo" and eps.spec.config["entry_point"] == MPE2
    assert eps.obs.shape == (8, 25, 3, 1, 1, 18) and eps.concepts.shape == (8, 25, 3, 18) and eps.mask.all()
    assert eps.truncated[:, -1].all() and eps.events.shape == (8, 25, 3, 2)
    report = tmp_path / "analysis"
    argv = ["analyze", str(out), "--out", str(report), "--epochs", "2", "--window", "8", "--stride", "8", "--hidden", "16"]
    assert main([*argv, "--k-max", "3", "--concepts", "2"]) == 0
    summary = json.loads((report / "summary.json").read_text())
    assert summary["episodes"] == 8 and (report / "figures" / "examples.png").is_file()
