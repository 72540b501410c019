"""A golden trajectory: any change to the dynamics, observations, concepts or events shows here.

The stored file holds the actions (a planner pair with every 4th step random, shaping on, on
forced_coordination) and everything the env returned. Recompute it only after an intended change
of behaviour: ``ETHOGRAM_REGOLD=1 pytest tests/envs/cooking/test_cooking_golden.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from envs.cooking import batched_env
from envs.cooking.scripted import make_team

GOLDEN = Path(__file__).with_name("golden_forced_coordination.npz")
FIELDS = ("obs", "rewards", "events", "concepts")
STEPS = 150


def _record(actions: np.ndarray | None = None) -> dict[str, np.ndarray]:
    env = batched_env(1, layout="forced_coordination", shaping=True)
    out = env.reset(seed=0)
    team = make_team(["planner", "planner"], env.world, seed=0)
    rng = np.random.default_rng(0)
    rec = {name: [getattr(out, name)[0]] for name in FIELDS}
    taken = []
    for t in range(STEPS):
        if actions is not None:
            a = actions[t][None]
        elif t % 4 == 3:
            a = rng.integers(0, 6, (1, 2))
        else:
            a = team.act(env, out).actions
        taken.append(a[0])
        out = env.step(a)
        for name in FIELDS:
            rec[name].append(getattr(out, name)[0])
    return {"actions": np.array(taken), **{name: np.array(v) for name, v in rec.items()}}


def test_golden_trajectory():
    if os.environ.get("ETHOGRAM_REGOLD") == "1":
        np.savez_compressed(GOLDEN, **_record())
        pytest.skip(f"recomputed {GOLDEN.name}")
    if not GOLDEN.exists():
        pytest.fail(f"{GOLDEN} is missing; create it with ETHOGRAM_REGOLD=1")
    golden = dict(np.load(GOLDEN))
    got = _record(golden["actions"])
    assert golden["events"][:, :, 4].sum() >= 1, "the golden run should deliver a soup"
    for name in FIELDS:
        np.testing.assert_array_equal(got[name], golden[name], err_msg=f"{name} differs from the golden trajectory")
