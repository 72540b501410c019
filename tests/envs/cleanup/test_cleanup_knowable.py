"""Concepts a policy can know: the roster beside the window, the region concepts, and the claim that
every concept is a linear function of what the agent observes (``roster: true``, ``object_concepts: regions``)."""

from __future__ import annotations

import numpy as np
import pytest

import envs.cleanup as cleanup
from envs.cleanup.maps import RIVER, WASTE
from envs.cleanup.observe import APPLE_CH, CHANNELS, WASTE_CH, Roster
from envs.config import ConfigError
from envs.render import DIRECTIONS
from tests.envs.cleanup.test_cleanup_invariants import TALL, _expected_obs, _rollout

KNOWABLE = {"roster": True, "object_concepts": "regions"}
CONFIGS = [
    {"map": TALL, "num_agents": 3, "view_radius": 3, "beam_length": 3, "removal_steps": 4, "apple_growth": 0.3, **KNOWABLE},
    {"preset": "concept_paper", "num_agents": 5, "view_radius": 3, "initial_apples": 0.4, **KNOWABLE},
]


def _roster(obs: np.ndarray, n: int) -> np.ndarray:
    """(..., H, W, C) observations → (..., 9 N + 2) roster values read from the last channel."""
    flat = obs[..., -1].reshape(*obs.shape[:-3], -1)
    return flat[..., : len(Roster.FIELDS) * n + 2]


def _expected_regions(world, state, index: int, viewer: int) -> np.ndarray:
    """Apple shares per window cone and waste shares per beam footprint, counted cell by cell."""
    cfg, geo = world.config, world.geo
    r, half = cfg.view_radius, cfg.beam_width // 2
    apples, waste = np.zeros(4), np.zeros(4)
    if state.removed[index, viewer]:
        return np.concatenate([apples, waste])
    vr, vc = geo.row_col(state.pos[index, viewer])
    canvas = state.canvas[index]
    for d, (fr, fc) in enumerate(DIRECTIONS):
        rr, rc = DIRECTIONS[(d + 1) % 4]
        cone = [(a * fr + s * rr, a * fc + s * rc) for a in range(1, r + 1) for s in range(-a, a + 1)]
        rays = [
            (a * fr + s * rr, a * fc + s * rc) for s in range(-half, half + 1) for a in range(int(s == 0), int(s == 0) + cfg.beam_length)
        ]
        rays = [(dy, dx) for dy, dx in rays if max(abs(dy), abs(dx)) <= r]
        at = lambda dy, dx, ch: canvas[geo.index(vr, vc) + dy * geo.wp + dx, ch]  # noqa: E731 (padding is wall: no items)
        apples[d] = np.mean([at(dy, dx, APPLE_CH) for dy, dx in cone])
        waste[d] = np.mean([at(dy, dx, WASTE_CH) for dy, dx in rays])
    return np.concatenate([apples, waste])


@pytest.mark.parametrize("config", CONFIGS)
def test_roster_and_regions_match_the_state(config):
    seen_removed = False
    for env, out in _rollout(config, steps=40, k=2):
        world, state, n = env.world, env.state, env.num_agents
        slices = env.spec.concepts.gt_slices
        for index in range(env.num_envs):
            np.testing.assert_array_equal(out.obs[index, ..., : len(CHANNELS)], _expected_obs(env, index))
            roster = _roster(out.obs[index], n)
            assert (roster == roster[:1]).all(), "every viewer reads the same roster"
            rows, cols = world.geo.row_col(state.pos[index])
            for j in range(n):
                col, row, *facing, in_river, in_orchard, removed = roster[0, 9 * j : 9 * j + 9]
                assert facing[state.facing[index, j]] == 1 and sum(facing) == 1
                assert removed == (state.removed[index, j] > 0)
                seen_removed |= bool(removed)
                if not removed:
                    assert (col, row) == (cols[j] + 1, rows[j] + 1)
                    assert in_river == (world.cmap.chars[rows[j], cols[j]] in (RIVER, WASTE))
                    assert in_orchard == world.geo.in_orchard[state.pos[index, j]]
                else:
                    assert col == row == in_river == in_orchard == 0
            assert abs(roster[0, -2] / 255 - world.waste(state)[index].mean()) <= 0.5 / 255
            assert abs(roster[0, -1] / 255 - world.apples(state)[index].mean()) <= 0.5 / 255
            for viewer in range(n):
                got = np.concatenate(
                    [out.concepts[index, viewer, slices[f"{o}.{d}"]] for o in ("apples", "waste") for d in ("up", "right", "down", "left")]
                )
                np.testing.assert_allclose(got, _expected_regions(world, state, index, viewer), atol=1e-6)
    if config.get("removal_steps"):
        assert seen_removed, "the rollout should have removed someone"


@pytest.mark.parametrize("config", CONFIGS)
def test_every_concept_is_a_linear_function_of_the_observation(config):
    """The claim the study rests on: a linear read-out of the window and the roster recovers every concept."""
    xs, ys = [], []
    for env, out in _rollout({**config, "horizon": 60}, steps=120, k=4, seed=3):
        obs = out.obs.reshape(-1, *out.obs.shape[2:])
        window = obs[..., [APPLE_CH, WASTE_CH]].reshape(len(obs), -1)
        xs.append(np.concatenate([window, _roster(obs, env.num_agents), np.ones((len(obs), 1))], axis=1).astype(np.float64))
        ys.append(out.concepts.reshape(len(obs), -1))
    x, y = np.concatenate(xs), np.concatenate(ys)
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    worst = np.abs(x @ coef - y).max(axis=0)
    names = [s.name for s in env.spec.concepts.specs for _ in range(s.gt_width)]
    gauges = np.isin(names, ["env.waste_density", "env.apples"])
    assert worst[~gauges].max() < 1e-6, dict(zip(names, worst.round(4), strict=True))
    assert worst[gauges].max() <= 1 / 255, "the gauges are rounded to 1/255: within one step"


def test_knowable_options_are_checked():
    with pytest.raises(ConfigError, match="object_concepts"):
        cleanup.Config(object_concepts="nearby")
    with pytest.raises(ConfigError, match="raise view_radius"):
        cleanup.batched_env(1, num_agents=10, view_radius=3, roster=True)
    assert cleanup.batched_env(1, num_agents=10, view_radius=5, roster=True).spec.observation.shape == (11, 11, len(CHANNELS) + 1)


def test_spec_names_the_roster_and_the_regions():
    spec = cleanup.batched_env(1, preset="concept_paper", num_agents=5, view_radius=3, **KNOWABLE).spec
    layout = spec.observation
    assert layout.channels[-1] == "roster" and layout.vector[:9] == tuple(f"agent_0.{f}" for f in Roster.FIELDS)
    assert layout.vector[-2:] == ("waste_density", "apples") and len(layout.vector_high) == 47
    assert layout.vector_high[:2] == (18, 25) and max(layout.vector_high) == 255 == layout.channel_high[-1]
    assert [n for n in spec.concepts.names if n.startswith(("apples.", "waste."))] == [
        f"{o}.{d}" for o in ("apples", "waste") for d in ("up", "right", "down", "left")
    ]
    assert type(spec).from_json(spec.to_json()) == spec
