"""The intervention grammar: parsing, validation errors, each operation on arrays, windows, probes."""

from __future__ import annotations

import numpy as np
import pytest

from envs.interventions import Applier, Reference, classify, parse, parse_condition
from envs.spec import ConceptKind, ConceptSet, ConceptSpec

AGENTS = ("agent_0", "agent_1")
CONCEPTS = ConceptSet(
    specs=(
        ConceptSpec("agent_0", "position", ConceptKind.POSITION),
        ConceptSpec("agent_0", "holding_dish", ConceptKind.BINARY),
        ConceptSpec("agent_1", "position", ConceptKind.POSITION),
        ConceptSpec("agent_1", "holding_dish", ConceptKind.BINARY),
        ConceptSpec("pot_0", "count", ConceptKind.CATEGORICAL, classes=("0", "1", "2", "3")),
    ),
    agents=AGENTS,
)
P = CONCEPTS.pred_dim  # 2 + 1 + 2 + 1 + 4 = 10


def encode(gt: np.ndarray) -> np.ndarray:
    """gt (..., 7) → probabilities (..., 10): one-hot for the pot count."""
    out = np.zeros((*gt.shape[:-1], P), dtype=np.float32)
    out[..., :6] = gt[..., :6]
    out[..., 6:] = np.eye(4, dtype=np.float32)[gt[..., 6].astype(int)]
    return out


def test_parse_expands_targets_and_window():
    iv = parse("all: pot*.count -> set(3) @ 10:20", CONCEPTS)
    assert iv.targets == AGENTS and iv.op == "set" and iv.args == (3.0,) and (iv.start, iv.stop) == (10, 20)
    assert parse("agent_0, agent_1: self.* -> noise(0.5)", CONCEPTS).args == (0.5,)
    assert parse("agent_1: teammates.position -> mask @ 5:", CONCEPTS).stop is None


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("agent_1 teammates.position mask", "does not read"),
        ("agent_9: self.* -> mask", "unknown target agent.*valid: all, agent_0, agent_1"),
        ("agent_0: self.* -> zero", "unknown operation 'zero'; valid: mask, set, mean, shuffle, oracle, noise"),
        ("agent_0: teammates.velocity -> mask", "matches nothing.*GROUP.ATTR"),
        ("agent_0: self.* -> noise", r"noise takes one value"),
        ("agent_0: self.* -> mask(2)", "mask takes no arguments"),
        ("agent_0: self.* -> mask @ 9:3", "START < STOP"),
    ],
)
def test_parse_errors_name_the_valid_choices(line, message):
    with pytest.raises(ValueError, match=message):
        parse(line, CONCEPTS)


def _inputs(k=3):
    rng = np.random.default_rng(0)
    bottleneck = rng.uniform(0.2, 0.8, (k, 2, P)).astype(np.float32)
    gt = np.zeros((k, 2, CONCEPTS.gt_dim), dtype=np.float32)
    gt[..., 6] = 1
    return bottleneck, gt, np.array([0, 10, 30])


def test_mask_touches_only_selected_slots_and_agents():
    bottleneck, gt, t = _inputs()
    out = Applier(parse_condition(["agent_1: teammates.position -> mask"], CONCEPTS), CONCEPTS)(bottleneck, gt, t)
    assert np.all(out[:, 1, 0:2] == 0)
    np.testing.assert_array_equal(np.delete(out[:, 1], [0, 1], axis=-1), np.delete(bottleneck[:, 1], [0, 1], axis=-1))
    np.testing.assert_array_equal(out[:, 0], bottleneck[:, 0])


def test_set_oracle_mean_shuffle_noise_and_window():
    bottleneck, gt, t = _inputs()
    out = Applier(parse_condition("all: pot_0.count -> set(3) @ 5:20", CONCEPTS), CONCEPTS, encode=encode)(bottleneck, gt, t)
    np.testing.assert_array_equal(out[1, :, 6:], [[0, 0, 0, 1]] * 2)  # t = 10 in the window
    np.testing.assert_array_equal(out[[0, 2]], bottleneck[[0, 2]])  # t = 0 and 30 outside
    oracle = Applier(parse_condition("all: objects.* -> oracle", CONCEPTS), CONCEPTS, encode=encode)(bottleneck, gt, t)
    np.testing.assert_array_equal(oracle[..., 6:], np.broadcast_to([0, 1, 0, 0], (3, 2, 4)))
    pool = np.random.default_rng(1).uniform(size=(50, 2, P)).astype(np.float32)
    ref = Reference(pool)
    mean = Applier(parse_condition("agent_0: self.* -> mean", CONCEPTS), CONCEPTS, reference=ref)(bottleneck, gt, t)
    np.testing.assert_allclose(mean[:, 0, :3], np.broadcast_to(pool.mean(0)[0, :3], (3, 3)), rtol=1e-6)
    shuffled = Applier(parse_condition("agent_0: self.* -> shuffle", CONCEPTS), CONCEPTS, reference=ref, seed=0)(bottleneck, gt, t)
    assert all(any(np.allclose(row, p[0, :3]) for p in pool) for row in shuffled[:, 0, :3])
    noisy = Applier(parse_condition("agent_0: self.* -> noise(1.0)", CONCEPTS), CONCEPTS, seed=0)(bottleneck, gt, t)
    assert np.abs(noisy[:, 0, :3] - bottleneck[:, 0, :3]).mean() > 0.3


