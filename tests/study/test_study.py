"""Controlled studies end to end on tiny trained policies of both worlds, on the 2-node cluster."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from envs.config import ConfigError
from experiments.cli import main
from marl.study import expand_conditions, load_study, run_study, study_from_dict

pytestmark = pytest.mark.ray


def _write(tmp_path, policy, **extra):
    data = {
        "name": "tiny",
        "subjects": [{"name": "s", "checkpoint": str(policy)}],
        "seeds": [0, 1],
        "episodes": 4,
        "num_envs": 2,
        "n_resamples": 999,
        **extra,
    }
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_cooking_study_cli_spreads_over_both_nodes_and_matches_local_run(tiny_policies, tmp_path, capsys):
    conditions = {
        "mask_teammates": ["all: teammates.* -> mask"],
        "shuffle_pots": ["all: pot*.* -> shuffle"],
        "oracle": ["agent_0: objects.* -> oracle"],
    }
    path = _write(tmp_path, tiny_policies["cooking"], conditions=conditions, probes=["own", "about"])
    assert main(["study", str(path), "--out", str(tmp_path / "ray")]) == 0
    printed = capsys.readouterr().out
    assert "s: control team return" in printed and "(mask_teammates)" in printed and "study written to" in printed
    summary = json.loads((tmp_path / "ray" / "summary.json").read_text())
    subject = summary["subjects"][0]
    assert set(subject["conditions"]) == {
        "control",
        *conditions,
        "own:agent_0",
        "own:agent_1",
        "about:agent_0>agent_1",
        "about:agent_1>agent_0",
    }
    assert subject["episodes"] == 8 * 8 and {f["detector"] for f in subject["findings"]} == {"coordination", "lazy_agent"}
    for figure in subject["figures"].values():
        assert (tmp_path / "ray" / figure).stat().st_size > 1000
    nodes = {t["node"] for t in json.loads((tmp_path / "ray" / "study.json").read_text())["tasks"]}
    assert len(nodes) == 2, "tasks should land on both nodes of the cluster"
    # the same study run in-process, one task after another, gives the same episodes and effects
    run_study(load_study(path), tmp_path / "local", use_ray=False, log=lambda _: None)
    for name in ("outcomes.csv", "effects.csv"):
        ray_table = pd.read_csv(tmp_path / "ray" / "analysis" / "s" / name)
        local_table = pd.read_csv(tmp_path / "local" / "analysis" / "s" / name)
        pd.testing.assert_frame_equal(ray_table, local_table)


def test_cleanup_study_end_to_end(tiny_policies, tmp_path):
    path = _write(
        tmp_path,
        tiny_policies["cleanup"],
        conditions={"mask_others": ["agent_0: teammates.* -> mask"]},
        probes=["own"],
        seeds=[0],
        episodes=3,
        dependency_outcome="ate_apple_{agent}",
    )
    summary = run_study(load_study(path), tmp_path / "out", log=lambda _: None)
    subject = summary["subjects"][0]
    assert subject["env_id"] == "cleanup" and len(subject["agents"]) == 5
    assert len([c for c in subject["conditions"] if c.startswith("own:")]) == 5
    effects = pd.read_csv(tmp_path / "out" / "effects.csv")
    assert {"ate_apple_agent_0", "team_return"} <= set(effects["outcome"])


def test_study_config_errors(tiny_policies, tmp_path):
    policy = str(tiny_policies["cooking"])
    with pytest.raises(ConfigError, match=r"unknown field.*colour"):
        study_from_dict({"name": "x", "subjects": [{"name": "s", "checkpoint": policy}], "colour": 1})
    with pytest.raises(ConfigError, match="probes='teammates' is not allowed; choose one of: own, about, idle"):
        study_from_dict({"name": "x", "subjects": [{"name": "s", "checkpoint": policy}], "probes": ["teammates"]})
    with pytest.raises(ConfigError, match="reserved for the control"):
        study_from_dict({"name": "x", "subjects": [{"name": "s", "checkpoint": policy}], "conditions": {"control": []}})
    with pytest.raises(ConfigError, match="at least one subject"):
        study_from_dict({"name": "x", "subjects": []})
    bad = _write(tmp_path, policy, conditions={"typo": ["all: teammate.* -> mask"]})
    with pytest.raises(ValueError, match="matches nothing"):
        run_study(load_study(bad), tmp_path / "bad", use_ray=False, log=lambda _: None)


def test_baseline_subject_runs_only_the_control(tiny_policies, tmp_path):
    import shutil

    from marl.loading import policy_manifest

    copy = tmp_path / "baseline"
    shutil.copytree(tiny_policies["cooking"], copy)
    for policy_json in copy.glob("checkpoints/iter_*/policy/policy.json"):
        policy_json.write_text(json.dumps({**json.loads(policy_json.read_text()), "policy": "baseline"}))
    assert policy_manifest(copy)["policy"] == "baseline"
    with pytest.raises(ValueError, match="baseline policy without concepts: only the control and idle: probes can run"):
        run_study(load_study(_write(tmp_path, copy, probes=["own"])), tmp_path / "out", use_ray=False)


def test_checkpoints_times_envs_expand_into_subjects(tiny_policies):
    cfg = study_from_dict(
        {
            "name": "x",
            "checkpoints": [{"name": "a", "path": str(tiny_policies["cooking"])}, {"name": "b", "path": str(tiny_policies["cooking"])}],
            "envs": [{"name": "short", "config": {"horizon": 10}}, {"name": "long", "config": {"horizon": 30}}],
            "probes": ["about"],
        }
    )
    assert [s.name for s in cfg.subjects] == ["a-short", "a-long", "b-short", "b-long"]
    assert list(expand_conditions(cfg, ("agent_0", "agent_1"))) == ["control", "about:agent_0>agent_1", "about:agent_1>agent_0"]


def test_rollout_intervene_records_both_bottlenecks(tiny_policies, tmp_path):
    import numpy as np

    from analysis.dataset import load, open_dataset

    policy = f"checkpoint:{tiny_policies['cooking']}"
    common = [
        "rollout",
        "--env",
        "cooking",
        "--set",
        "horizon=20",
        "--policy",
        policy,
        "--episodes",
        "2",
        "--num-envs",
        "2",
        "--no-progress",
    ]
    assert main([*common, "--out", str(tmp_path / "control")]) == 0
    line = "agent_1: teammates.position -> shuffle"
    assert (
        main(
            [
                *common,
                "--out",
                str(tmp_path / "shuffled"),
                "--intervene",
                line,
                "--reference",
                str(tmp_path / "control"),
                "--condition",
                "shuffle_pos",
            ]
        )
        == 0
    )
    manifest = open_dataset(tmp_path / "shuffled").manifest
    assert manifest.condition.id == "shuffle_pos" and json.loads(manifest.condition.spec) == [line]
    assert manifest.policy.kind == "checkpoint" and manifest.intervened
    eps = load(tmp_path / "shuffled", fields=("predicted", "intervened"))
    concepts = eps.spec.concepts
    moved = concepts.pred_slices["agent_0.position"]
    assert np.any(eps.intervened[..., 1, moved] != eps.predicted[..., 1, moved])  # agent_1's view of agent_0 shuffled
    np.testing.assert_array_equal(eps.intervened[..., 0, :], eps.predicted[..., 0, :])  # agent_0 untouched
    assert (
        main(
            [
                "rollout",
                "--env",
                "cooking",
                "--policy",
                "scripted:planner",
                "--episodes",
                "1",
                "--out",
                str(tmp_path / "x"),
                "--intervene",
                "all: self.* -> mask",
            ]
        )
        == 2
    )
