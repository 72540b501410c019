"""Encoding: from a trained model and episodes to latents per clustering unit.

Place in the analysis: features → model → fit → **encode** → cluster → saved → describe → write. Takes
episodes (``analysis.dataset``) and gives ``Units``: the posterior means of every window gathered
per unit, with each unit's raw feature summary (for profiles), team return and episode.

1. ``Analyser.fit``: features and windows (``features``), a seeded model trained on them (``fit``);
   ``Analyser.load``: an analyser saved by ``fit.save_model``. ``Analyser.windows``: windows of
   other episodes, standardised like the training ones.
2. ``encode``: the posterior means of every window (no sampling).
3. ``Analyser.units``: those latents gathered per clustering *unit*: an episode (window latents
   averaged over the episode with ``per_group``, the default: an episode's behaviour is judged on
   all of it) or a window.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from analysis.mohba.features import FeatureConfig, Standardiser, WindowTensors, make_windows
from analysis.mohba.fit import FitConfig, TrainResult, fit, load_model, resolve_device, to_tensors
from analysis.mohba.model import MohbaModel, MohbaModelConfig
from envs.config import check_choice

UNITS = ("episode", "window")
"""What one clustered point can be (``cluster.ClusterConfig.unit``)."""


@dataclass
class Units:
    """Latents and summaries of U clustering units."""

    episode: np.ndarray
    """(U,) index into the Episodes of each unit (its episode)."""
    window: np.ndarray | None
    """(U,) window index when units are windows, else None."""
    joint: np.ndarray | None
    """(U, z_joint) posterior means of z^ω (None for a flat model)."""
    local: np.ndarray
    """(U, N, z_local) posterior means of z^α."""
    summary: np.ndarray
    """(U, N, F) mean raw step features (concept values, event rates, action frequencies)."""
    team_return: np.ndarray
    """(U,) team return per window (agents' rewards combined by ``EnvSpec.team_reward``), averaged over the unit's windows."""

    def __len__(self) -> int:
        return int(self.episode.shape[0])


def _light(episodes: Any) -> Any:
    """The episodes without the big per-step fields, so ``windows`` only cuts small arrays."""
    if not dataclasses.is_dataclass(episodes):
        return episodes
    names = {f.name for f in dataclasses.fields(episodes)}
    return dataclasses.replace(episodes, **{k: None for k in ("concepts", "events", "obs", "predicted", "intervened") if k in names})


class Analyser:
    """A trained MOHBA model with its feature pipeline."""

    def __init__(self, model: MohbaModel, features: FeatureConfig, standardiser: Standardiser, team_reward: str = "sum") -> None:
        self.model = model
        self.features = features
        self.standardiser = standardiser
        self.team_reward = team_reward
        """``EnvSpec.team_reward``: how a team's return is formed from its agents' (``sum`` or ``mean``)."""

    @classmethod
    def fit(
        cls,
        episodes: Any,
        features: FeatureConfig,
        train: FitConfig,
        model_options: dict[str, Any] | None = None,
        progress: Callable[[dict[str, float]], None] | None = None,
    ) -> tuple[Analyser, WindowTensors, TrainResult]:
        """Train on all windows of ``episodes``; returns the analyser, the windows and the training record."""
        windows, std = make_windows(episodes, features, index_source=_light(episodes))
        config = MohbaModelConfig(
            feature_dim=windows.features.shape[-1], num_actions=len(episodes.spec.action_names), **(model_options or {})
        )
        torch.manual_seed(train.seed)  # the initial weights belong to the seeded run
        model = MohbaModel(config)
        result = fit(model, windows, train, progress=progress)
        model.cpu()
        return cls(model, features, std, getattr(episodes.spec, "team_reward", "sum")), windows, result

    @classmethod
    def load(cls, directory: str | Path) -> tuple[Analyser, dict[str, Any]]:
        """The analyser saved in ``directory`` (``fit.save_model``) and its whole JSON metadata."""
        model, features, standardiser, meta = load_model(directory)
        return cls(model, features, standardiser, meta.get("env", {}).get("team_reward", "sum")), meta

    def windows(self, episodes: Any) -> WindowTensors:
        """Windows of other episodes, standardised like the training ones."""
        return make_windows(episodes, self.features, self.standardiser, index_source=_light(episodes))[0]

    def units(self, windows: WindowTensors, unit: str = "episode", device: str = "cpu") -> Units:
        """Encode ``windows`` and gather latents per unit (see the module docstring)."""
        check_choice("unit", unit, UNITS)
        z = encode(self.model, windows, device=device)
        summary = unit_summaries(windows.raw, windows.mask)
        per_agent = (windows.rewards * windows.mask[:, :, None]).sum(1)  # (W, N)
        ret = per_agent.mean(1) if self.team_reward == "mean" else per_agent.sum(1)
        if unit == "window":
            return Units(windows.episode_index, np.arange(len(windows)), z.get("joint"), z["local"], summary, ret)
        ids, local = per_group(z["local"], windows.episode_index)
        joint = per_group(z["joint"], windows.episode_index)[1] if "joint" in z else None
        return Units(ids, None, joint, local, per_group(summary, windows.episode_index)[1], per_group(ret, windows.episode_index)[1])


@torch.no_grad()
def encode(model: MohbaModel, data: WindowTensors, batch_size: int = 1024, device: str = "cpu") -> dict[str, np.ndarray]:
    """Posterior means of every window: ``local`` (W, N, z_local) and ``joint`` (W, z_joint) when hierarchical."""
    dev = resolve_device(device)
    model.to(dev).eval()
    feats, acts, mask = to_tensors(data, dev)
    local, joint = [], []
    for i in range(0, feats.shape[0], batch_size):
        post = model.encode(feats[i : i + batch_size], acts[i : i + batch_size], mask[i : i + batch_size])
        local.append(post["mu_local"].cpu().numpy())
        if post["mu_joint"] is not None:
            joint.append(post["mu_joint"].cpu().numpy())
    out = {"local": np.concatenate(local)}
    if joint:
        out["joint"] = np.concatenate(joint)
    return out


def unit_summaries(raw: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean of raw step features (W, L, N, F) over the valid steps (W, L) → (W, N, F)."""
    m = mask[:, :, None, None].astype(np.float64)
    return ((raw * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1.0)).astype(np.float32)


def per_group(values: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``values`` (U, ...) per group id in ``groups`` (U,): (sorted group ids, (G, ...) means)."""
    ids, inverse = np.unique(groups, return_inverse=True)
    sums = np.zeros((len(ids), *values.shape[1:]), dtype=np.float64)
    np.add.at(sums, inverse, values)
    counts = np.bincount(inverse, minlength=len(ids)).reshape(-1, *([1] * (values.ndim - 1)))
    return ids, sums / counts
