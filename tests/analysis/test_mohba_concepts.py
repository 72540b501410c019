"""Cluster profiles, labels, completeness and ConceptSHAP on cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from analysis.mohba.concepts import ConceptModel, _fit_classifier, completeness_fn, concept_shap, discover_concepts
from analysis.mohba.describe import cluster_profiles, cohens_d, quantile_bins


def test_concept_shap_of_additive_game_is_its_weights_and_efficient():
    weights = np.array([0.5, 0.0, 0.3, 0.2])
    shap = concept_shap(lambda s: float(sum(weights[list(s)])), 4)
    assert np.allclose(shap, weights)
    # a game with an interaction: value 1 only when both 0 and 1 are present → split equally
    shap = concept_shap(lambda s: float({0, 1} <= s), 3)
    assert np.allclose(shap, [0.5, 0.5, 0.0])
    with pytest.raises(ValueError):
        concept_shap(lambda s: 0.0, 13)


def _known_case(n=800, d=4, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, d)).astype(np.float32)
    return z, (z[:, 0] > 0).astype(np.int64)


def test_completeness_and_shap_of_given_concepts():
    z, y = _known_case()
    zt, yt = torch.as_tensor(z), torch.as_tensor(y)
    h = _fit_classifier(zt, yt, 2, seed=0)
    ceiling = float((h(zt).argmax(1) == yt).float().mean())
    assert ceiling > 0.97
    model = ConceptModel(4, 2)
    with torch.no_grad():
        model.concepts.copy_(torch.tensor([[1.0, 0, 0, 0], [0, 0, 1.0, 0]]))
    # fit only g (the concepts are the known answer: the label direction and an irrelevant one)
    model.concepts.requires_grad_(False)
    opt = torch.optim.Adam(model.g.parameters(), lr=1e-2)
    for _ in range(300):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(h(model(zt)), yt).backward()
        opt.step()
    eta = completeness_fn(h, model, zt, yt, baseline=float(np.bincount(y).max() / len(y)), ceiling=ceiling)
    full = eta(frozenset({0, 1}))
    assert full > 0.9
    assert eta(frozenset({0})) > 0.9 and eta(frozenset({1})) < 0.3
    shap = concept_shap(eta, 2)
    assert shap.sum() == pytest.approx(full - eta(frozenset()), abs=1e-9)
    assert shap[0] > 0.6 and shap[0] > 3 * abs(shap[1])


def test_discovered_concepts_are_complete_and_the_important_one_points_at_the_label():
    z, y = _known_case()
    result = discover_concepts(z, y, m=3, steps=400, seed=0)
    assert result.accuracy > 0.97 and result.baseline == pytest.approx(np.bincount(y).max() / len(y))
    assert result.completeness > 0.85
    best = int(np.argmax(result.shap))
    assert abs(result.concepts[best, 0]) > 0.7
    assert result.shap.sum() <= result.completeness + 1e-6 + 1.0
    assert np.allclose(np.linalg.norm(result.concepts, axis=1), 1.0, atol=1e-5)
    assert set(result.to_json()) >= {"completeness", "shap", "concepts"}


def test_profiles_name_the_feature_that_sets_a_cluster_apart():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    labels = np.repeat([0, 1], 100)
    x[labels == 1, 2] += 3.0
    profiles = cluster_profiles(x, ["a", "b", "prev_event.ate"], labels, prefix="A")
    assert [p["cluster"] for p in profiles] == ["A0", "A1"]
    top = profiles[1]["features"][0]
    assert top["feature"] == "event ate" and top["d"] > 2 and top["p"] < 1e-10
    assert "more event ate" in profiles[1]["description"] and "less event ate" in profiles[0]["description"]
    assert np.allclose(cohens_d(np.ones((3, 1)), np.ones((4, 1))), 0.0)


def test_quantile_bins():
    labels = quantile_bins(np.arange(9.0), 3)
    assert labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert quantile_bins(np.zeros(5), 3).tolist() == [0] * 5
