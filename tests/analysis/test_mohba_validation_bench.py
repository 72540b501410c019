"""The validation benchmark's pure helpers on a tiny recorded dataset: truth without noise
suffixes, behaviour statistics, and datasets reused instead of re-recorded."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.dataset import load
from benchmarks import mohba_validation as bench

TINY = {"env": "cooking", "config": {"layout": "cramped_room", "horizon": 12}, "teams": ["planner@0.05,idle", "idle,idle"]}


@pytest.fixture
def tiny(monkeypatch, tmp_path):
    monkeypatch.setitem(bench.SETUPS, "tiny", TINY)
    return tmp_path, bench.datasets(tmp_path, "tiny", TINY["teams"], 2, seed=1)


def test_truth_strips_the_noise_suffix(tiny):
    modes, comps, in_team = bench.truth(load(tiny[1], fields=("actions",)))
    assert modes.tolist() == [["planner", "idle"]] * 2 + [["idle", "idle"]] * 2
    assert comps.tolist() == ["idle+planner"] * 2 + ["idle+idle"] * 2
    assert in_team[0].tolist() == ["planner@idle+planner", "idle@idle+planner"]


def test_behaviour_stats_are_event_counts_and_action_frequencies(tiny):
    episodes = load(tiny[1], fields=("actions", "events"))
    stats = bench.behaviour_stats(episodes)
    v, a = episodes.events.shape[-1], len(episodes.spec.action_names)
    assert stats.shape == (4, 2, v + a)
    np.testing.assert_array_equal(stats[..., :v], episodes.events.sum(axis=1))
    np.testing.assert_allclose(stats[..., v:].sum(axis=-1), 1.0)
    stay = episodes.spec.action_names.index("stay")
    assert (stats[2:, :, v + stay] == 1.0).all()  # a noise-free idle agent only stays


def test_datasets_are_reused_and_checked(tiny, monkeypatch):
    root, paths = tiny
    monkeypatch.setattr(bench, "record_teams", lambda *a, **k: pytest.fail("re-recorded"))
    assert bench.datasets(root, "tiny", TINY["teams"], 2, seed=1) == paths
    paths[1].rename(paths[1].with_name("held"))
    paths[0].rename(paths[1])  # the idle,idle path now holds the planner team
    with pytest.raises(ValueError, match="not 'scripted:idle,idle'"):
        bench.datasets(root, "tiny", TINY["teams"], 2, seed=1)
