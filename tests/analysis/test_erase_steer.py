"""Erasure and steering on planted synthetic truth (no policy): LEACE from the saved moments leaves a
freshly fitted probe at chance on held-out rows while an independent concept stays decodable, joint
erasure removes every erased concept, rank-deficient layers are handled; steering makes the probe
read its target exactly at every row while the probes of independent concepts move by under 0.15
of their spread on the data (the steered one by about one spread or more).

Tolerance of "at chance": a probe with no information left answers like the majority class, so its
held-out accuracy is a binomial proportion around the chance accuracy c over the n held-out rows;
its skill 1 − (1 − acc) / (1 − c) then has standard error √(c (1 − c) / n) / (1 − c), and the tests
allow three of them (n ≈ 1,000 here: about ±0.09 for a balanced binary concept).
"""

from __future__ import annotations

import numpy as np
import pytest

from analysis.probes import ProbeConfig, fit_probes, load_probes, save_probes
from analysis.probes.edits import STEER_LOGIT, leace_eraser, steer_rows, steerer
from analysis.probes.fit import concept_targets, cross_covariance
from envs.spec import ConceptKind, ConceptSpec
from tests.analysis.test_probes import synthetic_spec

L = 10
D = L + 2
CONCEPTS = (
    ConceptSpec("env", "bit", ConceptKind.BINARY),
    ConceptSpec("env", "cls", ConceptKind.CATEGORICAL, classes=("a", "b", "c")),
    ConceptSpec("env", "value", ConceptKind.SCALAR, low=-5.0, high=5.0),
    ConceptSpec("env", "other_bit", ConceptKind.BINARY),
)
MODULES = {"shared": (0, 1)}


@pytest.fixture(scope="module")
def planted():
    """h (E, T, N, D) mixing L independent latents (bit reads latent 0, cls latents 1-3, value latent 4,
    other_bit latent 5) into correlated units of unequal scales, plus a dead unit and a copy of a unit
    (the covariance has rank L < D)."""
    rng = np.random.default_rng(1)
    e, t, n = 40, 50, 2
    z = rng.standard_normal((e, t, n, L))
    mixed = z @ rng.standard_normal((L, L)) * rng.uniform(0.5, 3, L) + rng.standard_normal(L)
    h = np.concatenate([mixed, np.zeros((e, t, n, 1)), mixed[..., :1]], axis=-1)
    gt = np.zeros((e, t, n, 4), np.float32)
    gt[..., 0] = z[..., 0] > 0
    gt[..., 1] = np.argmax(z[..., 1:4], axis=-1)
    gt[..., 2] = z[..., 4]
    gt[..., 3] = z[..., 5] > 0.3
    return synthetic_spec(CONCEPTS), h.astype(np.float32), gt, np.ones((e, t), bool)


def _fit(spec, h, gt, mask):
    return fit_probes({"h": h}, gt, mask, spec, MODULES, ProbeConfig(null_draws=0))


def _chance_tolerance(score) -> float:
    c = score.chance
    return 3 * np.sqrt(c * (1 - c) / score.n_test) / (1 - c)


def test_leace_from_the_saved_file_leaves_fresh_probes_at_chance_and_the_rest_decodable(planted, tmp_path):
    spec, h, gt, mask = planted
    before = _fit(spec, h, gt, mask)
    save_probes(before, tmp_path)
    probes = load_probes(tmp_path)
    for erased in (("env.bit",), ("env.bit", "env.cls")):
        eraser = leace_eraser(probes.stats[("shared", "h")], [probes.probes[("shared", "h", c)].cross_cov for c in erased])
        assert eraser.rank == sum(2 if c == "env.cls" else 1 for c in erased)  # one-hot of 3 classes: rank 2
        after = _fit(spec, eraser(h.reshape(-1, D)).reshape(h.shape).astype(np.float32), gt, mask)
        for concept in erased:
            s = after.score("shared", "h", concept)
            assert before.score("shared", "h", concept).skill > 0.7 and abs(s.skill) < _chance_tolerance(s), s
        for concept in sorted({"env.value", "env.other_bit", "env.cls"} - set(erased)):
            kept, was = after.score("shared", "h", concept).skill, before.score("shared", "h", concept).skill
            assert kept > 0.7 and kept > was - 0.05, (concept, kept, was)


