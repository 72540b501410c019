"""Training the MOHBA model, and its weights saved and loaded.

Place in the analysis: features → model → **fit** → encode → cluster → saved → describe → write. Takes
the windows of ``features`` (``WindowTensors``) and a fresh ``model.MohbaModel``; gives the model
trained in place and a ``TrainResult`` (history, best epoch, timings). ``save_model`` and
``load_model`` are the one home of the model on disk (``encode.Analyser.load`` reads it back).

- Objective: the β-weighted negative ELBO of ``analysis.mohba.model`` with β cyclically annealed
  (Fu et al. 2019, "Cyclical Annealing Schedule: A Simple Approach to Mitigating KL Vanishing"):
  the run is split into ``cycles`` equal cycles; in each, β rises linearly from 0 to ``beta_max``
  over the first ``ramp`` fraction of the cycle and then stays at ``beta_max``.
- Early stopping: the validation loss is always measured at ``beta_max`` (so epochs compare
  fairly whatever the schedule's β), only from the end of the first cycle on; training stops after
  ``patience`` epochs without improvement and the best weights are restored.
- The epoch cap is a budget, not a target: a run that reaches it without stopping early (so the
  validation loss improved within its last ``patience`` epochs) did not converge. ``fit`` says so
  in ``TrainResult.hit_budget`` and logs a WARNING naming the best epoch and the cap.
- Validation windows come from held-out *episodes* (windows of one episode overlap).
- ``device="auto"`` picks CUDA when present, else the CPU (the default is the CPU).
- Weights are saved with safetensors (``model.safetensors``) and everything else as JSON
  (``model.json``: model, feature and training configs, the standardiser, the history, the env
  of the training data as ``env_record`` gives it). No pickle.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from analysis.mohba.features import FeatureConfig, Standardiser, WindowTensors
from analysis.mohba.model import MohbaModel, MohbaModelConfig
from envs.config import check_choice, check_range, config_from_dict, config_to_dict

logger = logging.getLogger(__name__)

DEVICES = ("cpu", "cuda", "auto")
MODEL_FILES = ("model.json", "model.safetensors")
"""The files of a saved model (``save_model``)."""


@dataclass(frozen=True)
class FitConfig:
    """Optimisation settings of the analyser."""

    epochs: int = 40
    """Most epochs (passes over the training windows)."""
    batch_size: int = 128
    """Windows per gradient step."""
    lr: float = 2e-3
    """Adam learning rate."""
    beta_max: float = 1.0
    """Largest KL weight of the cyclical schedule."""
    cycles: int = 4
    """Number of annealing cycles over the run (Fu et al. 2019 use 4)."""
    ramp: float = 0.5
    """Fraction of each cycle over which β rises from 0 to ``beta_max``."""
    patience: int = 6
    """Epochs without validation improvement before stopping (after the first cycle)."""
    val_fraction: float = 0.1
    """Fraction of episodes held out for early stopping."""
    grad_clip: float = 5.0
    """Gradient-norm clip."""
    seed: int = 0
    """Seed of the weights, the split, the batches and the latent samples."""
    device: str = "cpu"
    """``cpu``, ``cuda`` or ``auto`` (CUDA when present)."""

    def __post_init__(self) -> None:
        check_choice("device", self.device, DEVICES)
        check_range("epochs", self.epochs, 1)
        check_range("batch_size", self.batch_size, 1)
        check_range("cycles", self.cycles, 1)
        check_range("ramp", self.ramp, 0.0, 1.0)
        check_range("val_fraction", self.val_fraction, 0.0, 0.9)
        check_range("beta_max", self.beta_max, 0.0)


@dataclass
class TrainResult:
    """What ``fit`` measured."""

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = -1
    best_val: float = float("inf")
    seconds: float = 0.0
    windows_seen: int = 0
    stopped_early: bool = False
    hit_budget: bool = False
    """The run ended at the epoch cap with the validation loss still improving within the last
    ``patience`` epochs: it did not converge (more epochs would likely have helped)."""

    @property
    def windows_per_s(self) -> float:
        return self.windows_seen / max(self.seconds, 1e-9)


def cyclical_beta(step: int, total_steps: int, cycles: int = 4, ramp: float = 0.5, beta_max: float = 1.0) -> float:
    """β at optimisation ``step`` of ``total_steps`` (Fu et al. 2019, linear ramp then flat)."""
    period = max(total_steps / cycles, 1.0)
    phase = (step % period) / period
    if ramp <= 0:
        return beta_max
    return beta_max * min(1.0, phase / ramp)


def resolve_device(device: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU; ``cuda`` without CUDA is an error."""
    check_choice("device", device, DEVICES)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device=cuda asked for but torch sees no CUDA device; use --device cpu or auto")
    return torch.device(device)


