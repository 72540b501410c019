"""A study config is checked whole before anything is written: numeric ranges, intervention windows
against each task's horizon, and malformed YAML, each a named error. No Ray and no weights needed:
planning reads only a checkpoint's ``policy.json``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import envs
from envs.config import ConfigError
from marl.loading import MANIFEST_KEYS, POLICY_FORMAT
from marl.study import load_study, plan_tasks, run_study, study_from_dict


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    """A policy directory holding only the manifest of a cbp policy trained with horizon 20."""
    spec = envs.make_batched("cooking", {"layout": "cramped_room", "horizon": 20}, 1).spec
    manifest = dict.fromkeys(MANIFEST_KEYS, None) | {"format": POLICY_FORMAT, "policy": "cbp", "env_spec": spec.to_json()}
    path = tmp_path / "policy"
    path.mkdir()
    (path / "policy.json").write_text(json.dumps(manifest))
    return path


def _study(checkpoint: Path, **fields) -> dict:
    return {"name": "x", "subjects": [{"name": "s", "checkpoint": str(checkpoint)}], "conditions": {"m": ["all: self.* -> mask"]}, **fields}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("n_resamples", -5, r"n_resamples=-5 is out of range; allowed: \[99, inf\]"),
        ("n_resamples", 10, r"n_resamples=10 is out of range"),
        ("seeds", [0, -1], r"seeds\[1\]=-1 is out of range; allowed: \[0, inf\]"),
        ("episodes", 1, r"episodes=1 is out of range"),
        ("num_envs", 0, r"num_envs=0 is out of range"),
        ("alpha", 1.5, r"alpha=1.5 is out of range"),
    ],
)
def test_numeric_fields_have_ranges(checkpoint, field, value, message):
    with pytest.raises(ConfigError, match=message):
        study_from_dict(_study(checkpoint, **{field: value}))


def test_a_window_past_the_horizon_is_refused_before_anything_is_written(checkpoint, tmp_path):
    cfg = study_from_dict(_study(checkpoint, conditions={"late": ["all: self.* -> mask @ 25:"]}))
    with pytest.raises(ConfigError, match=r"subject 's', condition 'late'.*starts at step 25.*episodes last 20 steps"):
        plan_tasks(cfg, tmp_path / "out")
    with pytest.raises(ConfigError, match="condition 'late'"):
        run_study(cfg, tmp_path / "out", use_ray=False, log=lambda _: None)
    assert not (tmp_path / "out").exists()


def test_the_window_is_checked_against_the_subjects_own_horizon(checkpoint, tmp_path):
    longer = _study(checkpoint, conditions={"late": ["all: self.* -> mask @ 25:"]})
    longer["subjects"][0]["env_config"] = {"horizon": 40}
    tasks = plan_tasks(study_from_dict(longer), tmp_path / "out")
    assert {t["condition"] for t in tasks} == {"control", "late"}
    assert not (tmp_path / "out").exists()


def test_malformed_yaml_is_a_named_error(tmp_path):
    bad = tmp_path / "study.yaml"
    bad.write_text("name: x\nsubjects: [unclosed\n")
    with pytest.raises(ConfigError, match=r"study\.yaml: not valid YAML .*line"):
        load_study(bad)
    bad.write_text(yaml.safe_dump(["a", "list"]))
    with pytest.raises(ConfigError, match=r"study\.yaml: expected a mapping"):
        load_study(bad)
