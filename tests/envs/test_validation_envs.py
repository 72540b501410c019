"""Bad values of the worlds' configs, unreachable stations and intervention windows past the horizon
are named errors (issue 13: nothing recorded with NaN returns, 0-return kitchens or no-op windows)."""

from __future__ import annotations

import math

import pytest

import envs
from envs import cleanup, cooking
from envs.config import ConfigError, check_range, config_from_dict
from envs.cooking import parse_layout
from envs.interventions import parse_condition


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("delivery_reward", math.nan),
        ("delivery_reward", math.inf),
        ("delivery_reward", -20.0),
        ("shaping_ingredient_in_pot", -3.0),
        ("shaping_dish_pickup", math.nan),
        ("shaping_soup_pickup", -math.inf),
        ("cook_time", 2.5),
        ("view_size", "5"),
        ("horizon", math.nan),
    ],
)
def test_cooking_numbers_have_ranges(field, value):
    with pytest.raises(ConfigError, match=rf"{field}=.*(allowed|must be)"):
        cooking.Config(**{field: value})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("penalty_cost", -1.0),
        ("penalty_fine", math.nan),
        ("apple_reward", -0.1),
        ("clean_reward", math.inf),
        ("apple_growth", math.nan),
        ("initial_waste", math.nan),
        ("depletion_threshold", math.nan),
    ],
)
def test_cleanup_numbers_have_ranges(field, value):
    with pytest.raises(ConfigError, match=rf"{field}=.*allowed"):
        cleanup.Config(**{field: value})


def test_check_range_refuses_non_numbers_and_non_finite_values():
    for value in (math.nan, math.inf, "3", None, True):
        with pytest.raises(ConfigError, match=r"x=.*allowed: \[0, inf\]"):
            check_range("x", value, 0)
    with pytest.raises(ConfigError, match=r"x=0 is out of range; allowed: \(0, inf\]"):
        check_range("x", 0, 0, open_low=True)
    check_range("x", 1e-9, 0, open_low=True)


def test_dict_configs_check_types_naming_the_field():
    with pytest.raises(ConfigError, match=r"cooking config\.horizon='abc' must be an integer"):
        envs.make_config("cooking", {"horizon": "abc"})
    with pytest.raises(ConfigError, match=r"cooking config\.shaping=1 must be true or false"):
        envs.make_config("cooking", {"shaping": 1})
    assert envs.make_config("cooking", {"horizon": 1e2, "delivery_reward": "1e1"}) == cooking.Config(horizon=100, delivery_reward=10.0)
    with pytest.raises(ConfigError, match=r"cleanup config\.num_agents=2\.5 must be an integer"):
        envs.make_config("cleanup", {"num_agents": 2.5})


def test_a_rollout_with_a_nan_reward_is_refused_before_anything_is_written(tmp_path, capsys):
    from experiments.cli import main

    out = tmp_path / "data"
    args = ["rollout", "--env", "cooking", "--set", "delivery_reward=.nan", "--set", "horizon=10"]
    assert main([*args, "--policy", "scripted:planner,planner", "--episodes", "1", "--out", str(out), "--no-progress"]) == 2
    assert "delivery_reward=nan" in capsys.readouterr().err
    assert not out.exists()


SEALED_POT = "XXXXX\nO  2O\nX1  X\nXDXSX\nXXPXX"
SEALED_SERVING = "XXPXX\nO  2O\nX1  X\nXDXXX\nXXXSX"
NOBODYS_ROOM = "XXPXXXX\nO  2X S\nX1  X X\nXDXXXXX"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (SEALED_POT, r"the pot \('P'\) at row 4, column 2 borders no floor cell an agent can reach"),
        (SEALED_SERVING, r"the serving \('S'\) at row 4, column 3 borders no floor cell an agent can reach"),
        (NOBODYS_ROOM, r"the serving \('S'\) at row 1, column 6 borders no floor cell an agent can reach"),
    ],
)
def test_a_station_no_agent_can_reach_is_an_error(text, message):
    with pytest.raises(ConfigError, match=message):
        parse_layout(text)
    with pytest.raises(ConfigError, match=message):
        envs.make_batched("cooking", {"layout": text})


def test_every_named_layout_has_reachable_stations():
    for name, layout in cooking.LAYOUTS.items():
        assert parse_layout("\n".join(layout.rows), name) == layout


def test_an_intervention_window_past_the_horizon_is_an_error():
    from envs.interventions import check_windows

    concepts = envs.make_batched("cooking", {"horizon": 400}).spec.concepts
    late = parse_condition(["all: self.* -> mask @ 500:"], concepts)
    with pytest.raises(ValueError, match=r"'all: self\.\* -> mask @ 500:'.* starts at step 500.* 400 steps"):
        check_windows(late, 400)
    check_windows(parse_condition(["all: self.* -> mask @ 399:", "agent_0: self.* -> mask @ :900"], concepts), 400)


def test_recording_with_a_window_past_the_horizon_writes_nothing(tmp_path):
    import json

    from analysis.dataset import ConditionInfo
    from marl.record import record

    out = tmp_path / "data"
    condition = ConditionInfo(id="late", spec=json.dumps(["all: self.* -> mask @ 500:"]))
    with pytest.raises(ValueError, match=r"starts at step 500.* 20 steps"):
        record("cooking", {"horizon": 20}, "scripted:planner,planner", 1, out, condition=condition, progress=False)
    assert not out.exists()


def test_config_from_dict_lists_and_mappings():
    from dataclasses import dataclass, field

    @dataclass(frozen=True)
    class Example:
        seeds: tuple[int, ...] = (0,)
        """Seeds."""
        weights: dict[str, float] = field(default_factory=dict)
        """Weights."""

    assert config_from_dict(Example, {"seeds": [1, 2.0], "weights": {"a": 1}}) == Example((1, 2), {"a": 1.0})
    with pytest.raises(ConfigError, match=r"seeds=5 must be a list of integers"):
        config_from_dict(Example, {"seeds": 5})
    with pytest.raises(ConfigError, match=r"seeds\[1\]='b' must be an integer"):
        config_from_dict(Example, {"seeds": [0, "b"]})
    with pytest.raises(ConfigError, match=r"weights=\[1\] must be a mapping"):
        config_from_dict(Example, {"weights": [1]})
    with pytest.raises(ConfigError, match=r"weights\.a=nan is not a finite number"):
        config_from_dict(Example, {"weights": {"a": math.nan}})


@pytest.mark.parametrize("bad", [math.nan, math.inf, -1e9])
def test_every_numeric_field_of_the_world_configs_has_a_range(bad):
    import dataclasses
    import typing

    checked = 0
    for cls in (cooking.Config, cleanup.Config):
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if not {int, float} & set(typing.get_args(hints[f.name]) or (hints[f.name],)):
                continue
            with pytest.raises(ConfigError, match=f.name):
                cls(**{f.name: bad})
            checked += 1
    assert checked == 27  # 7 cooking fields, 20 cleanup fields
