"""Kill a training run with SIGKILL and resume it; bad configs; checkpoints that cannot be restored."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import envs
from experiments.cli import main
from marl.config import ConfigError, load_config
from marl.loading import PolicyLoadError, load_policy
from tests.marl.conftest import TINY, tiny_config

PROJECT = Path(__file__).resolve().parents[2]


def _cli(args: list[str], address: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RAY_AUTH_MODE": "disabled"}
    return subprocess.Popen(
        [sys.executable, "-m", "experiments.cli", "train", *args, "--address", address],
        cwd=PROJECT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _latest(trial: Path) -> dict:
    pointer = trial / "checkpoints" / "latest"
    if not pointer.exists():
        return {}
    return json.loads((trial / "checkpoints" / pointer.read_text().strip() / "progress.json").read_text())


@pytest.mark.ray
def test_sigkill_then_resume_continues_the_step_count(ray_cluster, tmp_path):
    run = tmp_path / "run"
    config = tmp_path / "train.yaml"
    config.write_text(yaml.safe_dump({**tiny_config().to_dict(), "max_env_steps": 100_000, "out_dir": str(run)}))
    proc = _cli([str(config)], ray_cluster.address)
    trial = run / "seed_0"
    deadline = time.time() + 60
    while _latest(trial).get("iteration", 0) < 3 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = _latest(trial)
    assert killed_at.get("iteration", 0) >= 3, proc.stdout.read()
    time.sleep(1.0)  # let Ray reap the orphaned trial task before the resumed one writes
    target = killed_at["env_steps"] + 200
    proc = _cli(["--resume", str(run), "--set", f"max_env_steps={target}"], ray_cluster.address)
    output, _ = proc.communicate(timeout=90)
    assert proc.returncode == 0, output
    assert f"resumed from iter_{killed_at['iteration']:06d}" in output or "resumed from" in output
    final = _latest(trial)
    assert final["env_steps"] == target and final["iteration"] == killed_at["iteration"] + 2
    with (trial / "progress.csv").open() as f:
        iterations = [int(r["iteration"]) for r in csv.DictReader(f)]
    assert iterations == list(range(1, final["iteration"] + 1))


@pytest.mark.parametrize(
    ("override", "names"),
    [
        ("policy=cnn", ["policy", "cbp", "baseline"]),
        ("sharing=half", ["sharing", "independent", "shared"]),
        ("sampling.sampler=slow", ["sampling.sampler", "fast", "rllib"]),
        ("model.bottleneck_mode=soft", ["model.bottleneck_mode", "logits", "probs", "hard"]),
        ("ppo.position_loss_scale=-1", ["ppo.position_loss_scale"]),
        ("ppo.gamma=1.5", ["ppo.gamma", "[0, 1]"]),
        ("ppo.learning_rate=0.1", ["learning_rate", "lr"]),
        ("env=atari", ["env", "cooking"]),
        ("ppo.lr=fast", ["ppo.lr", "must be a number"]),
        ("sampling.rollout_length=2.5", ["sampling.rollout_length", "must be an integer"]),
    ],
)
def test_bad_config_names_field_and_allowed_values(override, names):
    with pytest.raises(ConfigError) as err:
        load_config(None, [*TINY, override])
    for name in names:
        assert name in str(err.value)


def test_cli_reports_bad_config(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("policy: cbp\nsharing: sometimes\n")
    assert main(["train", str(config)]) == 2
    assert "sharing='sometimes' is not allowed; choose one of: independent, shared" in capsys.readouterr().err


@pytest.mark.ray
def test_checkpoint_whose_class_cannot_be_restored(ray_cluster, tmp_path):
    from marl.loading import load_rllib_module
    from marl.modules import ConceptBottleneckModule
    from marl.train import run_trial

    summary = run_trial(tiny_config("max_env_steps=100").to_dict(), 0, str(tmp_path / "seed_0"), verbose=False)
    ckpt = Path(summary["checkpoint"])
    env = envs.make_batched("cooking", {"layout": "cramped_room"}, 2)
    manifest = ckpt / "policy" / "policy.json"
    data = json.loads(manifest.read_text())
    for bad, message in [("marl.modules.GoneModule", "cannot be imported"), ("torch.nn.Linear", "not an ethogram policy module")]:
        manifest.write_text(json.dumps({**data, "module_class": bad}))
        with pytest.raises(PolicyLoadError, match=message):
            load_policy(ckpt, env)
    module = load_rllib_module(ckpt / "algo" / "learner_group" / "learner" / "rl_module" / "agent_0")
    assert isinstance(module, ConceptBottleneckModule)
    with pytest.raises(PolicyLoadError, match="not a"):
        load_rllib_module(ckpt / "algo" / "learner_group" / "learner" / "rl_module" / "agent_0", expected=PolicyLoadError)
