"""GAE of the fast sampler against a plain per-step loop; the example config loads."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from marl.config import load_config
from marl.sampling import gae

PROJECT = Path(__file__).resolve().parents[2]


def _reference(r, v, nv, term, done, gamma, lam):
    adv, last = np.zeros_like(r), 0.0
    for t in reversed(range(len(r))):
        delta = r[t] + gamma * (0.0 if term[t] else nv[t]) - v[t]
        last = delta + gamma * lam * (0.0 if done[t] else last)
        adv[t] = last
    return adv


def test_gae_matches_a_loop_with_truncation_and_termination():
    rng = np.random.default_rng(0)
    T, K, N = 7, 3, 2
    r, v = rng.normal(size=(T, K, N)).astype(np.float32), rng.normal(size=(T, K, N)).astype(np.float32)
    term = np.zeros((T, K, 1), bool)
    done = np.zeros((T, K, 1), bool)
    done[2, 0], done[4, 1], term[4, 1] = True, True, True  # env 0 truncated at t=2, env 1 terminated at t=4
    nv = np.empty_like(v)
    nv[:-1] = v[1:]
    nv[-1] = rng.normal(size=(K, N))  # bootstrap after the rollout
    nv[2, 0] = [5.0, -5.0]  # value of env 0's final observation
    adv, targets = gae(r, v, nv, term, done, 0.99, 0.95)
    for k in range(K):
        for n in range(N):
            ref = _reference(r[:, k, n], v[:, k, n], nv[:, k, n], term[:, k, 0], done[:, k, 0], 0.99, 0.95)
            np.testing.assert_allclose(adv[:, k, n], ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(targets, adv + v)


def test_example_config_loads_with_overrides():
    cfg = load_config(
        PROJECT / "experiments" / "train_cramped_room.yaml", ["ppo.lr=1e-4", "env_config.layout=forced_coordination", "seeds=[0,1]"]
    )
    assert cfg.ppo.lr == 1e-4 and cfg.ppo.clip == 0.2 and cfg.seeds == (0, 1)
    assert cfg.env_config == {"layout": "forced_coordination", "shaping": True}
