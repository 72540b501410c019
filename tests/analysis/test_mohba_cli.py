"""`ethogram analyze` end to end on tiny datasets recorded from scripted cooking teams."""

from __future__ import annotations

import json

import pytest

from analysis.dataset import PolicyInfo
from experiments.cli import main
from marl.record import record


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """Three 'checkpoints' (iterations 0, 1, 2) of short cramped_room episodes, observations stored."""
    root = tmp_path_factory.mktemp("mohba_data")
    paths = []
    for it, team in enumerate(["planner,idle", "planner,idle", "ingredient,dish"]):
        path = root / f"it{it}"
        info = PolicyInfo(kind="scripted", name=f"scripted:{team}", iteration=it)
        record("cooking", {"horizon": 48}, f"scripted:{team}", 6, path, seed=it, num_envs=6, policy_info=info, progress=False)
        paths.append(str(path))
    return paths


def test_analyze_writes_model_tables_and_figures(checkpoints, tmp_path, capsys):
    out = tmp_path / "analysis"
    argv = ["analyze", *checkpoints, "--out", str(out), "--epochs", "3", "--window", "16", "--stride", "16", "--hidden", "16"]
    assert main([*argv, "--k-max", "4", "--concepts", "2", "--label", "dispersion"]) == 0
    printed = capsys.readouterr().out
    assert "epoch" in printed and "done" in printed
    for name in (
        "model/model.safetensors",
        "model/model.json",
        "clusters_joint.csv",
        "clusters_local.csv",
        "linking.json",
        "profiles.json",
    ):
        assert (out / name).is_file(), name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["episodes"] == 18 and summary["units"] == 18
    assert summary["changes"] is not None  # three iterations: occupancy over checkpoints was analysed
    assert (out / "figures" / "occupancy_joint.png").is_file()
    assert "agent 0's stored view" in " ".join(summary["figures"]) or (out / "figures" / "examples.png").is_file()
    header = (out / "clusters_local.csv").read_text().splitlines()[0].split(",")
    assert header[:8] == ["unit", "window", "episode_id", "source", "policy", "condition", "iteration", "agent"]


def test_analyze_reports_bad_input(tmp_path, capsys):
    assert main(["analyze", str(tmp_path / "nothing"), "--out", str(tmp_path / "o")]) == 2
    assert "error" in capsys.readouterr().err
