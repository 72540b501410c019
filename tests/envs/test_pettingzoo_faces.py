"""PettingZoo conventions for both worlds: the AEC ``env()`` beside ``parallel_env()``, ``state()`` as
the global state in ``state_space``, and versioned ids (``cooking_v0``) accepted wherever an id is."""

from __future__ import annotations

import numpy as np
import pytest
from pettingzoo.test import api_test, parallel_api_test, seed_test, state_test

import envs
from envs import cleanup, cooking
from envs.config import ConfigError

SMALL = {
    "cooking": {"layout": "cramped_room", "horizon": 30},
    "cleanup": {"map": "small", "num_agents": 3, "horizon": 30, "removal_steps": 2},
}
MODULES = {"cooking": cooking, "cleanup": cleanup}
IDS = "cooking, cleanup, pettingzoo, cooking_v0, cleanup_v0, pettingzoo_v0, pettingzoo:MODULE:CALLABLE"


@pytest.mark.filterwarnings("ignore:Observation numpy array is all zeros")  # a removed Clean Up agent sees zeros
@pytest.mark.parametrize("env_id", list(SMALL))
def test_aec_env_passes_the_api_and_seed_tests(env_id):
    module, config = MODULES[env_id], SMALL[env_id]
    api_test(module.env(**config), num_cycles=40)
    api_test(envs.make_aec(f"{env_id}_v0", config, render_mode="ansi"), num_cycles=20)
    seed_test(lambda: module.env(**config), num_cycles=40)


@pytest.mark.parametrize("env_id", list(SMALL))
def test_state_is_the_global_state_in_its_space(env_id):
    module, config = MODULES[env_id], SMALL[env_id]
    state_test(module.env(**config), module.parallel_env(**config), num_cycles=40)
    par = module.parallel_env(**config)
    with pytest.raises(RuntimeError, match="call reset"):
        par.state()
    par.reset(seed=0)
    layout = par.core.world.state_layout
    space = par.state_space
    assert space.shape == layout.shape == par.state().shape and space.dtype == np.uint8 == par.state().dtype
    rng = np.random.default_rng(0)
    for _ in range(config["horizon"]):
        par.step({a: int(rng.integers(0, par.action_space(a).n)) for a in par.agents})
        state = par.state()
        assert state.shape == space.shape and state.dtype == space.dtype and space.contains(state)
        assert (state.max(axis=(0, 1)) <= np.array(layout.highs())).all()
    assert par.render() is None and module.parallel_env(render_mode="rgb_array", **config).state_space == space


def changed(before: np.ndarray, after: np.ndarray, channels: tuple[str, ...]) -> set[tuple[int, int, str, int]]:
    """The state's (row, col, channel, new value) of every entry that differs."""
    return {(r, c, channels[ch], int(after[r, c, ch])) for r, c, ch in zip(*np.nonzero(before != after), strict=True)}


@pytest.mark.parametrize("env_id", list(SMALL))
def test_versioned_ids_are_accepted_and_normalised(env_id):
    versioned, config = f"{env_id}_v0", SMALL[env_id]
    assert envs.canonical_env_id(versioned) == envs.canonical_env_id(env_id) == env_id
    assert envs.world_module(versioned) is MODULES[env_id] and envs.make_config(versioned, config) == envs.make_config(env_id, config)
    batched = envs.make_batched(versioned, config, 2)
    assert batched.spec.env_id == env_id and batched.reset(seed=0).obs.shape[0] == 2
    par = envs.make_parallel(versioned, config)
    assert par.spec.env_id == env_id and par.metadata["name"] == f"ethogram_{versioned}" == envs.make_aec(env_id, config).metadata["name"]
    parallel_api_test(par, num_cycles=10)
    role = envs.scripted_roles(versioned)[0]
    assert envs.check_roles(versioned, [role]) == ((role,), (0.0,))


def test_unknown_ids_name_both_forms():
    message = f"env='cooking_v1' is not allowed; choose one of: {IDS}"
    for make in (envs.make_batched, envs.make_parallel, envs.make_aec, envs.world_module, envs.make_config):
        with pytest.raises(ConfigError, match=message):
            make("cooking_v1")


def test_train_configs_take_versioned_ids_and_record_the_canonical_one(tmp_path):
    from experiments.config import RunSpec, train_config
    from marl.config import TrainConfig

    assert TrainConfig(env="cleanup_v0", env_config={"map": "small"}).env == "cleanup"
    with pytest.raises(ConfigError, match=f"choose one of: {IDS}"):
        TrainConfig(env="overcooked")
    same = train_config(RunSpec(name="a", set={"env": "cooking_v0"}), tmp_path, tmp_path)  # the defaults' env: cooking
    assert same.env == "cooking" and same.env_config == {"layout": "cramped_room"}  # the same env keeps its config
    other = train_config(RunSpec(name="b", set={"env": "cleanup_v0"}), tmp_path, tmp_path)
    assert other.env == "cleanup" and other.env_config == {}


def test_rollout_cli_with_a_versioned_id_writes_a_dataset_that_loads(tmp_path):
    from analysis.dataset import load, open_dataset
    from experiments.cli import main

    out = tmp_path / "data"
    args = ["rollout", "--env", "cooking_v0", "--layout", "cramped_room", "--set", "horizon=8", "--policy", "scripted:planner"]
    assert main([*args, "--episodes", "1", "--num-envs", "1", "--out", str(out), "--no-progress"]) == 0
    assert open_dataset(out).manifest.env.env_id == "cooking"
    assert load(out).num_episodes == 1
