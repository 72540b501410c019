"""Per-agent step features: concept expansion, egocentric order, no leak of the current action, windows."""

from __future__ import annotations

import numpy as np
import pytest
from mohba_synthetic import NUM_ACTIONS, generate, make_spec

from analysis.mohba.features import FeatureConfig, Standardiser, expand_concepts, feature_names, gather_windows, make_windows, step_features


def test_expand_concepts_layouts():
    spec = make_spec(2)
    values = np.zeros((1, 2, spec.concepts.gt_dim), dtype=np.float32)
    values[..., spec.concepts.gt_slices["pot_0.count"]] = 2
    values[..., spec.concepts.gt_slices["agent_1.position"]] = [0.25, -1.0]
    cols, names = expand_concepts(values, spec.concepts)
    assert cols.shape[-1] == len(names) == 2 * 3 + 4 + 1
    assert names[6:10] == ["pot_0.count=0", "pot_0.count=1", "pot_0.count=2", "pot_0.count=3"]
    assert cols[0, 0, 6:10].tolist() == [0, 0, 1, 0]
    assert cols[0, 0, names.index("agent_1.position.x")] == 0.25 and cols[0, 0, names.index("agent_1.position.y")] == -1.0


def test_egocentric_order_puts_self_first():
    spec = make_spec(3)
    e, t = 1, 2
    concepts = np.zeros((e, t, 3, spec.concepts.gt_dim), dtype=np.float32)
    for i in range(3):
        concepts[..., spec.concepts.gt_slices[f"agent_{i}.holding"].start] = i + 1  # same for all viewers
    actions = np.zeros((e, t, 3), dtype=np.int16)
    config = FeatureConfig(events=False, prev_action=False, window=2)
    names = feature_names(spec, config)
    feats = step_features(spec, actions, concepts, None, config)
    col = names.index("self.holding")
    assert feats[0, 0, :, col].tolist() == [1, 2, 3]
    assert feats[0, 0, :, names.index("mate1.holding")].tolist() == [2, 3, 1]
    absolute = FeatureConfig(events=False, prev_action=False, egocentric=False, window=2)
    assert "agent_0.holding" in feature_names(spec, absolute)


def test_previous_action_and_events_are_shifted_so_the_decoder_never_sees_its_own():
    eps = generate([(0, 1)], 2, horizon=5)
    config = FeatureConfig(concepts=False, window=2)
    feats = step_features(eps.spec, eps.actions, eps.concepts, eps.events, config)
    names = feature_names(eps.spec, config)
    assert feats.shape[-1] == len(names) == 4 + NUM_ACTIONS + 1
    prev = feats[..., 4:]
    assert (prev[:, 0, :, -1] == 1).all()
    assert np.array_equal(prev[:, 1:, :, :-1].argmax(-1), eps.actions[:, :-1])
    assert np.array_equal(feats[:, 1:, :, :4], eps.events[:, :-1]) and (feats[:, 0, :, :4] == 0).all()


def test_windows_and_standardiser():
    eps = generate([(0, 1), (2, 3)], 3, horizon=20)
    config = FeatureConfig(window=8, stride=4)
    windows, std = make_windows(eps, config)
    assert len(windows) == 6 * 4 and windows.features.shape[1:3] == (8, 2)
    assert windows.actions.dtype == np.int64 and windows.mask.all()
    flat = windows.features.reshape(-1, windows.features.shape[-1])
    assert np.allclose(flat.mean(0), 0, atol=0.15)
    again, std2 = make_windows(eps, config, std)
    assert std2 is std and np.array_equal(again.features, windows.features)
    assert np.array_equal(
        windows.raw[5, 0],
        gather_windows(step_features(eps.spec, eps.actions, eps.concepts, eps.events, config), windows.episode_index, windows.start, 8)[
            5, 0
        ],
    )
    assert len(windows.subset(np.array([0, 3]))) == 2
    with pytest.raises(ValueError):
        Standardiser.fit(windows.raw, np.zeros_like(windows.mask))


def test_gather_windows_pads_past_the_end():
    arr = np.arange(10).reshape(2, 5)
    out = gather_windows(arr, np.array([1]), np.array([3]), 4, fill=-1)
    assert out.tolist() == [[8, 9, -1, -1]]
