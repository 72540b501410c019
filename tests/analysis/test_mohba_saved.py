"""The training budget is reported honestly; a saved analyser places new units exactly as its run did; bad data is refused."""

from __future__ import annotations

import logging

import pytest
from mohba_synthetic import generate

from analysis.mohba.cluster import ClusterConfig
from analysis.mohba.describe import ReportConfig
from analysis.mohba.encode import Analyser
from analysis.mohba.features import FeatureConfig
from analysis.mohba.fit import FitConfig
from analysis.mohba.saved import open_saved
from analysis.mohba.write import run_analysis, run_saved

FEATURES = FeatureConfig(window=16, stride=16)
SMALL = {"hidden": 8, "z_joint": 2, "z_local": 2}
REPORT = ReportConfig(concepts=0, examples=1)


def _quiet(_: str) -> None:
    pass


def test_a_run_at_the_epoch_cap_warns_and_says_so(caplog):
    episodes = generate([(0, 1), (2, 3)], 4, horizon=32)
    with caplog.at_level(logging.WARNING, logger="analysis.mohba.fit"):
        _, _, result = Analyser.fit(episodes, FEATURES, FitConfig(epochs=2, cycles=1), SMALL)
    assert result.hit_budget and not result.stopped_early
    assert any("best epoch" in r.getMessage() and "--epochs" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="analysis.mohba.fit"):  # lr 0: the loss never improves, so it stops
        _, _, result = Analyser.fit(episodes, FEATURES, FitConfig(epochs=20, cycles=10, patience=1, lr=0.0), SMALL)
    assert result.stopped_early and not result.hit_budget and len(result.history) < 20
    assert not caplog.records


def test_a_saved_analyser_places_units_as_its_run_did_and_refuses_other_data(tmp_path):
    episodes = generate([(0, 1), (2, 3)], 4, horizon=32)
    fit = FitConfig(epochs=2, cycles=1)
    summary = run_analysis(episodes, tmp_path / "run", FEATURES, fit, ClusterConfig(k_joint=2, k_local=3), REPORT, SMALL, _quiet)
    assert summary["training"]["hit_budget"] is True and summary["training"]["epochs_cap"] == 2
    saved = open_saved(tmp_path / "run")  # the output folder; its model/ is found
    assert saved.path == tmp_path / "run" / "model" and saved.clusters.k_local == 3
    again = run_saved(episodes, tmp_path / "again", saved, None, REPORT, _quiet)
    for name in ("clusters_joint.csv", "clusters_local.csv"):
        assert (tmp_path / "again" / name).read_text() == (tmp_path / "run" / name).read_text(), name
    assert again["training"]["trained"] is False and again["training"]["clusters"] == "saved"
    assert again["training"]["best_epoch"] == summary["training"]["best_epoch"]
    three = generate([(0, 1, 2)], 4, horizon=32)  # three agents: the egocentric concept block is wider
    with pytest.raises(ValueError, match=r"reads \d+ features .* give \d+ features"):
        run_saved(three, tmp_path / "bad", saved, None, REPORT, _quiet)
    assert not (tmp_path / "bad").exists()
