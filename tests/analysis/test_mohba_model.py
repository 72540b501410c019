"""MOHBA model: named outputs, KL, permutation invariance, any agent count, β schedule, save/load."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from analysis.mohba.features import FeatureConfig, Standardiser
from analysis.mohba.fit import FitConfig, cyclical_beta, load_model, resolve_device, save_model
from analysis.mohba.model import MohbaModel, MohbaModelConfig

F, A = 7, 5


def _batch(b=4, length=6, n=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    feats = torch.randn(b, length, n, F, generator=g)
    acts = torch.randint(0, A, (b, length, n), generator=g)
    mask = torch.ones(b, length, dtype=torch.bool)
    mask[0, -2:] = False
    return feats, acts, mask


@pytest.mark.parametrize("encoder", ["gru", "transformer"])
@pytest.mark.parametrize("hierarchical", [True, False])
def test_named_outputs_shapes_and_kl(encoder, hierarchical):
    torch.manual_seed(0)
    model = MohbaModel(
        MohbaModelConfig(F, A, hidden=16, z_joint=3, z_local=2, encoder=encoder, hierarchical=hierarchical, predict_next=True)
    )
    feats, acts, mask = _batch()
    out = model(feats, acts, mask, beta=0.5)
    assert out.logits.shape == (4, 6, 3, A)
    assert out.mu_local.shape == out.logvar_local.shape == (4, 3, 2)
    assert set(out.kl_per_level) == {"joint", "local"}
    assert (out.mu_joint is None) == (not hierarchical)
    if hierarchical:
        assert out.mu_joint.shape == (4, 3)
    for value in (*out.kl_per_level.values(), out.reconstruction, out.next_features):
        assert value.ndim == 0 and float(value.detach()) >= 0
    expected = (
        out.reconstruction + out.next_features + 0.5 * (model.config.beta_joint * out.kl_per_level["joint"] + out.kl_per_level["local"])
    )
    assert torch.allclose(out.loss, expected)
    out.loss.backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_mixture_kl_bound_is_nonnegative_and_tight_for_one_component():
    torch.manual_seed(1)
    model = MohbaModel(MohbaModelConfig(F, A, hidden=16, z_joint=3, z_local=2, prior_components=3))
    mu, logvar, zj = torch.randn(5, 4, 2) * 3, torch.randn(5, 4, 2), torch.randn(5, 3)
    assert (model._mixture_kl(mu, logvar, zj) >= 0).all()
    shared = MohbaModel(MohbaModelConfig(F, A, hidden=16, z_joint=3, z_local=2, prior_components=3, shared_components=True))
    log_pi, means, _ = shared.prior_parameters(zj)
    assert torch.equal(means[0], means[1]) and not torch.allclose(log_pi[0], log_pi[1])
    assert (shared._mixture_kl(mu, logvar, zj) >= 0).all()
    single = MohbaModel(MohbaModelConfig(F, A, hidden=16, z_joint=3, z_local=2, prior_components=1))
    _, mu_p, logvar_p = single.prior_parameters(zj)
    from analysis.mohba.model import gaussian_kl

    exact = gaussian_kl(mu, logvar, mu_p[:, None, 0], logvar_p[:, None, 0])
    assert torch.allclose(single._mixture_kl(mu, logvar, zj), exact, atol=1e-5)


def test_joint_posterior_is_permutation_invariant_and_local_equivariant():
    torch.manual_seed(0)
    model = MohbaModel(MohbaModelConfig(F, A, hidden=16, z_joint=3, z_local=2))
    feats, acts, mask = _batch(n=4)
    perm = torch.tensor([2, 0, 3, 1])
    a = model.encode(feats, acts, mask)
    b = model.encode(feats[:, :, perm], acts[:, :, perm], mask)
    assert torch.allclose(a["mu_joint"], b["mu_joint"], atol=1e-5)
    assert torch.allclose(a["logvar_joint"], b["logvar_joint"], atol=1e-5)
    assert torch.allclose(a["mu_local"][:, perm], b["mu_local"], atol=1e-5)


def test_any_agent_count_and_padding_agents_change_nothing():
    torch.manual_seed(0)
    model = MohbaModel(MohbaModelConfig(F, A, hidden=16, z_joint=3, z_local=2))
    for n in (1, 2, 5):
        feats, acts, mask = _batch(n=n)
        assert model(feats, acts, mask).mu_local.shape[1] == n
    feats, acts, mask = _batch(n=2)
    padded = torch.cat([feats, torch.randn(4, 6, 1, F) * 9], dim=2)
    pacts = torch.cat([acts, torch.zeros(4, 6, 1, dtype=torch.int64)], dim=2)
    agent_mask = torch.tensor([[True, True, False]] * 4)
    a = model.encode(feats, acts, mask)
    b = model.encode(padded, pacts, mask, agent_mask)
    assert torch.allclose(a["mu_joint"], b["mu_joint"], atol=1e-5)
    model.eval()  # no decoder dropout
    out_a = model(feats, acts, mask, sample=False)
    out_b = model(padded, pacts, mask, agent_mask, sample=False)
    assert torch.allclose(out_a.loss, out_b.loss, atol=1e-4)


def test_cyclical_beta_follows_fu_et_al():
    total, cycles = 100, 4
    betas = [cyclical_beta(s, total, cycles, ramp=0.5, beta_max=2.0) for s in range(total)]
    assert betas[0] == 0.0 and betas[25] == 0.0 and betas[50] == 0.0 and betas[75] == 0.0
    assert betas[12] == pytest.approx(2.0 * 12 / 12.5)
    assert betas[13] == betas[24] == 2.0
    assert all(b1 <= b2 for b1, b2 in itertools.pairwise(betas[:13]))
    assert cyclical_beta(5, 100, 4, ramp=0.0) == 1.0


def test_device_auto_falls_back_to_cpu():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError):
        FitConfig(device="tpu")


def test_save_load_round_trip_is_bitwise(tmp_path):
    torch.manual_seed(0)
    model = MohbaModel(MohbaModelConfig(F, A, hidden=16, z_joint=3, z_local=2, encoder="transformer", predict_next=True))
    std = Standardiser(tuple(np.arange(F, dtype=float)), tuple(np.ones(F)))
    save_model(tmp_path, model, FeatureConfig(window=6, stride=3), std, note="x")
    assert not list(tmp_path.glob("*.pt")) and not list(tmp_path.glob("*.pkl"))
    loaded, features, std2, meta = load_model(tmp_path)
    assert features == FeatureConfig(window=6, stride=3) and std2 == std and meta["note"] == "x"
    assert loaded.config == model.config
    for (k, v), (k2, v2) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)
    feats, acts, mask = _batch()
    assert torch.equal(model.eval().encode(feats, acts, mask)["mu_joint"], loaded.eval().encode(feats, acts, mask)["mu_joint"])
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing")


def test_bad_settings_name_the_field_and_the_allowed_values():
    from analysis.mohba.cluster import ClusterConfig

    with pytest.raises(ValueError, match=r"encoder=.*gru, transformer"):
        MohbaModelConfig(F, A, encoder="lstm")
    with pytest.raises(ValueError, match="divisible"):
        MohbaModelConfig(F, A, encoder="transformer", hidden=10, heads=4)
    with pytest.raises(ValueError, match="decoder_dropout"):
        MohbaModelConfig(F, A, decoder_dropout=1.5)
    with pytest.raises(ValueError, match="window"):
        FeatureConfig(window=1)
    with pytest.raises(ValueError, match="at least one"):
        FeatureConfig(concepts=False, events=False, prev_action=False)
    with pytest.raises(ValueError, match=r"unit=.*episode, window"):
        ClusterConfig(unit="team")
    with pytest.raises(ValueError, match="max_len"):
        MohbaModel(MohbaModelConfig(F, A, hidden=16, encoder="transformer", max_len=4)).encode(*_batch(length=6))
