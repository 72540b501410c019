"""``ethogram experiment`` checks every run's resolved training config and the study and behaviour
sections before stage 1: nothing is written and Ray is not started (issue 13)."""

from __future__ import annotations

import pytest
import yaml

from envs.config import ConfigError
from experiments.cli import main
from experiments.config import load_experiment
from experiments.pipeline import run_experiment
from tests.experiments.test_pipeline import _tiny_experiment


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("defaults.seeds=5", r"run 'cbp': seeds=5 must be a list of integers"),
        ("defaults.max_time_s=-5", r"run 'cbp': max_time_s=-5\.0 is out of range"),
        ("defaults.model.conv_channels=abc", r"run 'cbp': model\.conv_channels='abc' must be a list of integers"),
        ("defaults.env_config.cook_time=-1", r"run 'cbp': env_config \(cooking\): cook_time=-1 is out of range"),
        ("defaults.trial_cpus=.nan", r"trial_cpus=nan is not a finite number"),
        ("study.episodes=-1", r"study: episodes=-1 is out of range"),
        ("study.seeds=5", r"study.seeds=5 must be a list of integers"),
        ("study.conditions={late: ['all: self.* -> mask @ 500:']}", r"study condition 'late'.*starts at step 500.* 20 steps"),
        ("study.conditions={bad: ['all: self.* -> explode']}", r"study condition 'bad'.*unknown operation 'explode'"),
        ("study.planted=[{name: p, seats: {agent_7: 'scripted:idle'}}]", r"study\.planted 'p'.*agent_7"),
        ("behaviour.episodes=0", r"behaviour\.episodes=0 is out of range"),
        ("gif_max_frames=0", r"gif_max_frames=0 is out of range"),
        ("defaults.seeds=[0,1", r"--set 'defaults\.seeds=\[0,1': not valid YAML"),
    ],
)
def test_bad_experiments_fail_before_anything_is_written(override, message, tmp_path, capsys, no_ray):
    path = _tiny_experiment(tmp_path)
    out = tmp_path / "run"
    assert main(["experiment", str(path), "--out", str(out), "--set", override]) == 2
    err = capsys.readouterr().err
    assert "ethogram experiment: error:" in err
    assert __import__("re").search(message, err), err
    assert not out.exists()


def test_run_experiment_validates_before_the_journal(tmp_path, no_ray):
    path = _tiny_experiment(tmp_path)
    cfg, base = load_experiment(path, ["defaults.ppo.entropy=-1"])
    with pytest.raises(ConfigError, match=r"run 'cbp': ppo\.entropy=-1\.0 is out of range"):
        run_experiment(cfg, base, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_malformed_experiment_yaml_is_a_named_error(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nruns: [{name: a}\n")
    with pytest.raises(ConfigError, match=rf"{path}: not valid YAML"):
        load_experiment(path)
    path.write_text(yaml.safe_dump([1, 2]))
    with pytest.raises(ConfigError, match=r"expected a mapping"):
        load_experiment(path)


@pytest.mark.parametrize("name", ["quickstart", "cooking_coordination", "cleanup_social"])
def test_shipped_and_tiny_experiments_pass_the_checks(name, tmp_path):
    from experiments.pipeline import check_experiment
    from tests.experiments.test_pipeline import PROJECT

    for path in (PROJECT / "experiments" / f"{name}.yaml", _tiny_experiment(tmp_path)):
        cfg, base = load_experiment(path)
        check_experiment(cfg, base, tmp_path / "run")
    assert not (tmp_path / "run").exists()
