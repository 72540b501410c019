"""PettingZoo conventions for both worlds: the AEC ``env()`` beside ``parallel_env()``, and ``state()``
as the global state in ``state_space``."""

from __future__ import annotations

import numpy as np
import pytest
from pettingzoo.test import api_test, seed_test, state_test

import envs
from envs import cleanup, cooking

SMALL = {
    "cooking": {"layout": "cramped_room", "horizon": 30},
    "cleanup": {"map": "small", "num_agents": 3, "horizon": 30, "removal_steps": 2},
}
MODULES = {"cooking": cooking, "cleanup": cleanup}


@pytest.mark.filterwarnings("ignore:Observation numpy array is all zeros")  # a removed Clean Up agent sees zeros
@pytest.mark.parametrize("env_id", list(SMALL))
def test_aec_env_passes_the_api_and_seed_tests(env_id):
    module, config = MODULES[env_id], SMALL[env_id]
    api_test(module.env(**config), num_cycles=40)
    api_test(envs.make_aec(env_id, config, render_mode="ansi"), num_cycles=20)
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
