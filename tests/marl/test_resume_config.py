"""Resuming a run with a config that trains something else is refused before Ray starts or anything is written.

Stop conditions, ``checkpoint_every``, ``out_dir`` (a moved run) and resource requests may change;
anything else names the differing fields with both values.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import marl.train
from experiments.cli import main
from marl.config import ConfigError
from marl.train import train
from tests.marl.conftest import tiny_config
from tests.ray_guard import RayStarted


@pytest.fixture(autouse=True)
def _refuse_ray(no_ray):
    """Every test here: Ray never starts (``no_ray``)."""


def _run(tmp_path: Path, *overrides: str) -> tuple[Path, bytes]:
    run = tmp_path / "run"
    run.mkdir()
    cfg = tiny_config(*overrides, out_dir=str(run))
    (run / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    return run, (run / "config.yaml").read_bytes()


def test_a_changed_config_is_refused_naming_fields_and_values(tmp_path):
    run, stored = _run(tmp_path)
    cfg = tiny_config("ppo.lr=1e-3", "model.hidden=[64]", out_dir=str(run))
    with pytest.raises(ConfigError) as exc:
        train(cfg, run_dir=run, resume=True)
    msg = str(exc.value)
    assert "ppo.lr" in msg and "0.0005" in msg and "0.001" in msg
    assert "model.hidden" in msg and "[32]" in msg and "[64]" in msg
    assert "max_env_steps:" not in msg and "out_dir:" not in msg
    assert (run / "config.yaml").read_bytes() == stored


def test_a_changed_env_config_is_refused(tmp_path):
    run, _ = _run(tmp_path)
    cfg = tiny_config("env_config={layout: cramped_room, horizon: 30, shaping: true}", out_dir=str(run))
    with pytest.raises(ConfigError, match=r"env_config\.horizon.*20.*30"):
        marl.train.check_resume(run, cfg)


def test_an_env_default_written_out_is_no_change(tmp_path):
    run, _ = _run(tmp_path)
    import envs

    full = envs.make_config("cooking", {"layout": "cramped_room", "horizon": 20, "shaping": True})
    cfg = tiny_config(f"env_config={{layout: cramped_room, horizon: 20, shaping: true, random_start: {str(full.random_start).lower()}}}")
    marl.train.check_resume(run, cfg)


def test_stop_conditions_checkpoints_resources_and_a_moved_dir_may_change(tmp_path):
    run, _ = _run(tmp_path)
    same = tiny_config(out_dir=str(run))
    marl.train.check_resume(run, same)
    marl.train.check_resume(run, tiny_config(out_dir=str(run) + "/"))  # the same path, written differently
    moved = tiny_config("max_env_steps=400", "max_time_s=60", "checkpoint_every=5", "trial_cpus=0.5", out_dir="/elsewhere/run")
    marl.train.check_resume(run, moved)
    with pytest.raises(RayStarted):  # the check passed; only then does Ray start
        train(moved, run_dir=run, resume=True)


def test_cli_resume_with_a_changed_field_is_a_named_error(tmp_path, capsys):
    run, stored = _run(tmp_path)
    assert main(["train", "--resume", str(run), "--set", "ppo.entropy=0.05", "--set", "seeds=[0,1]"]) != 0
    err = capsys.readouterr().err
    assert "ppo.entropy" in err and "0.01" in err and "0.05" in err
    assert "seeds" in err and "[0]" in err and "[0, 1]" in err
    assert (run / "config.yaml").read_bytes() == stored
    with pytest.raises(RayStarted):  # a longer run of the same config still resumes
        main(["train", "--resume", str(run), "--set", "max_env_steps=400"])


def test_cli_resume_with_a_config_file_compares_that_file(tmp_path, capsys):
    run, _ = _run(tmp_path)
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump({**tiny_config().to_dict(), "policy": "baseline"}))
    assert main(["train", str(other), "--resume", str(run)]) != 0  # not silently ignored
    err = capsys.readouterr().err
    assert "policy: 'cbp' in the run, 'baseline' now" in err


def test_experiment_train_stage_refuses_a_changed_run(tmp_path):
    from experiments.config import ExperimentConfig, RunSpec, train_config
    from experiments.stages import train as train_stage

    base, out = tmp_path, tmp_path / "exp"
    spec = RunSpec(name="cbp", set={"ppo": {"lr": 1e-3}})
    tcfg = train_config(spec, base, out)
    run = Path(tcfg.out_dir)
    run.mkdir(parents=True)
    stored = tcfg.to_dict()
    stored["ppo"]["lr"] = 5e-4  # the run was trained with the default
    (run / "config.yaml").write_text(yaml.safe_dump(stored, sort_keys=False))
    cfg = ExperimentConfig(name="x", runs=(spec,))
    with pytest.raises(ConfigError, match=r"ppo\.lr"):
        train_stage(cfg, base, out, None, print)
