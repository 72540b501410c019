"""`ethogram analyze` end to end on tiny datasets recorded from scripted cooking teams; `--model`,
`--recluster` and `ethogram rollout --iteration` through the command line."""

from __future__ import annotations

import csv
import hashlib
import json

import pytest

from analysis.dataset import PolicyInfo, open_dataset
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


TINY = ["--epochs", "3", "--window", "16", "--stride", "16", "--hidden", "16", "--k-max", "3", "--concepts", "0"]


def _rollout(out, iteration=None, env="cooking", policy="scripted:planner,idle"):
    argv = ["rollout", "--env", env, "--set", "horizon=48", "--policy", policy, "--episodes", "6", "--num-envs", "6"]
    argv += ["--no-obs", "--no-progress", "--out", str(out)] + ([] if iteration is None else ["--iteration", str(iteration)])
    assert main(argv) == 0


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def tagged(tmp_path_factory):
    """Two recordings tagged as training iterations 0 and 5 by `ethogram rollout --iteration`, and a run on both."""
    root = tmp_path_factory.mktemp("tagged")
    paths = [root / "it0", root / "it5"]
    _rollout(paths[0], 0)
    _rollout(paths[1], 5, policy="scripted:ingredient,dish")
    assert main(["analyze", *map(str, paths), "--out", str(root / "run"), *TINY, "--k-joint", "2", "--k-local", "3"]) == 0
    return [str(p) for p in paths], root / "run"


def test_rollout_iteration_tags_the_recording_and_analyze_tracks_it(tagged, tmp_path, capsys):
    paths, run = tagged
    assert [open_dataset(p).manifest.policy.iteration for p in paths] == [0, 5]
    assert json.loads((run / "changepoints.json").read_text())["joint"]["iterations"] == [0, 5]
    training = json.loads((run / "summary.json").read_text())["training"]
    assert training["epochs_cap"] == 3 and training["hit_budget"] is True  # 3 epochs cannot converge
    assert main(["analyze", paths[1], "--out", str(tmp_path / "one"), *TINY, "--epochs", "2"]) == 0
    assert "warning: training reached the epoch cap (2 epochs)" in capsys.readouterr().out


def test_model_places_the_training_data_as_the_run_did(tagged, tmp_path):
    paths, run = tagged
    with (run / "clusters_local.csv").open() as f:
        assert len({row["cluster"] for row in csv.DictReader(f)}) == 3  # the units are spread over the saved clusters
    for i, model in enumerate((run, run / "model")):  # the run's --out or its model/ folder
        out = tmp_path / f"again{i}"
        assert main(["analyze", *paths, "--model", str(model), "--out", str(out), "--concepts", "0"]) == 0
        for name in ("clusters_joint.csv", "clusters_local.csv", "profiles.json", "linking.json"):
            assert (out / name).read_text() == (run / name).read_text(), name
        assert _sha(out / "model" / "model.safetensors") == _sha(run / "model" / "model.safetensors")
        assert json.loads((out / "summary.json").read_text())["training"]["clusters"] == "saved"


def test_recluster_keeps_the_weights_and_takes_the_new_k(tagged, tmp_path):
    paths, run = tagged
    weights = _sha(run / "model" / "model.safetensors")
    argv = ["analyze", *paths, "--model", str(run / "model"), "--recluster", "--k-joint", "3", "--k-local", "2"]
    assert main([*argv, "--cluster-method", "kmeans", "--concepts", "0", "--out", str(tmp_path / "re")]) == 0
    summary = json.loads((tmp_path / "re" / "summary.json").read_text())
    assert (summary["k_joint"], summary["k_local"], summary["training"]["clusters"]) == (3, 2, "fitted")
    assert _sha(run / "model" / "model.safetensors") == weights == _sha(tmp_path / "re" / "model" / "model.safetensors")
    clusters = json.loads((tmp_path / "re" / "model" / "clusters.json").read_text())
    assert (clusters["joint"]["k"], clusters["local"]["method"]) == (3, "kmeans")


def test_model_and_recluster_refuse_bad_input_before_writing(tagged, tmp_path, capsys):
    paths, run = tagged
    out = tmp_path / "out"
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [
        (["--model", str(empty)], [str(empty), "model.json", "model.safetensors"]),
        (["--recluster"], ["--recluster", "--model"]),
        (["--model", str(run), "--k-joint", "2"], ["--k-joint", "--recluster"]),
    ]
    for extra, words in cases:
        assert main(["analyze", *paths, *extra, "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert all(w in err for w in words), (extra, err)
    _rollout(tmp_path / "cleanup", env="cleanup", policy="scripted:random")
    assert main(["analyze", str(tmp_path / "cleanup"), "--model", str(run), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "cooking" in err and "cleanup" in err
    assert not out.exists()
