"""The recorder on both worlds: exact round trips (replayed in the env), resume, policies, CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from analysis.dataset import DatasetError, load, open_dataset
from envs import PolicyOutput, make_batched
from experiments.cli import main as cli
from marl.record import batch_seeds, record, resolve_policy

WORLDS = {
    "cooking": ({"layout": "forced_coordination", "horizon": 16}, "scripted:planner"),
    "cleanup": ({"map": "small", "horizon": 12}, "scripted:cleaner,cleaner,harvester,harvester,punisher"),
}


def _replay(path, fields=("actions", "rewards", "concepts", "events", "obs")):
    """Step a fresh env with the recorded actions: every recorded array must come back exactly."""
    ds = open_dataset(path)
    m = ds.manifest
    eps = load(path, fields=fields)
    k = m.seeds["num_envs"]
    env = make_batched(m.env.env_id, m.env.config, k, auto_reset=True)
    for b in range(eps.num_episodes // k):
        rows = slice(b * k, (b + 1) * k)
        out = env.reset(seed=batch_seeds(m.seeds["seed"], b)[0])
        for t in range(eps.horizon):
            np.testing.assert_array_equal(out.concepts, eps.concepts[rows, t])
            if eps.obs is not None:
                np.testing.assert_array_equal(out.obs, eps.obs[rows, t])
            out = env.step(eps.actions[rows, t].astype(np.int64))
            np.testing.assert_array_equal(out.rewards, eps.rewards[rows, t])
            np.testing.assert_array_equal(out.events, eps.events[rows, t])
            np.testing.assert_array_equal(out.truncated, eps.truncated[rows, t])
    return eps


@pytest.mark.parametrize("env_id", list(WORLDS))
def test_round_trip_replays_exactly(env_id, tmp_path):
    config, policy = WORLDS[env_id]
    res = record(env_id, config, policy, 4, tmp_path / "d", seed=3, num_envs=2, progress=False)
    assert res.episodes == res.recorded == 4
    eps = _replay(tmp_path / "d")
    assert eps.lengths.tolist() == [config["horizon"]] * 4
    assert eps.truncated[:, -1].all() and not eps.truncated[:, :-1].any()
    m = open_dataset(tmp_path / "d").manifest
    assert m.policy.kind == "scripted" and m.policy.name.startswith("scripted:") and m.policy.iteration == -1
    assert m.seeds["seed"] == 3 and m.seeds["num_envs"] == 2 and m.env.config[next(iter(config))] == next(iter(config.values()))
    assert eps.actions.min() >= 0 and eps.actions.max() < len(m.env.action_names)


def test_same_seed_same_episodes_and_no_obs(tmp_path):
    config, policy = WORLDS["cooking"]
    record("cooking", config, policy, 3, tmp_path / "a", seed=1, num_envs=2, progress=False)
    record("cooking", config, policy, 3, tmp_path / "b", seed=1, num_envs=2, progress=False, store_obs=False)
    a, b = load(tmp_path / "a"), load(tmp_path / "b")
    for name in ("actions", "rewards", "concepts", "events"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert open_dataset(tmp_path / "b").manifest.obs_storage == "none"


def test_resume_completes_a_partial_batch_and_refuses_other_settings(tmp_path):
    config, policy = WORLDS["cooking"]
    opts = {"seed": 5, "num_envs": 2, "progress": False, "batches_per_shard": 1}
    record("cooking", config, policy, 3, tmp_path / "d", **opts)
    res = record("cooking", config, policy, 6, tmp_path / "d", **opts)
    assert res.skipped_shards == 1 and res.recorded == 4 and res.episodes == 6
    record("cooking", config, policy, 6, tmp_path / "fresh", **opts)
    a, b = load(tmp_path / "d", fields=("actions", "obs")), load(tmp_path / "fresh", fields=("actions", "obs"))
    np.testing.assert_array_equal(a.actions, b.actions)
    np.testing.assert_array_equal(a.obs, b.obs)
    again = record("cooking", config, policy, 6, tmp_path / "d", **opts)
    assert again.recorded == 0 and again.episodes == 6
    with pytest.raises(DatasetError, match=r"seeds\.seed: 5 \(existing\) vs 6 \(new\)"):
        record("cooking", config, policy, 6, tmp_path / "d", **{**opts, "seed": 6})
    with pytest.raises(DatasetError, match=r"env\.config\.horizon"):
        record("cooking", {**config, "horizon": 17}, policy, 6, tmp_path / "d", **opts)
    with pytest.raises(DatasetError, match=r"seeds\.batches_per_shard"):
        record("cooking", config, policy, 6, tmp_path / "d", **{**opts, "batches_per_shard": 2})


class ConceptTeam:
    """A random policy with a bottleneck: concepts are the obs mean, intervened their negation."""

    name = "fake-bottleneck"
    iteration = 7

    def __init__(self) -> None:
        self.rng = np.random.default_rng(0)

    def seed(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def reset(self, env, mask) -> None:
        pass

    def act(self, env, out) -> PolicyOutput:
        k, n = env.num_envs, env.num_agents
        pred = np.broadcast_to(out.obs.mean(axis=(2, 3, 4))[..., None], (k, n, env.spec.concepts.pred_dim)).astype(np.float32)
        return PolicyOutput(actions=self.rng.integers(0, env.num_actions, (k, n)), concepts=pred, intervened=-pred)


def test_predicted_and_intervened_concepts_are_recorded(tmp_path):
    config, _ = WORLDS["cooking"]
    record("cooking", config, ConceptTeam(), 2, tmp_path / "d", num_envs=2, condition="flip", progress=False)
    m = open_dataset(tmp_path / "d").manifest
    assert m.predicted and m.intervened and m.policy.name == "fake-bottleneck" and m.policy.iteration == 7
    eps = load(tmp_path / "d", fields=("obs", "predicted", "intervened"))
    assert eps.predicted.shape[-1] == m.env.concepts.pred_dim and eps.condition.tolist() == ["flip", "flip"]
    np.testing.assert_allclose(eps.predicted[..., 0], eps.obs.mean(axis=(3, 4, 5)), rtol=1e-6)
    np.testing.assert_array_equal(eps.intervened, -eps.predicted)


def test_resolve_policy_errors(monkeypatch):
    env = make_batched("cooking", {"horizon": 4}, 1)
    with pytest.raises(ValueError, match="scripted:ROLE"):
        resolve_policy("planner", env)
    with pytest.raises(ValueError, match="scripted role"):
        resolve_policy("scripted:nonsense", env)
    monkeypatch.setitem(sys.modules, "marl.loading", None)
    with pytest.raises(ValueError, match=r"needs marl\.loading\.load_policy"):
        resolve_policy("checkpoint:/nowhere", env)


def test_record_imports_neither_torch_nor_ray():
    code = "import sys, marl.record, experiments.commands.rollout; print([m for m in ('torch', 'ray') if m in sys.modules])"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert res.stdout.strip() == "[]"


def test_cli_rollout_and_data_info(tmp_path, capsys):
    out = tmp_path / "x"
    argv = ["rollout", "--env", "cooking", "--layout", "forced_coordination", "--policy", "scripted:planner"]
    argv += ["--episodes", "2", "--num-envs", "2", "--set", "horizon=10", "--out", str(out), "--no-progress"]
    assert cli(argv) == 0
    assert "2 episodes" in capsys.readouterr().out
    assert cli(["data", "info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "episodes  2 in 1 shards" in text and "agent_0, agent_1" in text and "return    team mean" in text
    assert "delivered" in text and "pot_0.count" in text and "conditions baseline: 2" in text
    assert cli(["data", "info", "--json", str(out)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["episodes"] == 2 and info["env"] == "cooking" and info["config"]["layout"] == "forced_coordination"
    assert set(info["events"]) == set(open_dataset(out).manifest.env.event_names)
    assert cli(["data", "info", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert (
        cli(["rollout", "--env", "cooking", "--policy", "scripted:planner", "--episodes", "1", "--out", str(out), "--set", "nope=1"]) == 2
    )
    assert "unknown field(s) nope" in capsys.readouterr().err
