"""The experiment pipeline end to end (tiny budgets) on the session's Ray cluster, and its config errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from envs.config import ConfigError
from experiments.cli import main
from experiments.config import ExperimentConfig, load_experiment, train_config
from experiments.stages import evenly_spaced
from marl.study import load_study
from tests.marl.conftest import TINY

PROJECT = Path(__file__).resolve().parents[2]


def _tiny_experiment(tmp_path: Path) -> Path:
    overrides = dict(item.split("=", 1) for item in TINY)
    train = {k: yaml.safe_load(v) for k, v in overrides.items() if "." not in k}
    train.update(
        {
            "model": {"hidden": [32], "head_hidden": [16]},
            "ppo": {"num_epochs": 1, "num_minibatches": 2},
            "sampling": {"num_envs_per_runner": 4, "rollout_length": 25},
            "max_env_steps": 300,
        }
    )
    data = {
        "name": "tiny",
        "runs": [{"name": "cbp", "set": train}, {"name": "base", "set": {**train, "policy": "baseline"}}],
        "eval_episodes": 4,
        "gif_max_frames": 10,
        "study": {
            "conditions": {"mask_teammates": ["all: teammates.* -> mask"]},
            "runs": ["cbp"],
            "planted": [{"name": "planted_idle", "seats": {"agent_1": "scripted:idle"}}],
            "probes": ["idle"],
            "seeds": [0],
            "episodes": 3,
            "num_envs": 3,
            "n_resamples": 199,
        },
        "behaviour": {"checkpoints": 2, "episodes": 4, "num_envs": 4, "analyze_args": ["--epochs", "1", "--window", "8", "--stride", "4"]},
    }
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.ray
def test_experiment_cli_runs_every_stage_and_resumes(ray_cluster, tmp_path, capsys):
    path = _tiny_experiment(tmp_path)
    out = tmp_path / "run"
    assert main(["experiment", str(path), "--out", str(out)]) == 0
    journal = json.loads((out / "experiment.json").read_text())
    assert journal["finished"] and journal["versions"]["torch"].startswith("2.")
    assert {s: journal["stages"][s]["status"] for s in ("train", "evaluate", "study", "behaviour")} == dict.fromkeys(
        ("train", "evaluate", "study", "behaviour"), "done"
    )
    for run in ("cbp", "base"):
        result = json.loads((out / "train" / run / "seed_0" / "eval.json").read_text())
        assert result["episodes"] == 4 and result["env_config"]["shaping"] is False
        assert (result["concept_accuracy"] is None) == (run == "base")
        if run == "cbp":  # every concept's held-out figure; positions in cells
            per = result["concept_accuracy"]["per_concept"]
            assert per["agent_0.position"]["kind"] == "position" and per["agent_0.position"]["error_cells"] >= 0
            assert 0 <= per["agent_1.orientation"]["accuracy"] <= 1
        assert (out / "media" / f"{run}_seed0.gif").read_bytes()[:6] == b"GIF89a"
    summary = json.loads((out / "study" / "summary.json").read_text())
    # baselines have no concepts to intervene on; the planted variant seats an idle agent_1 in the same trial
    assert [s["subject"] for s in summary["subjects"]] == ["cbp_seed0", "cbp_seed0_planted_idle"]
    planted = summary["subjects"][1]
    assert "agent_1=scripted:idle" in planted["policy"] and "idle:agent_0" in planted["conditions"]
    assert "concepts it touches" in (out / "report.html").read_text()
    assert {r["agent"] for r in summary["subjects"][0]["roles"]} == {"agent_0", "agent_1"}
    assert (out / "behaviour" / "analysis" / "summary.json").exists()
    roles = json.loads((out / "behaviour" / "analysis" / "roles.json").read_text())
    assert set(roles["role_events"]) == {"cook", "server", "runner"} and roles["units"] > 0
    assert len(list((out / "behaviour" / "datasets" / "cbp_seed0").glob("iter_*"))) == 2
    # a rerun resumes: training is complete, evaluations are current
    assert main(["experiment", str(path), "--out", str(out)]) == 0
    journal = json.loads((out / "experiment.json").read_text())
    assert journal["stages"]["evaluate"]["status"] == "skipped" and len(journal["commands"]) == 1
    assert "resuming cbp" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["quickstart", "cooking_coordination", "cleanup_social"])
def test_shipped_experiment_configs_are_valid(name, tmp_path):
    cfg, base = load_experiment(PROJECT / "experiments" / f"{name}.yaml")
    assert cfg.study and cfg.behaviour
    for spec in cfg.runs:  # every run's training config builds and validates
        assert train_config(spec, base, tmp_path, cfg.defaults).max_env_steps > 0


def test_shipped_study_config_is_valid():
    cfg = load_study(PROJECT / "experiments" / "study_coordination.yaml")
    assert len(cfg.subjects) == 4 and "mask_teammates" in cfg.conditions


def test_experiment_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="at least one run"):
        ExperimentConfig(name="x", runs=())
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"name": "x", "runs": [{"name": "a"}], "behaviour": {"run": "b"}}))
    with pytest.raises(ConfigError, match=r"behaviour\.run='b' is not allowed; choose one of: a"):
        load_experiment(path)
    path.write_text(yaml.safe_dump({"name": "x", "runs": [{"name": "a", "sett": {}}]}))
    with pytest.raises(ConfigError, match=r"unknown field\(s\) sett; allowed: name, config, set"):
        load_experiment(path)
    path.write_text(yaml.safe_dump({"name": "x", "runs": [{"name": "a"}], "study": {"runs": ["b"]}}))
    with pytest.raises(ConfigError, match=r"study\.runs=\['b'\] is not allowed; choose among: a"):
        load_experiment(path)
    path.write_text(yaml.safe_dump({"name": "x", "runs": [{"name": "a"}], "study": {"planted": [{"name": "p"}]}}))
    with pytest.raises(ConfigError, match=r"study\.planted entries need a name and seats"):
        load_experiment(path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_experiment(tmp_path / "missing.yaml")


def test_evenly_spaced_keeps_the_last():
    assert evenly_spaced(list(range(10)), 3) == [0, 4, 9] or evenly_spaced(list(range(10)), 3) == [0, 5, 9]
    assert evenly_spaced([1, 2], 5) == [1, 2]
