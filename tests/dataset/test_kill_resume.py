"""A real `ethogram rollout` killed with SIGKILL mid-way, then rerun: exactly the requested episodes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from analysis.dataset import load, open_dataset
from marl.record import record

EPISODES, HORIZON = 16, 30


def _command(out: Path) -> list[str]:
    script = Path(sys.executable).with_name("ethogram")
    head = [str(script)] if script.exists() else [sys.executable, "-m", "experiments.cli"]
    return [
        *head,
        "rollout",
        "--env",
        "cooking",
        "--layout",
        "forced_coordination",
        "--policy",
        "scripted:planner",
        "--episodes",
        str(EPISODES),
        "--num-envs",
        "1",
        "--batches-per-shard",
        "1",
        "--set",
        f"horizon={HORIZON}",
        "--seed",
        "11",
        "--out",
        str(out),
        "--no-progress",
    ]


def _shards(out: Path) -> list[Path]:
    return sorted((out / "shards").glob("*.parquet")) if (out / "shards").exists() else []


def test_sigkill_then_rerun_gives_every_episode_once(tmp_path):
    out = tmp_path / "x"
    proc = subprocess.Popen(_command(out), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while len(_shards(out)) < 3 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        assert proc.poll() is None, f"the recording ended before it could be killed: {proc.communicate()}"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    partial = open_dataset(out)  # only whole shards are visible; a killed write leaves a hidden temp file at most
    assert 3 <= partial.num_episodes < EPISODES

    rerun = subprocess.run(_command(out), capture_output=True, text=True, timeout=60)
    assert rerun.returncode == 0, rerun.stderr
    ds = open_dataset(out)
    assert ds.episode_ids.tolist() == list(range(EPISODES))  # all there, none twice
    assert not list((out / "shards").glob(".*"))  # stale temp files were cleaned

    config = {"layout": "forced_coordination", "horizon": HORIZON}
    record("cooking", config, "scripted:planner", EPISODES, tmp_path / "y", seed=11, num_envs=1, progress=False, batches_per_shard=1)
    a, b = load(out, fields=("actions", "concepts", "obs")), load(tmp_path / "y", fields=("actions", "concepts", "obs"))
    for name in ("actions", "concepts", "obs"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
