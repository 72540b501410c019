"""The analysis as one pipeline: episodes → windows → trained model → latents → behaviours.

Used by ``ethogram analyze`` and the validation benchmark. Steps:
1. ``Analyser.fit``: features and windows (``features``), the model trained on them (``train``).
2. ``Analyser.units``: posterior means of every window, gathered per clustering *unit*: an
   episode (window latents averaged over the episode, the default: an episode's behaviour is
   judged on all of it) or a window. Each unit also carries its raw feature summary (for
   profiles), team return, episode and training iteration.
3. ``discover``: clusters of z^ω (teams) and z^α (agents), chosen k unless given, and the
   joint ↔ local linking graph with its typical compositions.
Clusterings fitted on one set of units predict others (``Clustering.predict``, ``assign``), which
is how held-out episodes are scored and how a saved analyser (``Analyser.load``,
``analysis.mohba.saved``) places new episodes among the behaviours it found before.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import torch

from analysis.mohba.behaviours import Clustering, cluster, compositions, linking_graph, per_group
from analysis.mohba.concepts import unit_summaries
from analysis.mohba.features import FeatureConfig, Standardiser, WindowTensors, make_windows
from analysis.mohba.model import MohbaModel, MohbaModelConfig
from analysis.mohba.train import FitConfig, TrainResult, encode, fit, load_model
from envs.config import check_choice, check_range

UNITS = ("episode", "window")


@dataclass(frozen=True)
class ClusterConfig:
    """How behaviours are clustered."""

    k_joint: int | None = None
    """Team-level clusters; None chooses k."""
    k_local: int | None = None
    """Agent-level clusters; None chooses k."""
    method: str = "gmm"
    """``gmm`` or ``kmeans`` (scikit-learn)."""
    select: str = "bic"
    """How k is chosen when not given: ``bic`` or ``silhouette``."""
    k_max: int = 10
    """Largest k tried."""
    unit: str = "episode"
    """What one clustered point is: an ``episode`` (mean of its windows' latents) or a ``window``."""
    seed: int = 0

    def __post_init__(self) -> None:
        check_choice("unit", self.unit, UNITS)
        check_range("k_max", self.k_max, 2)


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
        """The analyser saved in ``directory`` (``train.save_model``) and its whole JSON metadata."""
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


@dataclass
class Behaviours:
    """Clusters at both levels and their links."""

    joint: Clustering | None
    local: Clustering
    local_labels: np.ndarray
    """(U, N) local cluster of each agent of each unit."""
    graph: nx.Graph | None
    compositions: dict[int, list[tuple[tuple[int, ...], float]]]


def discover(units: Units, config: ClusterConfig) -> Behaviours:
    """Cluster z^ω and z^α of ``units`` and link them."""
    n, dl = units.local.shape[1], units.local.shape[2]
    k_range = (1 if config.select == "bic" else 2, config.k_max)
    local = cluster(units.local.reshape(-1, dl), config.k_local, config.method, config.select, k_range, config.seed)
    joint = None
    if units.joint is not None:
        joint = cluster(units.joint, config.k_joint, config.method, config.select, k_range, config.seed)
    return _linked(joint, local, local.labels.reshape(-1, n))


def _linked(joint: Clustering | None, local: Clustering, local_labels: np.ndarray) -> Behaviours:
    """Behaviours from labelled clusterings: the linking graph and compositions when there is a joint level."""
    if joint is None:
        return Behaviours(None, local, local_labels, None, {})
    graph = linking_graph(joint.labels, local_labels)
    return Behaviours(joint, local, local_labels, graph, compositions(joint.labels, local_labels))


def predict(behaviours: Behaviours, units: Units) -> tuple[np.ndarray | None, np.ndarray]:
    """Joint (U,) and local (U, N) clusters of new units under fitted behaviours."""
    n, dl = units.local.shape[1], units.local.shape[2]
    local = behaviours.local.predict(units.local.reshape(-1, dl)).reshape(-1, n)
    joint = behaviours.joint.predict(units.joint) if behaviours.joint is not None and units.joint is not None else None
    return joint, local


def assign(behaviours: Behaviours, units: Units) -> Behaviours:
    """New ``units`` placed in the fitted clusters of ``behaviours`` (no refit): labels and links of those units."""
    joint_labels, local_labels = predict(behaviours, units)
    local = dataclasses.replace(behaviours.local, labels=local_labels.reshape(-1))
    joint = None if joint_labels is None else dataclasses.replace(behaviours.joint, labels=joint_labels)
    return _linked(joint, local, local_labels)