def test_applier_errors():
    with pytest.raises(ValueError, match="need a reference"):
        Applier(parse_condition("agent_0: self.* -> mean", CONCEPTS), CONCEPTS)
    with pytest.raises(ValueError, match="need an encode"):
        Applier(parse_condition("agent_0: self.* -> oracle", CONCEPTS), CONCEPTS)
    bottleneck, gt, t = _inputs()
    bad = Applier(parse_condition("all: pot_0.count -> set(7)", CONCEPTS), CONCEPTS, encode=encode)
    with pytest.raises(ValueError, match=r"class index 0..3"):
        bad(bottleneck, gt, t)


def test_classify_probes():
    assert classify(parse_condition("agent_0: self.* -> mask", CONCEPTS), CONCEPTS) == ("own", "agent_0", "agent_0")
    assert classify(parse_condition("agent_1: agent_0.* -> mask", CONCEPTS), CONCEPTS) == ("about", "agent_0", "agent_1")
    assert classify(parse_condition("all: teammates.* -> mask", CONCEPTS), CONCEPTS) is None
    assert classify(parse_condition("agent_0: objects.* -> mask", CONCEPTS), CONCEPTS) is None


def test_layer_lines_name_their_layer_and_keep_the_window():
    """erase / steer act at a layer (``@layer=``, either order with the window); the bottleneck ops take none."""
    iv = parse("all: teammates.position -> erase @layer=encoder.relu1", CONCEPTS)
    assert (iv.op, iv.layer, iv.args, iv.at_layer, iv.start, iv.stop) == ("erase", "encoder.relu1", (), True, 0, None)
    late = parse("agent_0: agent_1.holding_dish -> steer(1) @ 5:20 @layer=features", CONCEPTS)
    assert (late.layer, late.args, late.start, late.stop) == ("features", (1.0,), 5, 20)
    assert parse("agent_0: pot_0.count -> steer(2) @layer=pi.relu0 @ 3:", CONCEPTS).start == 3
    assert parse("agent_1: teammates.position -> steer(0.2, 0.9) @layer=concept", CONCEPTS).args == (0.2, 0.9)
    assert parse("agent_1: self.holding_dish -> steer(0.3) @layer=concept", CONCEPTS).args == (0.3,)  # a probability
    assert not parse("agent_1: self.* -> mask @ 2:9", CONCEPTS).at_layer
    with pytest.raises(ValueError, match="acts at a layer, not on the bottleneck"):
        Applier([iv], CONCEPTS)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("all: self.* -> erase", r"erase acts at a layer; name it, e.g. '... -> erase @layer=features'"),
        ("all: self.holding_dish -> steer(1)", r"steer acts at a layer"),
        ("all: self.* -> mask @layer=features", "mask acts on the concept bottleneck and takes no layer; at a layer use erase or steer"),
        ("all: self.* -> erase(1) @layer=features", "erase takes no arguments"),
        ("all: self.* -> erase @layer=features @layer=concept", "name one layer once"),
        ("all: self.* -> erase @layer=", "name one layer once"),
        ("all: self.* -> erase @layer=features @ 1:5 @ 2:6", "one window per line"),
        ("all: self.* -> erase @layer=features @ 9:3", "START < STOP"),
        ("all: self.holding_dish -> steer @layer=features", "steer takes one value, or two"),
        ("all: self.holding_dish -> steer(2) @layer=features", r"binary: steer it to a probability in \[0, 1\]"),
        ("all: pot_0.count -> steer(4) @layer=features", r"class index 0..3 \(0=0, 1=1, 2=2, 3=3\)"),
        ("all: pot_0.count -> steer(1.5) @layer=features", "class index"),
        ("all: self.position -> steer(0.5) @layer=features", r"position: steer it to two values in \[0, 1\]"),
        ("all: self.position -> steer(0.5, 1.2) @layer=features", "position"),
        ("all: self.* -> steer(1) @layer=features", "position"),  # a glob over kinds that do not all take V
    ],
)
def test_layer_line_errors(line, message):
    with pytest.raises(ValueError, match=message):
        parse(line, CONCEPTS)


def test_a_scalar_is_steered_within_its_range():
    concepts = ConceptSet(specs=(ConceptSpec("env", "level", ConceptKind.SCALAR, low=-1.0, high=3.0),), agents=AGENTS)
    assert parse("all: env.level -> steer(2.5) @layer=features", concepts).args == (2.5,)
    with pytest.raises(ValueError, match=r"env.level ranges over \[-1, 3\]; 4 is outside it"):
        parse("all: env.level -> steer(4) @layer=features", concepts)
