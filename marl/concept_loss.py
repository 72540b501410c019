"""The typed concept loss of a concept-bottleneck policy, and the bottleneck's value encodings.

Grupen et al. 2022 supervise the concept layer with one loss per concept kind (docs/methods.md,
'Concept loss'):
- binary: BCE on the concept's single logit; with ``binary_balance`` each concept's positive and
  negative steps of the minibatch weigh half each (weights 0.5 / rate and 0.5 / (1 − rate), the
  rate clamped to [0.01, 0.99]), as Koh et al. 2020 weight imbalanced concepts: unweighted, a
  concept true at 2% of steps is learned as "never" and still scores 0.98 accuracy;
- categorical: softmax cross-entropy per concept over its classes. Logits are gathered as
  (B, n_concepts, n_classes) from the ``pred`` layout (the official code reshapes (B, classes, n),
  which mixes concepts; not copied);
- scalar and position: MSE (positions are normalised to [0, 1]; an absent object is -1 in both
  coordinates, predicted like any other value).

Each kind's term is a mean over its own elements and the total is their sum, so adding concepts of
one kind does not dilute the others. ``Columns.LOSS_MASK`` rows (RLlib's padded / bootstrap steps)
are left out of both the loss and the metrics.

``gt_to_bottleneck`` maps ground truth (``gt`` layout) into the bottleneck layout the policy head
reads (``pred`` width), for interventions that set a value or plug in the oracle.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from envs.spec import ConceptKind, ConceptSet

BOTTLENECK_MODES = ("logits", "probs", "hard")
"""How predicted concepts reach the policy head: raw logits; probabilities (sigmoid / softmax); or
``hard`` decisions (binary 0/1, categorical one-hot of the argmax) with the probabilities' gradient
passed straight through (Havasi et al. 2022's hard bottleneck). Logits and probabilities let the
policy read more than the concept's value from its confidence ("leakage": PPO learns to write into
it, and accuracy suffers); hard decisions carry exactly the concept. Scalars and positions pass
unchanged in every mode."""

LOGIT_SCALE = 10.0
"""Logit magnitude used to encode a certain binary value or class in ``logits`` mode."""


class ConceptIndex:
    """Index arrays of a ConceptSet: where each kind lives in the ``gt`` and ``pred`` layouts."""

    def __init__(self, concepts: ConceptSet) -> None:
        gt, pred = concepts.gt_slices, concepts.pred_slices
        self.concepts = concepts
        self.binary = [s.name for s in concepts.of_kind(ConceptKind.BINARY)]
        self.bin_gt = np.array([gt[n].start for n in self.binary], dtype=np.int64)
        self.bin_pred = np.array([pred[n].start for n in self.binary], dtype=np.int64)
        # Regression slots (scalar 1, position 2): the gt and pred widths are equal.
        self.regression = [s.name for s in concepts.specs if s.kind in (ConceptKind.SCALAR, ConceptKind.POSITION)]
        self.reg_gt = np.array([i for n in self.regression for i in range(gt[n].start, gt[n].stop)], dtype=np.int64)
        self.reg_pred = np.array([i for n in self.regression for i in range(pred[n].start, pred[n].stop)], dtype=np.int64)
        self.reg_owner = np.array([k for k, n in enumerate(self.regression) for _ in range(gt[n].stop - gt[n].start)], dtype=np.int64)
        positions = {s.name for s in concepts.of_kind(ConceptKind.POSITION)}
        self.reg_is_position = np.array([self.regression[k] in positions for k in self.reg_owner], dtype=bool)
        # Categorical concepts grouped by class count so each group is one (B, g, n) tensor.
        self.cat_groups: list[tuple[list[str], np.ndarray, np.ndarray]] = []
        for n_classes in sorted({len(s.classes) for s in concepts.of_kind(ConceptKind.CATEGORICAL)}):
            names = [s.name for s in concepts.of_kind(ConceptKind.CATEGORICAL) if len(s.classes) == n_classes]
            gt_idx = np.array([gt[n].start for n in names], dtype=np.int64)  # (g,)
            pred_idx = np.array([np.arange(pred[n].start, pred[n].stop) for n in names], dtype=np.int64)  # (g, n)
            self.cat_groups.append((names, gt_idx, pred_idx))


def to_bottleneck(logits: torch.Tensor, index: ConceptIndex, mode: str) -> torch.Tensor:
    """Predicted concept logits (..., P) → the bottleneck vector (..., P) in ``mode``."""
    if mode == "logits":
        return logits
    out = logits.clone()
    if len(index.bin_pred):
        b = torch.as_tensor(index.bin_pred, device=logits.device)
        probs = torch.sigmoid(logits[..., b])
        out[..., b] = _straight_through((probs > 0.5).to(probs.dtype), probs) if mode == "hard" else probs
    for _, _, pred_idx in index.cat_groups:
        p = torch.as_tensor(pred_idx, device=logits.device)
        probs = torch.softmax(logits[..., p], dim=-1)
        if mode == "hard":
            probs = _straight_through(torch.nn.functional.one_hot(probs.argmax(-1), probs.shape[-1]).to(probs.dtype), probs)
        out[..., p] = probs
    return out


def _straight_through(hard: torch.Tensor, soft: torch.Tensor) -> torch.Tensor:
    """``hard``'s values with ``soft``'s gradient."""
    return hard + (soft - soft.detach())


def gt_to_bottleneck(
    gt: np.ndarray | torch.Tensor, concepts: ConceptSet, mode: str, logit_scale: float = LOGIT_SCALE
) -> np.ndarray | torch.Tensor:
    """Ground-truth concepts (..., D) → bottleneck values (..., P) in ``mode`` (``logits``/``probs``).

    binary v → ``probs`` / ``hard``: v; ``logits``: ±logit_scale. categorical class c → one-hot (``probs``, ``hard``) or
    +logit_scale at c and -logit_scale elsewhere (``logits``). scalar / position: unchanged.
    Accepts numpy or torch and returns the same kind.
    """
    if mode not in BOTTLENECK_MODES:
        raise ValueError(f"mode={mode!r} is not allowed; choose one of: {', '.join(BOTTLENECK_MODES)}")
    is_torch = isinstance(gt, torch.Tensor)
    g = gt.detach().cpu().numpy() if is_torch else np.asarray(gt, dtype=np.float32)
    if g.shape[-1] != concepts.gt_dim:
        raise ValueError(f"ground truth has {g.shape[-1]} slots; this concept set has gt_dim={concepts.gt_dim}")
    out = np.zeros((*g.shape[:-1], concepts.pred_dim), dtype=np.float32)
    gt_s, pred_s = concepts.gt_slices, concepts.pred_slices
    for spec in concepts.specs:
        v, p = g[..., gt_s[spec.name]], pred_s[spec.name]
        if spec.kind is ConceptKind.BINARY:
            on = v[..., 0] > 0.5
            out[..., p.start] = on if mode != "logits" else np.where(on, logit_scale, -logit_scale)
        elif spec.kind is ConceptKind.CATEGORICAL:
            onehot = np.eye(len(spec.classes), dtype=np.float32)[np.clip(v[..., 0].astype(np.int64), 0, len(spec.classes) - 1)]
            out[..., p] = onehot if mode != "logits" else (2.0 * onehot - 1.0) * logit_scale
        else:
            out[..., p] = v
    return torch.as_tensor(out, device=gt.device) if is_torch else out


def concept_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    index: ConceptIndex,
    mask: torch.Tensor | None = None,
    position_scale: float = 1.0,
    binary_balance: bool = False,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Typed concept loss of predictions ``logits`` (B, P) against ground truth ``targets`` (B, D).

    Returns (loss, metrics): loss = BCE(binary) + CE(categorical) + MSE(scalar/position), each a
    mean over its elements on unmasked rows, the position slots' squared errors multiplied by
    ``position_scale`` (``PPOSettings.position_loss_scale``; the metrics stay unscaled), the binary
    BCE balanced per concept when ``binary_balance`` (module docstring); metrics hold each term, the
    per-kind accuracy / MSE and per-concept ``acc/NAME`` (binary, categorical) or ``mse/NAME``
    (scalar, position).
    """
    if mask is not None:
        logits, targets = logits[mask], targets[mask]
    dev = logits.device
    total = logits.new_zeros(())
    metrics: dict[str, torch.Tensor] = {}
    if len(index.bin_pred):
        lg = logits[:, torch.as_tensor(index.bin_pred, device=dev)]  # (B, nb)
        tg = targets[:, torch.as_tensor(index.bin_gt, device=dev)]  # (B, nb)
        weight = None
        if binary_balance:
            rate = tg.mean(0, keepdim=True).clamp(0.01, 0.99)  # (1, nb)
            weight = torch.where(tg > 0.5, 0.5 / rate, 0.5 / (1 - rate))
        bce = F.binary_cross_entropy_with_logits(lg, tg, weight=weight)
        correct = ((lg > 0) == (tg > 0.5)).float().mean(0)  # (nb,)
        total = total + bce
        metrics["binary_bce"] = bce.detach()
        metrics["binary_acc"] = correct.mean().detach()
        metrics.update({f"acc/{n}": c for n, c in zip(index.binary, correct.detach())})
    if index.cat_groups:
        ce_sum, n_terms, accs = logits.new_zeros(()), 0, []
        for names, gt_idx, pred_idx in index.cat_groups:
            lg = logits[:, torch.as_tensor(pred_idx, device=dev)]  # (B, g, n)
            tg = targets[:, torch.as_tensor(gt_idx, device=dev)].long()  # (B, g)
            ce = F.cross_entropy(lg.reshape(-1, lg.shape[-1]), tg.reshape(-1), reduction="sum")
            ce_sum, n_terms = ce_sum + ce, n_terms + tg.numel()
            correct = (lg.argmax(-1) == tg).float().mean(0)  # (g,)
            accs.append(correct)
            metrics.update({f"acc/{n}": c for n, c in zip(names, correct.detach())})
        ce = ce_sum / max(n_terms, 1)
        total = total + ce
        metrics["categorical_ce"] = ce.detach()
        metrics["categorical_acc"] = torch.cat(accs).mean().detach()
    if len(index.reg_pred):
        lg = logits[:, torch.as_tensor(index.reg_pred, device=dev)]
        tg = targets[:, torch.as_tensor(index.reg_gt, device=dev)]
        sq = (lg - tg) ** 2  # (B, nr)
        mse = sq.mean()
        slot_scale = torch.where(torch.as_tensor(index.reg_is_position, device=dev), position_scale, 1.0)
        total = total + (sq * slot_scale).mean()
        metrics["regression_mse"] = mse.detach()
        per_slot = sq.mean(0).detach()
        owner = torch.as_tensor(index.reg_owner, device=dev)
        per_concept = torch.zeros(len(index.regression), device=dev).index_add_(0, owner, per_slot)
        per_concept = per_concept / torch.bincount(owner, minlength=len(index.regression)).clamp(min=1)
        metrics.update({f"mse/{n}": m for n, m in zip(index.regression, per_concept)})
    metrics["concept_loss"] = total.detach()
    return total, metrics


