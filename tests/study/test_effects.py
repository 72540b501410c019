"""Statistics on synthetic outcome tables with known effects: error rates, power, corrections."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.effects import adjust, compare, effects, hedges_g


def _table(rng, effect, n=30, conditions=("treated",)):
    rows = [{"condition": "control", "team_return": v} for v in rng.normal(100, 10, n)]
    for c in conditions:
        rows += [{"condition": c, "team_return": v} for v in rng.normal(100 + effect, 10, n)]
    return pd.DataFrame(rows)


def test_null_effect_is_rejected_at_about_alpha():
    rng = np.random.default_rng(0)
    p = [compare(rng.normal(0, 1, 20), rng.normal(0, 1, 20), n_resamples=499, seed=i)["p_value"] for i in range(200)]
    rate = np.mean(np.array(p) < 0.05)
    assert 0.01 <= rate <= 0.09, rate


def test_true_effect_is_found_and_ci_covers_it():
    rng = np.random.default_rng(1)
    hits, covered = 0, 0
    for i in range(100):
        res = compare(rng.normal(0, 1, 30), rng.normal(1.0, 1, 30), n_resamples=499, seed=i)
        hits += res["p_value"] < 0.05
        covered += res["ci_low"] <= 1.0 <= res["ci_high"]
    assert hits >= 90  # power at d = 1, n = 30 is about 0.97
    assert covered >= 88  # nominal 95% coverage


def test_effect_table_columns_and_direction():
    table = _table(np.random.default_rng(2), effect=-30, conditions=("mask", "noop"))
    table.loc[table["condition"] == "noop", "team_return"] = table.loc[table["condition"] == "control", "team_return"].to_numpy()
    out = effects(table, ["team_return"], n_resamples=999)
    mask = out.set_index("condition").loc["mask"]
    assert mask["significant"] and mask["diff"] < -20 and mask["ci_high"] < 0 and mask["hedges_g"] < -2
    noop = out.set_index("condition").loc["noop"]
    assert not noop["significant"] and noop["diff"] == 0 and noop["p_value"] > 0.9


def test_constant_samples_give_exact_ci_and_infinite_g():
    res = compare(np.full(5, 10.0), np.full(5, 4.0))
    assert res["ci_low"] == res["ci_high"] == -6.0
    assert res["hedges_g"] == -np.inf
    assert hedges_g(np.ones(4), np.ones(4)) == 0.0


def test_corrections():
    p = np.array([0.01, 0.04, 0.03, 0.5])
    np.testing.assert_allclose(adjust(p, "holm"), [0.04, 0.09, 0.09, 0.5])
    np.testing.assert_allclose(adjust(p, "bh"), [0.04, 0.0533333, 0.0533333, 0.5], rtol=1e-5)
    with pytest.raises(ValueError, match="choose one of: holm, bh, none"):
        adjust(p, "bonferroni")


def test_holm_keeps_family_wise_error_under_many_null_conditions():
    rng = np.random.default_rng(3)
    any_false = 0
    for rep in range(40):
        table = _table(rng, effect=0, n=15, conditions=[f"c{i}" for i in range(8)])
        any_false += effects(table, ["team_return"], n_resamples=199, seed=rep)["significant"].any()
    assert any_false / 40 <= 0.15  # FWER 0.05 nominal; 40 repetitions


def test_bad_inputs():
    table = _table(np.random.default_rng(4), effect=0)
    with pytest.raises(ValueError, match="control condition 'ctrl' not in the table"):
        effects(table, ["team_return"], control="ctrl")
    with pytest.raises(ValueError, match="unknown outcome"):
        effects(table, ["soups"])
    with pytest.raises(ValueError, match="at least 2 episodes"):
        compare(np.ones(1), np.ones(3))


def test_paired_null_is_rejected_at_about_alpha_and_pairing_gains_power():
    """Common random numbers: a shared per-episode term cancels in the pairs (and only there)."""
    rng = np.random.default_rng(5)
    null, paired_hits, unpaired_hits = [], 0, 0
    for i in range(150):
        shared = rng.normal(0, 5, 16)  # the episode's luck, the same under both conditions
        control, same = shared + rng.normal(0, 1, 16), shared + rng.normal(0, 1, 16)
        null.append(compare(control, same, paired=True, n_resamples=499, seed=i)["p_value"])
        shifted = shared + rng.normal(1.5, 1, 16)
        paired_hits += compare(control, shifted, paired=True, n_resamples=499, seed=i)["p_value"] < 0.05
        unpaired_hits += compare(control, shifted, n_resamples=499, seed=i)["p_value"] < 0.05
    assert 0.01 <= np.mean(np.array(null) < 0.05) <= 0.1
    assert paired_hits >= 130 and unpaired_hits <= 40  # power: paired ~0.98 (d_z = 1.06), unpaired ~0.12 (d = 0.29)


def test_paired_effects_need_matching_keys_and_are_exact_for_identical_episodes():
    table = _table(np.random.default_rng(6), effect=0, n=16, conditions=("same", "fewer"))
    table["pair"] = table.groupby("condition").cumcount()
    table.loc[table["condition"] == "same", "team_return"] = table.loc[table["condition"] == "control", "team_return"].to_numpy()
    table = table[~((table["condition"] == "fewer") & (table["pair"] > 9))]  # 10 of the 16 pairs
    out = effects(table, ["team_return"], n_resamples=65536, pair="pair").set_index("condition")
    assert out.loc["same", "paired"] and out.loc["same", "ci_low"] == out.loc["same", "ci_high"] == 0.0
    assert out.loc["same", "p_value"] == 1.0
    assert not out.loc["fewer", "paired"], "keys that do not match the control's are compared unpaired"
    shift = compare(np.arange(16.0), np.arange(16.0) + 3.0, paired=True, n_resamples=65536)
    assert shift["ci_low"] == shift["ci_high"] == 3.0 and shift["p_value"] == pytest.approx(2.0**-15)
