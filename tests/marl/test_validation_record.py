"""The recorder refuses bad arguments with a named error before it writes anything (issue 13)."""

from __future__ import annotations

import pytest

from marl.record import record


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"seed": -1}, r"seed=-1 is out of range; allowed: \[0, inf\]"),
        ({"batches_per_shard": 0}, r"batches_per_shard=0 is out of range; allowed: \[1, inf\]"),
        ({"batches_per_shard": -1}, r"batches_per_shard=-1 is out of range"),
        ({"num_envs": 0}, r"num_envs must be >= 1, got 0"),
    ],
)
def test_bad_recording_arguments_write_nothing(options, message, tmp_path):
    out = tmp_path / "data"
    with pytest.raises(ValueError, match=message):
        record("cooking", {"horizon": 10}, "scripted:planner,planner", 2, out, progress=False, **options)
    assert not out.exists()


def test_the_rollout_command_names_the_bad_seed(tmp_path, capsys):
    from experiments.cli import main

    out = tmp_path / "data"
    args = ["rollout", "--env", "cooking", "--set", "horizon=10", "--policy", "scripted:planner,planner", "--episodes", "1"]
    assert main([*args, "--out", str(out), "--seed", "-1", "--no-progress"]) == 2
    assert "seed=-1 is out of range" in capsys.readouterr().err
    assert not out.exists()