def to_tensors(data: WindowTensors, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(features, actions, mask) tensors on ``device``."""
    return (
        torch.as_tensor(data.features, device=device),
        torch.as_tensor(data.actions, dtype=torch.int64, device=device),
        torch.as_tensor(data.mask, dtype=torch.bool, device=device),
    )


def split_by_episode(episode_index: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of training and validation windows, whole episodes held out."""
    episodes = np.unique(episode_index)
    n_val = round(val_fraction * len(episodes))
    if n_val == 0 or n_val >= len(episodes):
        return np.arange(len(episode_index)), np.zeros(0, dtype=np.int64)
    val_eps = np.random.default_rng(seed).choice(episodes, size=n_val, replace=False)
    is_val = np.isin(episode_index, val_eps)
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


@torch.no_grad()
def evaluate(model: MohbaModel, tensors: tuple[torch.Tensor, ...], beta: float, batch_size: int = 512) -> dict[str, float]:
    """Mean loss terms over all windows (posterior means, no sampling)."""
    model.eval()
    feats, acts, mask = tensors
    sums = {"loss": 0.0, "reconstruction": 0.0, "kl_joint": 0.0, "kl_local": 0.0}
    n = feats.shape[0]
    for i in range(0, n, batch_size):
        out = model(feats[i : i + batch_size], acts[i : i + batch_size], mask[i : i + batch_size], beta=beta, sample=False)
        w = min(batch_size, n - i)
        sums["loss"] += float(out.loss) * w
        sums["reconstruction"] += float(out.reconstruction) * w
        sums["kl_joint"] += float(out.kl_per_level["joint"]) * w
        sums["kl_local"] += float(out.kl_per_level["local"]) * w
    return {k: v / max(n, 1) for k, v in sums.items()}


def fit(
    model: MohbaModel,
    data: WindowTensors,
    config: FitConfig,
    progress: Callable[[dict[str, float]], None] | None = None,
) -> TrainResult:
    """Train ``model`` on ``data`` in place (best weights restored) and return what was measured."""
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    model.to(device)
    train_idx, val_idx = split_by_episode(data.episode_index, config.val_fraction, config.seed)
    train = to_tensors(data.subset(train_idx), device)
    val = to_tensors(data.subset(val_idx), device) if len(val_idx) else train
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    n = train[0].shape[0]
    steps_per_epoch = max(1, -(-n // config.batch_size))
    total = steps_per_epoch * config.epochs
    first_cycle_end = int(np.ceil(config.epochs / config.cycles))
    gen = torch.Generator(device="cpu").manual_seed(config.seed)
    result, best_state, step, bad = TrainResult(), None, 0, 0
    start, cpu_start = time.perf_counter(), time.process_time()
    for epoch in range(config.epochs):
        order = torch.randperm(n, generator=gen).to(device)
        step, beta, loss = _train_epoch(model, opt, train, order, step, total, config, result)
        if device.type == "cuda":
            torch.cuda.synchronize()
        result.seconds = time.perf_counter() - start
        row = {
            "epoch": epoch,
            "beta": beta,
            "train_loss": float(loss.detach()),
            **{f"val_{k}": v for k, v in evaluate(model, val, config.beta_max).items()},
        }
        row["seconds"] = time.perf_counter() - start
        row["cpu_seconds"] = time.process_time() - cpu_start
        result.history.append(row)
        if progress is not None:
            progress(row)
        if epoch + 1 < first_cycle_end:
            continue
        if not np.isfinite(result.best_val) or row["val_loss"] < result.best_val - 1e-4 * abs(result.best_val):
            result.best_val, result.best_epoch, bad = row["val_loss"], epoch, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            bad += 1
            if bad >= config.patience:
                result.stopped_early = True
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    result.seconds = time.perf_counter() - start
    result.hit_budget = not result.stopped_early
    if result.hit_budget:
        _warn_budget(config, result)
    return result


def _train_epoch(
    model: MohbaModel,
    opt: torch.optim.Optimizer,
    train: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    order: torch.Tensor,
    step: int,
    total: int,
    config: FitConfig,
    result: TrainResult,
) -> tuple[int, float, torch.Tensor]:
    """One pass over the training windows in ``order`` (counted in ``result.windows_seen``): the next
    optimisation step, the last β and the last batch's loss."""
    model.train()
    for i in range(0, order.shape[0], config.batch_size):
        idx = order[i : i + config.batch_size]
        beta = cyclical_beta(step, total, config.cycles, config.ramp, config.beta_max)
        out = model(train[0][idx], train[1][idx], train[2][idx], beta=beta)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        opt.step()
        step += 1
        result.windows_seen += int(idx.shape[0])
    return step, beta, out.loss


def _warn_budget(config: FitConfig, result: TrainResult) -> None:
    """The WARNING of a run that reached the epoch cap still improving (module docstring)."""
    logger.warning(
        "training reached the epoch cap (%d epochs) with the validation loss still improving (best epoch %d of 0..%d, "
        "patience %d): the analyser has not converged; raise --epochs (FitConfig.epochs)",
        config.epochs,
        result.best_epoch,
        config.epochs - 1,
        config.patience,
    )


def save_model(directory: str | Path, model: MohbaModel, features: FeatureConfig, standardiser: Standardiser, **extra: Any) -> Path:
    """Write ``model.safetensors`` and ``model.json`` under ``directory``; returns the directory."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tmp = directory / "model.safetensors.tmp"
    save_file(state, str(tmp))
    tmp.replace(directory / "model.safetensors")
    meta = {
        "format": "ethogram.mohba/1",
        "model": config_to_dict(model.config),
        "features": config_to_dict(features),
        "standardiser": {"mean": list(standardiser.mean), "std": list(standardiser.std)},
        **extra,
    }
    tmp = directory / "model.json.tmp"
    tmp.write_text(json.dumps(meta, indent=2, default=_json_default))
    tmp.replace(directory / "model.json")
    return directory


def load_model(directory: str | Path) -> tuple[MohbaModel, FeatureConfig, Standardiser, dict[str, Any]]:
    """The model, feature config, standardiser and the whole JSON metadata saved by ``save_model``."""
    directory = Path(directory)
    for name in MODEL_FILES:
        if not (directory / name).is_file():
            raise FileNotFoundError(f"{directory / name} is missing; expected a directory written by save_model")
    meta = json.loads((directory / "model.json").read_text())
    model = MohbaModel(config_from_dict(MohbaModelConfig, meta["model"], where="model.json model"))
    model.load_state_dict(load_file(str(directory / "model.safetensors")))
    features = config_from_dict(FeatureConfig, meta["features"], where="model.json features")
    std = Standardiser(tuple(meta["standardiser"]["mean"]), tuple(meta["standardiser"]["std"]))
    return model, features, std, meta


def env_record(spec: Any) -> dict[str, Any]:
    """What model.json keeps of the training data's env (``EnvSpec``), for ``saved.check_data`` and ``encode.Analyser.load``."""
    return {"env_id": spec.env_id, "agents": list(spec.agents), "team_reward": getattr(spec, "team_reward", "sum")}


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")
