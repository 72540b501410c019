"""A real run directory for the report tests: ``ethogram experiment`` on a tiny config (session-scoped).

One concept-bottleneck run (one seed, 300 env steps; a second run would cost ~7 s more, so a run
without concepts is covered by the partial-run test), held-out evaluation with a GIF, a study with
teammate masking and own-concept probes (so the dependency and Lasso graphs are drawn), and the
behaviour analyser on two checkpoints (so changepoints exist). Horizon 60: at 20 steps an untrained
team's outcomes can be constant across conditions. The pipeline's own report stage runs too; the
tests write their reports elsewhere.
"""

from __future__ import annotations

import pytest
import yaml

TRAIN = {
    "env_config": {"layout": "cramped_room", "horizon": 60, "shaping": True},
    "model": {"hidden": [32], "head_hidden": [16]},
    "ppo": {"num_epochs": 1, "num_minibatches": 2},
    "sampling": {"num_envs_per_runner": 4, "rollout_length": 25},
    "max_env_steps": 300,
    "checkpoint_every": 1,
    "shaping_anneal_steps": 400,
}
EXPERIMENT = {
    "name": "tiny-report",
    "description": "A tiny run on cramped_room, a study and the behaviour analyser, for the report tests.",
    "runs": [{"name": "cbp", "set": TRAIN}],
    "eval_episodes": 4,
    "gif_max_frames": 10,
    "study": {
        "conditions": {"mask_teammates": ["all: teammates.* -> mask"]},
        "probes": ["own"],
        "seeds": [0],
        "episodes": 4,
        "num_envs": 4,
        "n_resamples": 199,
    },
    "behaviour": {"checkpoints": 2, "episodes": 4, "num_envs": 4, "analyze_args": ["--epochs", "1", "--window", "8", "--stride", "4"]},
}


@pytest.fixture(scope="session")
def run_dir(ray_cluster, tmp_path_factory):
    """A complete run directory written by ``ethogram experiment``."""
    from experiments.cli import main

    root = tmp_path_factory.mktemp("report_run")
    path = root / "experiment.yaml"
    path.write_text(yaml.safe_dump(EXPERIMENT))
    assert main(["experiment", str(path), "--out", str(root / "run")]) == 0
    return root / "run"