def concept_accuracy(
    bottleneck: np.ndarray, gt: np.ndarray, concepts: ConceptSet, mode: str, grid: tuple[int, ...] = ()
) -> dict[str, float]:
    """Accuracy / MSE of predicted bottlenecks (..., P) (in ``mode``) against ground truth (..., D).

    Returns ``binary_acc``, ``categorical_acc``, ``regression_mse`` and per-concept ``acc/NAME`` /
    ``mse/NAME``, everything averaged over all leading axes; per binary concept also ``balanced/NAME``,
    the mean of its accuracy on the steps where it is true and where it is false (0.5 for a
    prediction that ignores the input, whatever the base rate; the one class's accuracy when the
    other never occurs). With the world's ``grid`` (rows, cols;
    ``EnvSpec.grid``) also ``cells/NAME`` per position concept: the mean distance in cells between
    predicted and true position over the steps where the object exists (NaN if it never does).
    """
    index = ConceptIndex(concepts)
    z = np.asarray(bottleneck, np.float32).reshape(-1, concepts.pred_dim)
    g = np.asarray(gt, np.float32).reshape(-1, concepts.gt_dim)
    out: dict[str, float] = {}
    if len(index.bin_pred):
        correct = (z[:, index.bin_pred] > (0.0 if mode == "logits" else 0.5)) == (g[:, index.bin_gt] > 0.5)
        out["binary_acc"] = float(correct.mean())
        out.update({f"acc/{n}": float(c) for n, c in zip(index.binary, correct.mean(0))})
        truth = g[:, index.bin_gt] > 0.5
        for j, n in enumerate(index.binary):
            per_class = [correct[truth[:, j] == c, j].mean() for c in (True, False) if (truth[:, j] == c).any()]
            out[f"balanced/{n}"] = float(np.mean(per_class))
    accs = []
    for names, gt_idx, pred_idx in index.cat_groups:
        correct = z[:, pred_idx].argmax(-1) == g[:, gt_idx].astype(np.int64)
        accs.append(correct.mean(0))
        out.update({f"acc/{n}": float(c) for n, c in zip(names, correct.mean(0))})
    if accs:
        out["categorical_acc"] = float(np.concatenate(accs).mean())
    if len(index.reg_pred):
        sq = (z[:, index.reg_pred] - g[:, index.reg_gt]) ** 2
        out["regression_mse"] = float(sq.mean())
        per = np.bincount(index.reg_owner, weights=sq.mean(0), minlength=len(index.regression)) / np.bincount(index.reg_owner)
        out.update({f"mse/{n}": float(v) for n, v in zip(index.regression, per)})
    if grid:
        cells = np.array([grid[1] - 1, grid[0] - 1], dtype=np.float32)  # x spans the columns, y the rows
        for spec in concepts.of_kind(ConceptKind.POSITION):
            true, pred = g[:, concepts.gt_slices[spec.name]], z[:, concepts.pred_slices[spec.name]]
            present = (true >= 0).all(axis=1)
            dist = np.linalg.norm((pred[present] - true[present]) * cells, axis=1)
            out[f"cells/{spec.name}"] = float(dist.mean()) if present.any() else float("nan")
    return out
