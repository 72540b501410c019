"""The experiment's stages on a rerun: complete checkpoints only, and nothing stale read or kept as current."""

from __future__ import annotations

import json
import shutil

import pytest

from analysis.dataset import open_dataset
from analysis.report.collect import read_behaviour
from experiments import stages
from experiments.config import BehaviourSpec, ExperimentConfig, RunSpec
from experiments.stages import evenly_spaced
from tests.marl.test_hardening_loading import copy_with_half_written

pytestmark = pytest.mark.ray

ANALYZE = ("--epochs", "1", "--window", "8", "--stride", "4")
QUIET = {"log": lambda _: None}


def test_behaviour_records_complete_checkpoints_and_reads_only_what_it_planned(tiny_policies, tmp_path):
    trial = copy_with_half_written(tiny_policies["cooking"], tmp_path / "train")
    out = tmp_path / "out"
    trials = {"cbp": {0: trial}}

    def behaviour(checkpoints: int, episodes: int) -> str:
        spec = BehaviourSpec(checkpoints=checkpoints, episodes=episodes, num_envs=2, analyze_args=ANALYZE)
        return stages.behaviour(ExperimentConfig(name="x", runs=(RunSpec("cbp"),), behaviour=spec), trials, out, **QUIET)

    assert behaviour(2, 4) == "2 checkpoint(s) of cbp seed 0"  # iter_000003 is half-written: never recorded
    datasets = out / "behaviour" / "datasets" / "cbp_seed0"
    assert sorted(p.name for p in datasets.iterdir()) == ["iter_000001", "iter_000002"]
    # a rerun with one checkpoint and fewer episodes: the analysis and the report see only those
    assert behaviour(1, 2) == "1 checkpoint(s) of cbp seed 0"
    (kept,) = evenly_spaced(["iter_000001", "iter_000002"], 1)
    assert open_dataset(datasets / kept).num_episodes == 2
    assert json.loads((out / "behaviour" / "analysis" / "summary.json").read_text())["episodes"] == 2
    problems: list[str] = []
    found = read_behaviour(out, problems)
    assert [(d.path, d.episodes) for d in found.datasets] == [(f"cbp_seed0/{kept}", 2)] and problems == []


def test_evaluation_is_redone_when_its_settings_change(tiny_policies, tmp_path):
    trials = {"cbp": {0: tmp_path / "seed_0"}}
    shutil.copytree(tiny_policies["cooking"], trials["cbp"][0])

    def evaluate(episodes: int) -> str:
        cfg = ExperimentConfig(name="x", runs=(RunSpec("cbp"),), eval_episodes=episodes, gif=False)
        return stages.evaluate(cfg, trials, tmp_path / "out", **QUIET)

    assert evaluate(2) == "1 trial(s) evaluated"
    assert evaluate(2) == "skipped: every trial already evaluated"
    assert evaluate(3) == "1 trial(s) evaluated"
    assert json.loads((trials["cbp"][0] / "eval.json").read_text())["episodes"] == 3
