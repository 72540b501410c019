"""The PettingZoo adapter end to end on MPE simple_spread: ``ethogram train`` (cbp, shared) on the
example config, a checkpoint policy recorded by ``ethogram rollout``, ``ethogram analyze`` on it;
the worked experiment (``experiments/mpe_spread.yaml``) validated and run at a tiny scale."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from experiments.cli import main
from experiments.config import load_experiment, train_config
from experiments.mpe_spread import ENV_CONFIG

pytest.importorskip("mpe2")
pytestmark = pytest.mark.ray

CONFIG = Path(__file__).parents[2] / "experiments" / "train_mpe_spread.yaml"
EXPERIMENT = CONFIG.with_name("mpe_spread.yaml")
TINY = ["model.hidden=[32]", "model.head_hidden=[16]", "ppo.num_epochs=1", "ppo.num_minibatches=2"]
TINY += ["sampling.num_envs_per_runner=4", "sampling.rollout_length=25", "max_env_steps=300", "checkpoint_every=1"]


def test_train_rollout_and_analyze_on_mpe(ray_cluster, tmp_path):
    run = tmp_path / "train"
    sets = [x for item in [*TINY, f"out_dir={run}"] for x in ("--set", item)]
    assert main(["train", str(CONFIG), *sets]) == 0
    with (run / "seed_0" / "progress.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [int(r["iteration"]) for r in rows] == [1, 2, 3]  # 3 iterations of 4 envs x 25 steps
    assert float(rows[-1]["episodes"]) == 4 and rows[-1]["return_mean"] != ""
    for metric in ("binary_acc", "categorical_acc", "regression_mse"):
        assert rows[-1][f"shared/{metric}"] != ""
    assert rows[-1]["events/collided"] != "" and rows[-1]["events/covering"] != ""
    data = tmp_path / "data"
    argv = ["rollout", "--env", "pettingzoo", "--policy", f"checkpoint:{run / 'seed_0'}", "--episodes", "4", "--num-envs", "4"]
    sets = [x for k, v in ENV_CONFIG.items() for x in ("--set", f"{k}={json.dumps(v)}")]
    assert main([*argv, "--out", str(data), "--no-progress", *sets]) == 0
    manifest = json.loads((data / "manifest.json").read_text())
    assert manifest["env"]["env_id"] == "pettingzoo" and manifest["policy"]["kind"] == "checkpoint"
    assert manifest["env"]["config"]["entry_point"] == ENV_CONFIG["entry_point"] and manifest["env"]["config"]["vectorised"]
    report = tmp_path / "analysis"
    argv = ["analyze", str(data), "--out", str(report), "--epochs", "2", "--window", "8", "--stride", "8", "--hidden", "16"]
    assert main([*argv, "--k-max", "3", "--concepts", "2"]) == 0
    assert json.loads((report / "summary.json").read_text())["episodes"] == 4


def test_mpe_experiment_runs_every_stage(ray_cluster, tmp_path):
    cfg, base = load_experiment(EXPERIMENT)
    assert cfg.study and cfg.behaviour and [r.name for r in cfg.runs] == ["spread_cbp", "spread_baseline"]
    for spec in cfg.runs:  # every run's training config builds and validates
        assert train_config(spec, base, tmp_path, cfg.defaults).env == "pettingzoo"
    sets = [f"defaults.{item}" for item in TINY] + ["defaults.seeds=[0]", "eval_episodes=4"]
    sets += ["study.episodes=4", "study.num_envs=4", "study.n_resamples=99", "study.seeds=[0]", "behaviour.episodes=4"]
    sets += ['behaviour.analyze_args=["--epochs","2","--window","8","--stride","4","--hidden","16"]']
    out = tmp_path / "run"
    assert main(["experiment", str(EXPERIMENT), "--out", str(out), *(x for s in sets for x in ("--set", s))]) == 0
    journal = json.loads((out / "experiment.json").read_text())
    assert journal["finished"] and all(stage["status"] == "done" for stage in journal["stages"].values())
    summary = (out / "summary.md").read_text()
    assert "spread_cbp_seed0_planted_idle" in summary and "idle:agent_2" in summary and "mask_covered_by" in summary
