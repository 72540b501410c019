"""Studies analyse exactly what they plan, refuse duplicate seeds, and survive being moved.

A rerun with fewer seeds, fewer conditions or fewer episodes must not count the datasets (or the
episodes) of the earlier run; a run directory copied or moved whole must resume as it was.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from analysis.dataset import DatasetError, open_dataset
from analysis.study import analyze_study
from envs.config import ConfigError
from experiments.cli import main
from marl.study import load_study, run_study, study_from_dict

pytestmark = pytest.mark.ray

QUIET = {"log": lambda _: None}


def _study(path: Path, checkpoint: Path, **fields) -> Path:
    data = {
        "name": "tiny",
        "subjects": [{"name": "s", "checkpoint": str(checkpoint)}],
        "conditions": {"mask_teammates": ["all: teammates.* -> mask"], "mask_self": ["all: self.* -> mask"]},
        "seeds": [0, 1],
        "episodes": 4,
        "num_envs": 2,
        "n_resamples": 99,
        **fields,
    }
    path.write_text(yaml.safe_dump(data))
    return path


def test_rerun_with_fewer_seeds_conditions_and_episodes_analyses_only_the_plan(tiny_policies, tmp_path):
    out = tmp_path / "out"
    full = _study(tmp_path / "full.yaml", tiny_policies["cooking"])
    summary = run_study(load_study(full), out, use_ray=False, **QUIET)
    assert summary["subjects"][0]["episodes"] == 3 * 2 * 4
    # the same directory, one seed, one condition and two episodes fewer: the old datasets stay on disk
    small = _study(tmp_path / "small.yaml", tiny_policies["cooking"], conditions={"mask_teammates": ["all: teammates.* -> mask"]})
    summary = run_study(load_study(small, {"seeds": [0], "episodes": 2}), out, use_ray=False, **QUIET)
    subject = summary["subjects"][0]
    assert subject["episodes"] == 2 * 1 * 2
    assert set(subject["conditions"]) == {"control", "mask_teammates"}
    table = pd.read_csv(out / "analysis" / "s" / "outcomes.csv")
    assert len(table) == 4 and set(table["condition"]) == {"control", "mask_teammates"}
    assert set(pd.read_csv(out / "effects.csv")["condition"]) == {"mask_teammates"}
    plan = json.loads((out / "study.json").read_text())
    assert sorted((t["condition"], t["seed"], t["episodes"]) for t in plan["tasks"]) == [("control", 0, 2), ("mask_teammates", 0, 2)]
    assert (out / "datasets" / "s" / "mask_self" / "seed_1").is_dir(), "the old datasets are left alone, only not read"
    # the analysis alone, from the directory, reads the same plan
    again = analyze_study(out, n_resamples=99, **QUIET)
    assert again["subjects"][0]["episodes"] == 4


def test_analysis_refuses_a_planned_dataset_that_lacks_episodes(tiny_policies, tmp_path):
    out = tmp_path / "out"
    only_control = load_study(_study(tmp_path / "c.yaml", tiny_policies["cooking"], seeds=[0], conditions={}))
    with pytest.raises(ConfigError, match="subject 's': only the control would run; add conditions or probes"):
        run_study(only_control, out, use_ray=False, **QUIET)
    assert not out.exists()
    one = {"mask_teammates": ["all: teammates.* -> mask"]}
    run_study(load_study(_study(tmp_path / "s.yaml", tiny_policies["cooking"], seeds=[0], conditions=one)), out, use_ray=False, **QUIET)
    plan = json.loads((out / "study.json").read_text())
    for task in plan["tasks"]:
        task["episodes"] = 6  # more than were recorded
    (out / "study.json").write_text(json.dumps(plan))
    with pytest.raises(DatasetError, match=r"control/seed_0.*holds 4 of the 6 planned episodes"):
        analyze_study(out, n_resamples=99, **QUIET)


def test_duplicate_seeds_are_refused_before_anything_is_written(tiny_policies, tmp_path, capsys):
    subjects = [{"name": "s", "checkpoint": str(tiny_policies["cooking"])}]
    with pytest.raises(ConfigError, match=r"seeds must not repeat a seed; 0 appears more than once in \[0, 0\]"):
        study_from_dict({"name": "x", "subjects": subjects, "seeds": [0, 0]})
    path = _study(tmp_path / "s.yaml", tiny_policies["cooking"])
    out = tmp_path / "out"
    assert main(["study", str(path), "--out", str(out), "--local", "--set", "seeds=[0,1,0,1]"]) == 2
    assert "seeds must not repeat a seed; 0, 1 appear more than once" in capsys.readouterr().err
    assert not out.exists()


def test_a_moved_run_directory_resumes_its_study(tiny_policies, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_policies["cooking"], run / "train" / "cbp" / "seed_0")
    cfg = {"seeds": [0], "conditions": {"mask_teammates": ["all: teammates.* -> mask"]}}
    first = run_study(load_study(_study(run / "s.yaml", run / "train" / "cbp" / "seed_0", **cfg)), run / "study", use_ray=False, **QUIET)
    dataset = run / "study" / "datasets" / "s" / "control" / "seed_0"
    stored = open_dataset(dataset).manifest.policy.checkpoint
    assert stored == "../../../../../train/cbp/seed_0", "relative to the dataset directory"
    plan = json.loads((run / "study" / "study.json").read_text())
    assert {s["checkpoint"] for s in plan["config"]["subjects"]} == {"../train/cbp/seed_0"}
    assert all(not Path(t["path"]).is_absolute() and not Path(t["checkpoint"]).is_absolute() for t in plan["tasks"])
    moved = tmp_path / "elsewhere" / "run"
    moved.parent.mkdir()
    shutil.move(run, moved)
    second = run_study(
        load_study(_study(moved / "s.yaml", moved / "train" / "cbp" / "seed_0", **cfg)), moved / "study", use_ray=False, **QUIET
    )
    assert second["subjects"][0]["episodes"] == first["subjects"][0]["episodes"] == 2 * 4
    table = pd.read_csv(moved / "study" / "analysis" / "s" / "outcomes.csv")
    assert len(table) == 8
