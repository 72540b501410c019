"""Tiny training runs on the session's 2-node Ray cluster: modules × parameter modes, both samplers,
remote env runners on both nodes, checkpoints → batched policies."""

from __future__ import annotations

import csv

import numpy as np
import pytest

import envs
from marl.loading import load_policy
from marl.train import run_trial
from tests.marl.conftest import tiny_config

pytestmark = pytest.mark.ray


def _rows(trial_dir):
    with (trial_dir / "progress.csv").open() as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize(
    ("policy", "sharing", "extra"),
    [
        ("cbp", "independent", ["model.bottleneck_mode=hard", "ppo.position_loss_scale=300"]),
        ("cbp", "shared", ["model.bottleneck_mode=probs", "model.residual_dim=4"]),
        ("baseline", "independent", []),
        ("baseline", "shared", []),
    ],
)
def test_tiny_run_then_policy_acts(ray_cluster, tmp_path, policy, sharing, extra):
    cfg = tiny_config(*extra, policy=policy, sharing=sharing)
    summary = run_trial(cfg.to_dict(), 3, str(tmp_path / "seed_3"), verbose=False)
    assert summary["iterations"] == 2 and summary["env_steps"] == 200
    rows = _rows(tmp_path / "seed_3")
    assert [int(r["iteration"]) for r in rows] == [1, 2]
    assert float(rows[-1]["episodes"]) == 4  # horizon 20: 4 envs finish one episode per 25 steps
    assert rows[-1]["events/blocked_move"] != "" and rows[-1]["return_mean"] != ""
    modules = ["shared"] if sharing == "shared" else ["agent_0", "agent_1"]
    for m in modules:
        assert rows[-1][f"{m}/total_loss"] != ""
        assert (rows[-1][f"{m}/binary_acc"] != "") == (policy == "cbp")

    env = envs.make_batched("cooking", {"layout": "cramped_room"}, 3, auto_reset=True)
    pol = load_policy(tmp_path / "seed_3", env, seed=0)
    out = env.reset(seed=1)
    po = pol.act(env, out)
    assert po.actions.shape == (3, 2) and po.actions.dtype == np.int64
    again = [load_policy(tmp_path / "seed_3", env, seed=0).act(env, out).actions for _ in range(2)]
    np.testing.assert_array_equal(again[0], again[1])  # seeded sampling
    greedy = load_policy(tmp_path / "seed_3", env, deterministic=True)
    np.testing.assert_array_equal(greedy.act(env, out).actions, greedy.act(env, out).actions)
    if policy == "cbp":
        assert po.concepts.shape == (3, 2, env.spec.concepts.pred_dim)
        assert po.intervened is None
        pol.intervention = lambda z, out: z * 0
        po = pol.act(env, out)
        assert np.all(po.intervened == 0) and np.any(po.concepts != 0)
    else:
        assert po.concepts is None


def test_rllib_default_sampler(ray_cluster, tmp_path):
    cfg = tiny_config("env_config={layout: cramped_room, horizon: 20}", "sampling.sampler=rllib")
    summary = run_trial(cfg.to_dict(), 0, str(tmp_path / "seed_0"), verbose=False)
    assert summary["env_steps"] >= 200
    rows = _rows(tmp_path / "seed_0")
    assert rows[-1]["agent_0/binary_acc"] != "" and rows[-1]["return_mean"] != ""


def test_remote_env_runners_on_both_nodes(ray_cluster):
    import ray

    from marl.algorithm import build_algorithm_config

    # 2 runners x 2 CPUs on two 2-CPU nodes: one runner per node, whatever the scheduler prefers.
    cfg = tiny_config("sampling.num_env_runners=2", "sampling.cpus_per_runner=2")
    algo = build_algorithm_config(cfg, 0).build_algo()
    try:
        nodes = algo.env_runner_group.foreach_env_runner(lambda r: ray.get_runtime_context().get_node_id(), local_env_runner=False)
        assert len(set(nodes)) == 2
        result = algo.train()
        assert algo.env_steps == 2 * 4 * 25
        assert result["ethogram"]["env_steps"] == 200
        algo.train()  # weights synced back to the remote runners, second round samples again
        assert algo.env_steps == 400
    finally:
        algo.stop()


def test_cleanup_five_agents_shared_with_conv_encoder(ray_cluster, tmp_path):
    cfg = tiny_config(
        "env=cleanup",
        "env_config={}",
        "model.conv_channels=[8]",
        "sampling.num_envs_per_runner=2",
        "sampling.rollout_length=10",
        "max_env_steps=20",
        sharing="shared",
    )
    summary = run_trial(cfg.to_dict(), 0, str(tmp_path / "seed_0"), verbose=False)
    assert summary["env_steps"] == 20
    env = envs.make_batched("cleanup", None, 2, auto_reset=True)
    po = load_policy(tmp_path / "seed_0", env, deterministic=True).act(env, env.reset(seed=0))
    assert po.actions.shape == (2, 5) and po.concepts.shape == (2, 5, env.spec.concepts.pred_dim)
