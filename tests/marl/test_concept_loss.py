"""The typed concept loss on hand-made tensors, and the bottleneck encodings."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from envs.spec import ConceptKind, ConceptSet, ConceptSpec
from marl.concept_loss import ConceptIndex, concept_accuracy, concept_loss, gt_to_bottleneck, to_bottleneck

CS = ConceptSet(
    specs=(
        ConceptSpec("agent_0", "holding", ConceptKind.BINARY),
        ConceptSpec("agent_0", "orientation", ConceptKind.CATEGORICAL, classes=("u", "r", "d", "l")),
        ConceptSpec("pot_0", "count", ConceptKind.CATEGORICAL, classes=("0", "1", "2", "3")),
        ConceptSpec("pot_0", "progress", ConceptKind.SCALAR),
        ConceptSpec("agent_0", "position", ConceptKind.POSITION),
    ),
    agents=("agent_0",),
)
# gt layout: [holding, orientation, count, progress, x, y]; pred: [holding, o0..o3, c0..c3, progress, x, y]


def test_each_term_matches_a_hand_computation():
    index = ConceptIndex(CS)
    logits = torch.zeros(2, CS.pred_dim)
    logits[0, 0], logits[1, 0] = 2.0, -1.0  # binary logits
    logits[0, 1 + 2] = 3.0  # orientation row 0 favours class 2
    logits[1, 5 + 1] = 1.0  # count row 1 favours class 1
    logits[:, 9] = torch.tensor([0.5, 0.0])  # progress
    logits[:, 10:12] = torch.tensor([[0.1, 0.2], [0.3, 0.4]])
    gt = torch.tensor([[1.0, 2.0, 0.0, 1.0, 0.1, 0.2], [0.0, 0.0, 1.0, 0.0, -1.0, -1.0]])
    loss, m = concept_loss(logits, gt, index)

    sp = lambda x: math.log1p(math.exp(x))  # noqa: E731 - softplus
    bce = (sp(-2.0) + sp(-1.0)) / 2
    lse4 = lambda top: math.log(math.exp(top) + 3)  # noqa: E731
    ce = ((lse4(3.0) - 3.0) + math.log(4) + math.log(4) + (lse4(1.0) - 1.0)) / 4
    mse = ((0.5 - 1.0) ** 2 + 0 + 0 + 0 + 0 + 0 + 1.3**2 + 1.4**2) / 6
    assert m["binary_bce"].item() == pytest.approx(bce, rel=1e-5)
    assert m["categorical_ce"].item() == pytest.approx(ce, rel=1e-5)
    assert m["regression_mse"].item() == pytest.approx(mse, rel=1e-5)
    assert loss.item() == pytest.approx(bce + ce + mse, rel=1e-5)
    assert m["acc/agent_0.holding"].item() == 1.0
    assert m["acc/agent_0.orientation"].item() == 1.0
    assert m["acc/pot_0.count"].item() == 1.0


def test_categorical_layout_is_concepts_by_classes():
    """(B, n, classes): a (B, classes, n) reshape (the official code's fault) would score 0 here."""
    index = ConceptIndex(CS)
    logits = torch.full((1, CS.pred_dim), -10.0)
    logits[0, 1 + 3] = 10.0  # orientation class 3
    logits[0, 5 + 1] = 10.0  # count class 1
    gt = torch.tensor([[0.0, 3.0, 1.0, 0.0, 0.0, 0.0]])
    _, m = concept_loss(logits, gt, index)
    assert m["categorical_acc"].item() == 1.0 and m["categorical_ce"].item() < 1e-6


def test_loss_mask_drops_rows():
    index = ConceptIndex(CS)
    logits = torch.randn(3, CS.pred_dim)
    gt = torch.tensor([[1.0, 1.0, 2.0, 0.5, 0.1, 0.1]] * 3)
    garbage = logits.clone()
    garbage[2] = 1e3
    mask = torch.tensor([True, True, False])
    a, _ = concept_loss(logits[:2], gt[:2], index)
    b, _ = concept_loss(garbage, gt, index, mask)
    assert a.item() == pytest.approx(b.item(), rel=1e-6)


@pytest.mark.parametrize("mode", ["logits", "probs", "hard"])
def test_gt_to_bottleneck_decodes_back(mode):
    index = ConceptIndex(CS)
    gt = np.array([[1.0, 3.0, 0.0, 0.25, 0.5, -1.0], [0.0, 1.0, 2.0, 1.0, 0.0, 0.75]], np.float32)
    z = gt_to_bottleneck(gt, CS, mode)
    assert z.shape == (2, CS.pred_dim)
    if mode != "logits":
        np.testing.assert_array_equal(z[:, 1:5].sum(1), 1.0)
    else:  # as logits the encoding predicts the ground truth perfectly
        _, m = concept_loss(torch.as_tensor(z), torch.as_tensor(gt), index)
        assert m["binary_acc"] == 1 and m["categorical_acc"] == 1 and m["regression_mse"] == 0
    zt = gt_to_bottleneck(torch.as_tensor(gt), CS, mode)
    assert isinstance(zt, torch.Tensor) and np.allclose(zt.numpy(), z)


def test_probability_bottleneck():
    index = ConceptIndex(CS)
    logits = torch.randn(4, CS.pred_dim)
    z = to_bottleneck(logits, index, "probs")
    assert torch.allclose(z[:, 0], torch.sigmoid(logits[:, 0]))
    assert torch.allclose(z[:, 1:5].sum(1), torch.ones(4)) and torch.allclose(z[:, 5:9].sum(1), torch.ones(4))
    assert torch.equal(z[:, 9:], logits[:, 9:])
    assert to_bottleneck(logits, index, "logits") is logits


def test_hard_bottleneck_carries_decisions_only_and_passes_the_probabilities_gradient():
    index = ConceptIndex(CS)
    logits = torch.randn(6, CS.pred_dim, requires_grad=True)
    z = to_bottleneck(logits, index, "hard")
    soft = to_bottleneck(logits, index, "probs")
    assert set(z[:, :9].detach().unique().tolist()) <= {0.0, 1.0}  # binary and one-hot values only
    np.testing.assert_array_equal(z[:, 1:5].sum(1).detach(), 1.0)
    assert torch.equal(z[:, 0].detach(), (logits[:, 0] > 0).float().detach())
    assert torch.equal(z[:, 1:5].argmax(1), soft[:, 1:5].argmax(1))
    assert torch.equal(z[:, 9:], logits[:, 9:])
    # the gradient is the soft bottleneck's (straight through the decisions)
    w = torch.randn(CS.pred_dim)
    (g_hard,) = torch.autograd.grad((z * w).sum(), logits)
    (g_soft,) = torch.autograd.grad((soft * w).sum(), logits)
    assert torch.allclose(g_hard, g_soft)
    # a confidently right concept and a barely right one are the same to the heads
    a, b = logits.detach().clone(), logits.detach().clone()
    a[:, 0], b[:, 0] = 0.1, 9.0
    assert torch.equal(to_bottleneck(a, index, "hard")[:, 0], to_bottleneck(b, index, "hard")[:, 0])


def test_position_loss_scale_weighs_only_the_position_slots():
    index = ConceptIndex(CS)
    logits = torch.zeros(1, CS.pred_dim)
    logits[0, 9:12] = torch.tensor([0.5, 0.2, 0.4])  # progress, x, y
    gt = torch.tensor([[0.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
    plain, m = concept_loss(logits, gt, index)
    scaled, m_scaled = concept_loss(logits, gt, index, position_scale=100.0)
    assert (scaled - plain).item() == pytest.approx(99 * (0.2**2 + 0.4**2) / 3, rel=1e-5)
    assert m_scaled["regression_mse"] == m["regression_mse"]  # metrics stay in the concepts' own units


def test_position_error_in_cells_over_the_steps_where_the_object_exists():
    grid = (5, 11)  # rows, cols: x steps are 1/10, y steps 1/4
    gt = np.zeros((3, CS.gt_dim), np.float32)
    gt[:, 4:6] = [[0.5, 0.5], [0.2, 0.25], [-1.0, -1.0]]  # the last step: absent
    pred = gt_to_bottleneck(gt, CS, "logits")
    pred[0, -2:] += [0.3, 0.0]  # 3 cells off in x
    pred[1, -2:] += [0.0, 0.25]  # 1 cell off in y
    pred[2, -2:] = [0.9, 0.9]  # absent: not counted
    acc = concept_accuracy(pred, gt, CS, "logits", grid)
    assert acc["cells/agent_0.position"] == pytest.approx(2.0)
    assert "cells/agent_0.position" not in concept_accuracy(pred, gt, CS, "logits")


def test_balanced_bce_weighs_a_rare_concepts_true_and_false_steps_half_each():
    index = ConceptIndex(CS)
    logits = torch.zeros(10, CS.pred_dim)
    logits[:, 0] = torch.linspace(-2.0, 2.0, 10)
    gt = torch.zeros(10, CS.gt_dim)
    gt[0, 0] = 1.0  # true at 1 step of 10
    sp = torch.nn.functional.softplus
    true_loss, false_loss = sp(-logits[:1, 0]).mean(), sp(logits[1:, 0]).mean()
    _, plain = concept_loss(logits, gt, index)
    _, balanced = concept_loss(logits, gt, index, binary_balance=True)
    assert plain["binary_bce"].item() == pytest.approx((true_loss + 9 * false_loss).item() / 10, rel=1e-5)
    assert balanced["binary_bce"].item() == pytest.approx((true_loss + false_loss).item() / 2, rel=1e-5)


def test_balanced_accuracy_is_one_half_for_a_concept_predicted_as_never():
    gt = np.zeros((50, CS.gt_dim), np.float32)
    gt[:2, 0] = 1.0  # holding at 2 of 50 steps
    pred = gt_to_bottleneck(gt, CS, "probs")
    pred[:, 0] = 0.0  # never predicted
    acc = concept_accuracy(pred, gt, CS, "probs")
    assert acc["acc/agent_0.holding"] == pytest.approx(0.96)
    assert acc["balanced/agent_0.holding"] == pytest.approx(0.5)
    pred[0, 0] = 1.0  # one of the two true steps found
    assert concept_accuracy(pred, gt, CS, "probs")["balanced/agent_0.holding"] == pytest.approx(0.75)
    assert concept_accuracy(pred[2:], gt[2:], CS, "probs")["balanced/agent_0.holding"] == pytest.approx(1.0)  # never true