def test_erased_training_rows_have_no_covariance_with_the_concept(planted):
    """The guarantee itself, on the rows the moments came from: Cov(r(X), Z) = 0, with a singular covariance."""
    spec, h, gt, mask = planted
    probes = _fit(spec, h, gt, mask)
    train = np.zeros_like(mask)
    train[probes.split.train] = True
    x = h[train].reshape(-1, D).astype(np.float64)  # (R, D), agents pooled as the shared module's rows
    stats = probes.stats[("shared", "h")]
    assert np.linalg.matrix_rank(stats.cov) == L
    for concept, cols in (("env.bit", slice(0, 1)), ("env.cls", slice(1, 2))):
        z, _ = concept_targets(spec.concepts[concept], gt[train].reshape(-1, 4)[:, cols])
        eraser = leace_eraser(stats, [probes.probes[("shared", "h", concept)].cross_cov])
        assert np.isfinite(eraser.matrix).all()
        assert np.abs(cross_covariance(eraser(x), z)).max() < 1e-7 * np.abs(cross_covariance(x, z)).max()  # round-off
        edit = x - eraser(x)
        basis = np.linalg.svd(probes.probes[("shared", "h", concept)].cross_cov, full_matrices=False)[0]
        np.testing.assert_allclose(edit, edit @ basis @ basis.T, atol=1e-8)  # the edit lies in the span of Σ_xz


def test_steering_reads_the_target_at_every_row_and_independent_probes_barely_move(planted):
    spec, h, gt, mask = planted
    probes = _fit(spec, h, gt, mask)
    x = h[mask].reshape(-1, D).astype(np.float64)
    get = {c.name: probes.probes[("shared", "h", c.name)] for c in CONCEPTS}
    stats = probes.stats[("shared", "h")]

    def readings(y):
        return {name: y @ p.weight.T + p.bias for name, p in get.items()}

    plain = readings(x)
    spread = {name: r.std(axis=0).mean() for name, r in plain.items()}
    for name, values, check in [
        ("env.bit", (1.0,), lambda r: r[:, 0] - STEER_LOGIT),
        ("env.bit", (0.25,), lambda r: r[:, 0] - np.log(0.25 / 0.75)),
        ("env.cls", (2.0,), lambda r: (r[:, 2:3] - r[:, :2]) - STEER_LOGIT),
        ("env.value", (-2.5,), lambda r: r[:, 0] + 2.5),
    ]:
        steered = readings(steerer(stats, [steer_rows(get[name], values, spec.concepts[name].classes)])(x))
        np.testing.assert_allclose(check(steered[name]), 0.0, atol=1e-8)
        for other in sorted(set(get) - {name}):
            moved = np.abs(steered[other] - plain[other]).mean() / spread[other]
            assert moved < 0.15, (name, other, moved)  # measured: at most 0.12 (a Euclidean step: up to 2.1)


def test_joint_steering_meets_every_target_and_an_unseen_class_is_refused(planted):
    spec, h, gt, mask = planted
    probes = _fit(spec, h, gt, mask)
    bit, value = probes.probes[("shared", "h", "env.bit")], probes.probes[("shared", "h", "env.value")]
    both = steerer(probes.stats[("shared", "h")], [steer_rows(bit, (0.0,)), steer_rows(value, (1.5,))])
    y = both(h[mask].reshape(-1, D))
    np.testing.assert_allclose(both.readings(y), np.broadcast_to([-STEER_LOGIT, 1.5], (len(y), 2)), atol=1e-8)
    two = gt.copy()
    two[..., 1] = np.minimum(two[..., 1], 1)  # class c never occurs
    cls = _fit(spec, h, two, mask).probes[("shared", "h", "env.cls")]
    assert cls.outputs == ("a", "b")
    with pytest.raises(ValueError, match="class 'c' never occurred in the probe's training rows"):
        steer_rows(cls, (2.0,), ("a", "b", "c"))
