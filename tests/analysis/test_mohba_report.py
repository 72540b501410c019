"""The whole analysis on synthetic planted behaviours: files written, behaviours and the changepoint found."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
from mohba_synthetic import concatenate, generate

from analysis.mohba.cluster import ClusterConfig
from analysis.mohba.describe import ReportConfig
from analysis.mohba.features import FeatureConfig
from analysis.mohba.fit import FitConfig, load_model
from analysis.mohba.write import run_analysis


def test_run_analysis_on_planted_checkpoints(tmp_path):
    # 6 checkpoints; the team mix switches at index 3
    parts = [generate([(0, 1), (2, 3)] if c < 3 else [(2, 2), (1, 3)], 6, horizon=64, seed=c, iteration=c * 10) for c in range(6)]
    eps = concatenate(parts)
    lines = []
    summary = run_analysis(
        eps,
        tmp_path,
        FeatureConfig(window=16, stride=16),
        FitConfig(epochs=16, cycles=2, batch_size=32),
        ClusterConfig(k_max=6),
        ReportConfig(concepts=2, examples=2),
        {"hidden": 32, "z_joint": 4, "z_local": 4},
        progress=lines.append,
    )
    for name in (
        "clusters_joint.csv",
        "clusters_local.csv",
        "clustering.json",
        "linking.json",
        "profiles.json",
        "changepoints.json",
        "concepts.json",
        "summary.json",
    ):
        assert (tmp_path / name).is_file(), name
    for fig in ("local_map", "joint_map", "linking", "occupancy_joint", "occupancy_local", "examples"):
        assert (tmp_path / "figures" / f"{fig}.png").stat().st_size > 1000, fig
    assert any("epoch" in line for line in lines) and "done" in lines[-1]
    assert summary["k_local"] == 4 and summary["units"] == eps.num_episodes
    changes = json.loads((tmp_path / "changepoints.json").read_text())
    assert [c["index"] for c in changes["local"]["changes"]] == [3]
    assert changes["local"]["iterations"] == [0, 10, 20, 30, 40, 50]
    profiles = json.loads((tmp_path / "profiles.json").read_text())
    assert all(p["description"].startswith(p["cluster"]) for p in profiles["local"] + profiles["joint"])
    _, features, _, meta = load_model(tmp_path / "model")
    assert features.window == 16 and meta["history"]
    concepts = json.loads((tmp_path / "concepts.json").read_text())
    assert len(concepts["shap"]) == 2 and np.isfinite(concepts["completeness"])


def test_analysis_never_imports_ray_or_marl():
    code = (
        "import sys, analysis.mohba.write, analysis.mohba.saved\n"
        "bad = [m for m in ('ray', 'marl') if m in sys.modules]\n"
        "print(bad)\n"
        "sys.exit(bool(bad))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
