"""A saved analyser: the trained model and its clusters in one folder, to analyse new episodes.

Place in the analysis: features → model → fit → encode → cluster → **saved** → describe → write.
It keeps what a run found, for later data: ``save_clusters`` writes a run's ``cluster.Behaviours``
beside the model that ``fit.save_model`` wrote, and ``open_saved`` takes that folder and gives
both back as a ``SavedAnalyser`` (for ``write.run_saved`` and ``ethogram analyze --model``).

Layout of a saved analyser (``OUT/model`` of ``ethogram analyze --out OUT``; JSON and safetensors, no pickle):
    model.safetensors, model.json   the weights and their configs (``fit.save_model``); model.json also
                                    holds the env the model was trained on (``env``: ``fit.env_record``)
                                    and the training record (``result``: best epoch, epoch cap,
                                    whether it hit the cap)
    clusters.json                   both levels' clusterings in full (``Clustering.to_json(full=True)``)
                                    and the ``ClusterConfig`` that made them (its ``unit`` included)

Rules:
- ``find_model`` accepts the saved folder itself or the analysis output above it; when neither
  holds a model, the error names the path and the files expected.
- New data must come from the env the model was trained on and give the feature width and the
  number of actions its first layer and decoder were built for (``check_data``); the error names
  both sides. Callers check before they write anything.
- An output made with a saved analyser gets a copy of it in its own ``model/`` (unless that is the
  saved folder itself), with the clusters as used, so every output folder holds the analyser that
  made it; the weights are copied byte for byte, never re-saved.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from analysis.mohba.cluster import Behaviours, ClusterConfig, Clustering
from analysis.mohba.encode import Analyser
from analysis.mohba.features import feature_names
from analysis.mohba.fit import MODEL_FILES
from envs.config import config_from_dict, config_to_dict

CLUSTERS_FILE = "clusters.json"
CLUSTERS_FORMAT = "ethogram.mohba.clusters/1"


@dataclass
class SavedAnalyser:
    """An analyser loaded from its folder, with its saved clusters when asked for."""

    path: Path
    """The folder holding ``MODEL_FILES`` (and ``CLUSTERS_FILE``)."""
    analyser: Analyser
    meta: dict[str, Any]
    """model.json as saved."""
    behaviours: Behaviours | None = None
    """The saved clusterings at both levels, without units (empty labels); None when not loaded."""
    clusters: ClusterConfig | None = None
    """The settings the saved clusters were made with; None when not loaded."""


def find_model(path: str | Path) -> Path:
    """The saved analyser folder at ``path`` or at ``path/model``."""
    path = Path(path)
    for folder in (path, path / "model"):
        if all((folder / name).is_file() for name in MODEL_FILES):
            return folder
    raise FileNotFoundError(
        f"{path} holds no saved analyser: expected {' and '.join(MODEL_FILES)} in it or in {path / 'model'} "
        "(the model/ folder that ethogram analyze --out writes)"
    )


def open_saved(path: str | Path, clusters: bool = True) -> SavedAnalyser:
    """The analyser saved at ``path`` (see ``find_model``), with its clusters unless ``clusters`` is False."""
    folder = find_model(path)
    analyser, meta = Analyser.load(folder)
    if not clusters:
        return SavedAnalyser(folder, analyser, meta)
    return SavedAnalyser(folder, analyser, meta, *load_clusters(folder))


def save_clusters(directory: str | Path, found: Behaviours, config: ClusterConfig) -> Path:
    """Write both levels' clusterings in full and their settings to ``directory/clusters.json``."""
    data = {
        "format": CLUSTERS_FORMAT,
        "config": config_to_dict(config),
        "local": found.local.to_json(full=True),
        "joint": None if found.joint is None else found.joint.to_json(full=True),
    }
    path = Path(directory) / CLUSTERS_FILE
    path.write_text(json.dumps(data, indent=2))
    return path


def load_clusters(directory: str | Path) -> tuple[Behaviours, ClusterConfig]:
    """The clusterings saved by ``save_clusters`` (estimators rebuilt, no units) and their settings."""
    path = Path(directory) / CLUSTERS_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: the analyser in {directory} was saved without its clusters; "
            f"cluster the new data anew instead (ethogram analyze --model {directory} --recluster)"
        )
    data = json.loads(path.read_text())
    if data.get("format") != CLUSTERS_FORMAT:
        raise ValueError(f"{path}: format {data.get('format')!r} is not {CLUSTERS_FORMAT!r}")
    config = config_from_dict(ClusterConfig, data["config"], where=f"{path} config")
    joint = None if data["joint"] is None else Clustering.from_json(data["joint"])
    return Behaviours(joint, Clustering.from_json(data["local"]), np.zeros((0, 0), dtype=np.int64), None, {}), config


def check_data(saved: SavedAnalyser, episodes: Any) -> None:
    """Raise ValueError unless ``episodes`` are of the env, feature width and actions the saved model reads."""
    spec = episodes.spec
    trained_on = saved.meta.get("env", {}).get("env_id")
    if trained_on is not None and trained_on != spec.env_id:
        raise ValueError(
            f"the analyser in {saved.path} was trained on {trained_on} episodes, but the data are {spec.env_id} episodes; "
            f"use an analyser trained on {spec.env_id}, or analyse without --model"
        )
    config = saved.analyser.model.config
    width, actions = len(feature_names(spec, saved.analyser.features)), len(spec.action_names)
    if (width, actions) != (config.feature_dim, config.num_actions):
        raise ValueError(
            f"the analyser in {saved.path} reads {config.feature_dim} features and {config.num_actions} actions per agent-step, "
            f"but the data ({spec.env_id}, agents {', '.join(spec.agents)}) give {width} features and {actions} actions"
        )


def copy_model(saved: SavedAnalyser, directory: str | Path) -> Path:
    """The saved weights and model.json copied byte for byte into ``directory`` (nothing when it is the saved folder)."""
    directory = Path(directory)
    if directory.resolve() != saved.path.resolve():
        directory.mkdir(parents=True, exist_ok=True)
        for name in MODEL_FILES:
            shutil.copyfile(saved.path / name, directory / name)
    return directory
