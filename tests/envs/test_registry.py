"""The env registry: ids, configs and scripted teams by name, with clear errors."""

from __future__ import annotations

import numpy as np
import pytest

import envs
from envs.config import ConfigError


def test_unknown_env_and_config_fields_name_the_choices():
    with pytest.raises(ConfigError, match="env='kitchen' is not allowed; choose one of: cooking, cleanup"):
        envs.make_batched("kitchen")
    with pytest.raises(ConfigError, match=r"cooking config: unknown field\(s\) colour; allowed: layout"):
        envs.make_batched("cooking", {"colour": "red"})


def test_scripted_roles_with_exploration_noise():
    env = envs.make_batched("cooking", {"layout": "cramped_room"}, 4)
    out = env.reset(seed=0)
    greedy = envs.make_scripted(env, "planner", seed=0).act(env, out).actions
    noisy = [envs.make_scripted(env, "planner@1.0", seed=s).act(env, out).actions for s in range(5)]
    assert any(not np.array_equal(greedy, a) for a in noisy)  # epsilon 1: random actions
    assert envs.make_scripted(env, "planner@0,idle").act(env, out).actions.shape == (4, 2)


@pytest.mark.parametrize(
    ("env_id", "roles", "message"),
    [
        ("cooking", "chef", "scripted role='chef' is not allowed; choose one of: planner"),
        ("cooking", "planner@lots", "exploration noise must be a number"),
        ("cooking", "planner,idle,dish", "3 roles given for 2 agents"),
        ("cleanup", "cleaner@0.1", "cleanup scripted agents take no exploration noise"),
    ],
)
def test_scripted_role_errors(env_id, roles, message):
    with pytest.raises(ValueError, match=message):
        envs.make_scripted(envs.make_batched(env_id), roles)
