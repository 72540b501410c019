"""Probes and TCAV on planted truth (synthetic activations, no policy): a concept that is a linear
function of the activations is recovered, independent noise scores at chance, a constant concept is
reported as such; the saved files round-trip and damaged ones are named; the TCAV test is calibrated
on random concepts and detects a direction that provably drives a logit."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file, save_file

from analysis.probes import (
    ProbeConfig,
    ProbeError,
    ProbeFileError,
    SensitivityAccumulator,
    fit_probes,
    load_probes,
    null_test,
    save_probes,
    split_episodes,
)
from analysis.probes.fit import concept_targets
from envs.spec import ABSENT, ConceptKind, ConceptSet, ConceptSpec, EnvSpec, ObservationLayout

AGENTS = ("agent_0", "agent_1")
D = 10


def synthetic_spec(specs: tuple[ConceptSpec, ...], agents: tuple[str, ...] = AGENTS, actions: int = 3) -> EnvSpec:
    return EnvSpec(
        env_id="synthetic",
        agents=agents,
        action_names=tuple(f"a{i}" for i in range(actions)),
        observation=ObservationLayout(mode="global", shape=(1, 1, 1), channels=("c",)),
        concepts=ConceptSet(specs=specs, agents=agents),
        events=(),
        grid=(5, 6),
    )


PLANTED = (
    ConceptSpec("env", "linear_bit", ConceptKind.BINARY),
    ConceptSpec("env", "linear_class", ConceptKind.CATEGORICAL, classes=("a", "b", "c")),
    ConceptSpec("env", "linear_value", ConceptKind.SCALAR),
    ConceptSpec("thing", "position", ConceptKind.POSITION),
    ConceptSpec("env", "noise", ConceptKind.BINARY),
    ConceptSpec("env", "never", ConceptKind.BINARY),
)


@pytest.fixture(scope="module")
def planted():
    """Activations h (E, T, N, D) and concepts (E, T, N, 7) with known relations; padded steps hold garbage."""
    rng = np.random.default_rng(0)
    e, t, n = 30, 20, len(AGENTS)
    z = rng.standard_normal((e, t, n, D))  # latent; h mixes it (correlated units of unequal scales), so z is linear in h
    h = (z @ rng.standard_normal((D, D)) * rng.uniform(0.5, 3, D) + rng.standard_normal(D)).astype(np.float32)
    w = rng.standard_normal((5, D))
    gt = np.zeros((e, t, n, 7), np.float32)
    gt[..., 0] = z @ w[0] > 0
    gt[..., 1] = np.argmax(z @ w[1:4].T, axis=-1)
    gt[..., 2] = z @ w[4]
    xy = 1 / (1 + np.exp(-z[..., :2]))  # in (0, 1): a monotone, nearly linear function of two directions
    absent = rng.random((e, t, n)) < 0.2
    gt[..., 3:5] = np.where(absent[..., None], ABSENT, xy)
    gt[..., 5] = rng.random((e, t, n)) < 0.3
    lengths = rng.integers(12, t + 1, e)
    mask = np.arange(t)[None, :] < lengths[:, None]
    h[~mask], gt[~mask] = 99.0, 99.0  # garbage on padding: must never be read
    return synthetic_spec(PLANTED), h, gt, mask


def test_planted_linear_concepts_are_recovered_noise_is_at_chance_and_constants_are_named(planted):
    spec, h, gt, mask = planted
    probes = fit_probes({"h": h}, gt, mask, spec, {"shared": (0, 1)}, ProbeConfig(null_draws=0))
    score = {s.concept: s for s in probes.scores}
    for name in ("env.linear_bit", "env.linear_class", "env.linear_value"):
        assert score[name].status == "fitted" and score[name].skill > 0.85, score[name]
    assert score["thing.position"].skill > 0.8 and score["thing.position"].error_unit == "cells"
    assert score["thing.position"].error < 0.5 * score["thing.position"].chance_error
    noise = score["env.noise"]
    assert abs(noise.score - noise.chance) < 0.06 and abs(noise.skill) < 0.2, noise
    assert score["env.never"].status == "constant" and ("shared", "h", "env.never") not in probes.probes
    assert score["env.linear_bit"].metric == "accuracy" and score["env.linear_value"].metric == "r2"
    n_test_rows = int(mask[probes.split.test].sum()) * 2
    assert score["env.linear_bit"].n_test == n_test_rows and score["thing.position"].n_test < n_test_rows  # absent rows left out


def test_probes_live_in_the_raw_activation_space(planted):
    spec, h, gt, mask = planted
    probes = fit_probes({"h": h}, gt, mask, spec, {"shared": (0, 1)}, ProbeConfig(null_draws=0))
    test = mask.copy()
    test[probes.split.train] = False
    x, y = h[test].reshape(-1, D).astype(np.float64), gt[test].reshape(-1, 7)
    value = probes.probes[("shared", "h", "env.linear_value")]
    pred = x @ value.weight.T + value.bias  # (R, 1)
    assert 1 - np.mean((pred[:, 0] - y[:, 2]) ** 2) / np.var(y[:, 2]) > 0.95
    bit = probes.probes[("shared", "h", "env.linear_bit")]
    assert np.mean(((x @ bit.weight.T + bit.bias)[:, 0] > 0) == (y[:, 0] > 0.5)) > 0.93
    cls = probes.probes[("shared", "h", "env.linear_class")]
    assert cls.link == "softmax" and cls.weight.shape == (3, D)
    assert np.mean(np.argmax(x @ cls.weight.T + cls.bias, axis=1) == y[:, 1]) > 0.9


def test_eraser_moments_match_numpy(planted):
    spec, h, gt, mask = planted
    probes = fit_probes({"h": h}, gt, mask, spec, {"agent_0": (0,), "agent_1": (1,)}, ProbeConfig(null_draws=0))
    train = np.zeros_like(mask)
    train[probes.split.train] = mask[probes.split.train]
    x, g = h[train][:, 1].astype(np.float64), gt[train][:, 1]  # agent_1's training rows
    stats = probes.stats[("agent_1", "h")]
    np.testing.assert_allclose(stats.mean, x.mean(0), atol=1e-9)
    np.testing.assert_allclose(stats.cov, np.cov(x, rowvar=False, bias=True), atol=1e-9)
    z, columns = concept_targets(spec.concepts["env.linear_class"], g[:, 1:2])
    assert columns == ("a", "b", "c") and z.sum(1).tolist() == [1.0] * len(z)
    expected = np.cov(np.column_stack([x, z]), rowvar=False, bias=True)[:D, D:]
    np.testing.assert_allclose(probes.probes[("agent_1", "h", "env.linear_class")].cross_cov, expected, atol=1e-9)
    position = probes.probes[("agent_1", "h", "thing.position")]
    assert position.z_columns == ("x", "y", "absent") and position.cross_cov.shape == (D, 3)
    assert {key[0] for key in probes.probes} == {"agent_0", "agent_1"}  # independent modules: one probe each


def test_saved_moments_suffice_for_a_leace_eraser(planted, tmp_path):
    """The file holds what a later LEACE eraser needs: built from the loaded mean, covariance and
    cross-covariance alone (Belrose et al. 2023: r(h) = h − W⁺PW(h − μ)), it leaves a fresh probe at chance."""
    spec, h, gt, mask = planted
    save_probes(fit_probes({"h": h}, gt, mask, spec, {"shared": (0, 1)}, ProbeConfig(null_draws=0)), tmp_path)
    probes = load_probes(tmp_path)
    stats, probe = probes.stats[("shared", "h")], probes.probes[("shared", "h", "env.linear_bit")]
    vals, vecs = np.linalg.eigh(stats.cov)
    whiten, unwhiten = (vecs * vals**-0.5) @ vecs.T, (vecs * vals**0.5) @ vecs.T
    u = np.linalg.svd(whiten @ probe.cross_cov, full_matrices=False)[0][:, :1]  # Z has one column: rank 1
    eraser = unwhiten @ (u @ u.T) @ whiten  # (D, D)
    erased = (h - (h - stats.mean) @ eraser.T).astype(np.float32)
    again = fit_probes({"h": erased}, gt, mask, spec, {"shared": (0, 1)}, ProbeConfig(null_draws=0)).score("shared", "h", "env.linear_bit")
    assert probes.score("shared", "h", "env.linear_bit").skill > 0.85 and abs(again.skill) < 0.1, again


def test_split_and_config_errors():
    split = split_episodes(10, 0.3, seed=4)
    assert len(split.test) == 3 and sorted([*split.train, *split.test]) == list(range(10))
    assert split_episodes(2, 0.01, seed=0).test.size == 1  # at least one episode on each side
    with pytest.raises(ProbeError, match="cannot be split"):
        split_episodes(1, 0.5, seed=0)
    for bad in (0.0, 1.0, 1.5):
        with pytest.raises(ProbeError, match="strictly between 0 and 1"):
            ProbeConfig(held_out=bad)
    with pytest.raises(ProbeError, match="at least 2"):
        ProbeConfig(null_draws=1)


def test_save_load_round_trip_and_damaged_files(planted, tmp_path):
    spec, h, gt, mask = planted
    acts = {"h": h, "h2": np.maximum(h[..., :6], 0)}
    probes = fit_probes(acts, gt, mask, spec, {"shared": (0, 1)}, ProbeConfig(null_draws=8), meta={"checkpoint": "x"})
    save_probes(probes, tmp_path / "p")
    back = load_probes(tmp_path / "p")
    assert back.layers == ("h", "h2") and back.widths == {"h": D, "h2": 6} and back.meta == {"checkpoint": "x"}
    assert back.modules == probes.modules and back.config == probes.config
    np.testing.assert_array_equal(back.split.test, probes.split.test)
    for key, p in probes.probes.items():
        q = back.probes[key]
        for name in ("weight", "bias", "cross_cov"):
            np.testing.assert_array_equal(getattr(q, name), getattr(p, name))
        assert (q.outputs, q.link, q.z_columns) == (p.outputs, p.link, p.z_columns)
    for key, st in probes.stats.items():
        np.testing.assert_array_equal(back.stats[key].cov, st.cov)
    for key, dirs in probes.null.items():
        np.testing.assert_array_equal(back.null[key], dirs)
    for a, b in zip(probes.scores, back.scores):
        assert a.__dict__.keys() == b.__dict__.keys()
        assert all(x == y or (x != x and y != y) for x, y in zip(a.__dict__.values(), b.__dict__.values()))

    arrays = load_file(str(tmp_path / "p" / "probes.safetensors"))
    del arrays["probe/shared/h2/env.linear_value/cross_cov"]
    save_file(arrays, str(tmp_path / "p" / "probes.safetensors"))
    with pytest.raises(ProbeFileError, match=r"env\.linear_value/cross_cov"):
        load_probes(tmp_path / "p")
    index = json.loads((tmp_path / "p" / "probes.json").read_text())
    (tmp_path / "p" / "probes.json").write_text(json.dumps({**index, "format": "other/1"}))
    with pytest.raises(ProbeFileError, match="format"):
        load_probes(tmp_path / "p")
    with pytest.raises(ProbeFileError, match="missing"):
        load_probes(tmp_path / "nothing")


# --- TCAV ------------------------------------------------------------------------------------


def _gradients(model: torch.nn.Module, x: np.ndarray, actions: int) -> np.ndarray:
    """d logit_a / d x for a torch model on x (R, D) → (R, 1, A, D) (one agent)."""
    xt = torch.from_numpy(x).requires_grad_(True)
    out = model(xt)
    grads = [torch.autograd.grad(out[:, a].sum(), xt, retain_graph=True)[0] for a in range(actions)]
    return torch.stack(grads, 1)[:, None].numpy()


def _tcav(h: np.ndarray, gt: np.ndarray, spec: EnvSpec, model: torch.nn.Module, seed: int, draws: int, correction: str = "holm"):
    e, t = h.shape[:2]
    probes = fit_probes({"h": h}, gt, np.ones((e, t), bool), spec, {"agent_0": (0,)}, ProbeConfig(seed=seed, null_draws=draws))
    acc = SensitivityAccumulator(probes, spec.action_names)
    held_out = h[probes.split.test].reshape(-1, h.shape[-1])
    for chunk in np.array_split(held_out, 3):  # batches accumulate
        acc.add({"h": _gradients(model, chunk, len(spec.action_names))})
    return acc.scores(correction=correction)


def test_tcav_on_random_concepts_is_calibrated():
    """Random concepts (unrelated to the activations) against a random ReLU network's logits: the
    fraction of uncorrected p < alpha is near alpha (the rank test is exact under exchangeability)."""
    n_concepts, rates = 40, []
    spec = synthetic_spec(tuple(ConceptSpec("env", f"random_{i}", ConceptKind.BINARY) for i in range(n_concepts)), ("agent_0",))
    for seed in range(4):
        rng = np.random.default_rng(100 + seed)
        h = (rng.standard_normal((40, 25, 1, 12)) @ rng.standard_normal((12, 12)) / 3 + rng.standard_normal(12)).astype(np.float32)
        gt = (rng.random((40, 25, 1, n_concepts)) < rng.uniform(0.2, 0.5, n_concepts)).astype(np.float32)
        torch.manual_seed(seed)
        model = torch.nn.Sequential(
            torch.nn.Linear(12, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 3)
        )
        scores = _tcav(h, gt, spec, model, seed, draws=300)
        assert len(scores) == n_concepts * 3
        rates.append([np.mean([s.p < alpha for s in scores]) for alpha in (0.05, 0.2)])
    rate_05, rate_20 = np.mean(rates, axis=0)
    assert 0.015 < rate_05 < 0.1, rates
    assert 0.12 < rate_20 < 0.28, rates


class _Driven(torch.nn.Module):
    """logit_0 = w·h + ½ hᵀMh (the quadratic term makes the gradient vary, so random directions spread
    around 0.5); logit_1 ignores w."""

    def __init__(self, w: np.ndarray, rng: np.random.Generator) -> None:
        super().__init__()
        d = len(w)
        m = rng.standard_normal((2, d, d)) * 2 / np.sqrt(d)
        self.register_buffer("w", torch.tensor(w, dtype=torch.float32))
        self.register_buffer("m", torch.tensor((m + m.transpose(0, 2, 1)) / 2, dtype=torch.float32))
        self.register_buffer("u", torch.tensor(rng.standard_normal(d) * 0.1, dtype=torch.float32))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        quad = 0.5 * torch.einsum("bd,ade,be->ba", h, self.m, h)  # (B, 2)
        return torch.stack([h @ self.w, h @ self.u], 1) + quad


def test_tcav_finds_the_direction_that_drives_a_logit():
    rng = np.random.default_rng(7)
    d, draws = 64, 300
    w = rng.standard_normal(d)
    w *= 8 / np.linalg.norm(w)
    h = rng.standard_normal((40, 25, 1, d)).astype(np.float32)
    gt = (h @ w > 0).astype(np.float32)[..., None]  # the concept is w's side of h
    spec = synthetic_spec((ConceptSpec("env", "driver", ConceptKind.BINARY),), ("agent_0",), actions=2)
    drives = {s.action: s for s in _tcav(h, gt, spec, _Driven(w, rng), seed=0, draws=draws)}["a0"]
    assert drives.tcav > 0.98 and drives.null_sd > 0.05
    assert drives.p == pytest.approx(2 / (draws + 1)) and drives.significant and drives.z > 1.5
    assert drives.mean_abs > drives.null_mean_abs


def test_null_test_is_conservative_on_ties_and_symmetric():
    assert null_test(1.0, np.ones(50))[1] == 1.0  # every random direction scores 1 too: nothing to see
    z_hi, p_hi = null_test(0.9, np.linspace(0.1, 0.5, 99))
    z_lo, p_lo = null_test(-0.3, np.linspace(0.1, 0.5, 99))
    assert p_hi == p_lo == pytest.approx(2 / 100) and z_hi > 0 > z_lo
    assert null_test(0.3, np.linspace(0.1, 0.5, 99))[1] == 1.0
    with pytest.raises(ProbeError, match="at least 2"):
        null_test(0.5, np.array([0.5]))
