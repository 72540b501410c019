"""Everything ``ethogram analyze`` writes, from episodes to an output directory.

Place in the analysis: features → model → fit → encode → cluster → saved → describe → **write**, the last
stage, the only one that writes under ``OUT`` (besides the model and clusters it saves through
``fit.save_model`` and ``saved.save_clusters``). Takes episodes and the stages' configs; runs the
stages in order and gives the summary (also written as summary.json).

Layout of ``OUT``:
    model/model.safetensors, model/model.json   the trained analyser (safetensors + JSON, no pickle)
    model/clusters.json                         its clusterings in full, to place new episodes (``analysis.mohba.saved``)
    clusters_joint.csv / clusters_local.csv     one row per unit (per agent of a unit), cluster and latent means
    clustering.json                             k, selection scores, sizes and centres at both levels
    linking.json                                joint ↔ local edges (count, shares, lift) and typical compositions
    profiles.json                               per-cluster concept/event profiles with effect sizes and descriptions
    changepoints.json                           occupancy per checkpoint and detected shifts (several iterations only)
    concepts.json                               concept directions in z^ω for the chosen label, completeness, ConceptSHAP
    summary.json                                what was analysed, the training record, timings, the descriptions
    figures/*.png                               latent maps, linking graph, occupancy, example strips

``run_analysis`` trains a new analyser; ``run_saved`` uses a saved one (no training) and either
places the units in its saved clusters or clusters them anew; both end in ``write_outputs``
(tables, the descriptions of ``describe``, figures of ``figures``, the summary).
"""

from __future__ import annotations

import csv
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from analysis.mohba import figures
from analysis.mohba.cluster import Behaviours, ClusterConfig, assign, discover, linking_table
from analysis.mohba.describe import ReportConfig, changepoints, concept_directions, profiles, unit_labels
from analysis.mohba.encode import Analyser, Units
from analysis.mohba.features import FeatureConfig, feature_names
from analysis.mohba.fit import FitConfig, env_record, save_model
from analysis.mohba.saved import SavedAnalyser, check_data, copy_model, save_clusters
from envs.config import config_to_dict
from envs.render import film_strip
from envs.spec import VECTOR_MODE

logger = logging.getLogger(__name__)


@dataclass
class Progress:
    """One line per stage (and per epoch) with the elapsed time, to ``echo`` (default: this module's logger, at INFO)."""

    echo: Callable[[str], Any] = logger.info
    start: float = field(default_factory=time.perf_counter)

    def __call__(self, message: str) -> None:
        self.echo(f"[{time.perf_counter() - self.start:7.1f}s] {message}")


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _unit_meta(episodes: Any, units: Units, i: int) -> dict[str, Any]:
    e = int(units.episode[i])
    return {
        "unit": i,
        "window": -1 if units.window is None else int(units.window[i]),
        "episode_id": int(episodes.episode_ids[e]),
        "source": str(episodes.source[e]),
        "policy": str(episodes.policy[e]),
        "condition": str(episodes.condition[e]),
        "iteration": int(episodes.iteration[e]),
    }


def write_tables(out: Path, episodes: Any, units: Units, found: Behaviours) -> None:
    """clusters_joint.csv, clusters_local.csv, clustering.json, linking.json."""
    agents = episodes.spec.agents
    joint_rows, local_rows = [], []
    for i in range(len(units)):
        meta = _unit_meta(episodes, units, i)
        if found.joint is not None:
            joint_rows.append({**meta, "cluster": f"J{found.joint.labels[i]}", **{f"z{d}": float(v) for d, v in enumerate(units.joint[i])}})
        for a, name in enumerate(agents):
            local_rows.append(
                {
                    **meta,
                    "agent": name,
                    "cluster": f"A{found.local_labels[i, a]}",
                    **{f"z{d}": float(v) for d, v in enumerate(units.local[i, a])},
                }
            )
    _write_csv(out / "clusters_joint.csv", joint_rows)
    _write_csv(out / "clusters_local.csv", local_rows)
    clustering = {"local": found.local.to_json(), "joint": None if found.joint is None else found.joint.to_json()}
    (out / "clustering.json").write_text(json.dumps(clustering, indent=2))
    if found.graph is not None:
        comps = {
            f"J{j}": [{"locals": [f"A{a}" for a in combo], "share": share} for combo, share in rows]
            for j, rows in found.compositions.items()
        }
        (out / "linking.json").write_text(json.dumps({"edges": linking_table(found.graph), "compositions": comps}, indent=2))


def _examples(found: Behaviours, units: Units, per_cluster: int) -> dict[str, list[int]]:
    """Unit indices of the first examples of each joint (or local, when flat) cluster."""
    labels, prefix = (found.joint.labels, "J") if found.joint is not None else (found.local_labels[:, 0], "A")
    return {f"{prefix}{c}": np.flatnonzero(labels == c)[:per_cluster].tolist() for c in np.unique(labels)}


def _frames(
    episodes: Any, units: Units, windows: Any, unit: int, obs_loader: Callable[[int], np.ndarray | None], frames: int = 6
) -> np.ndarray:
    """A film strip (RGB) of a unit's first window from stored observations, or its feature trace (L, F)."""
    w = int(units.window[unit]) if units.window is not None else int(np.flatnonzero(windows.episode_index == units.episode[unit])[0])
    obs = obs_loader(int(units.episode[unit]))
    if obs is None:
        return windows.raw[w, :, 0]
    start, length = int(windows.start[w]), windows.mask.shape[1]
    steps = np.linspace(start, start + length - 1, frames).round().astype(int)
    channels = episodes.spec.observation.channels
    return film_strip([figures.paint_observation(obs[t, 0], channels) for t in steps], columns=frames)


def write_figures(
    out: Path,
    episodes: Any,
    windows: Any,
    units: Units,
    found: Behaviours,
    label: np.ndarray,
    config: ReportConfig,
    cps: dict | None,
    names: list[str],
) -> list[str]:
    """All PNG figures; returns their paths relative to ``out``."""
    fig_dir = out / "figures"
    made = []
    local_label = np.repeat(label, units.local.shape[1])
    made.append(
        figures.latent_map(
            units.local.reshape(-1, units.local.shape[-1]),
            np.char.add("A", found.local_labels.reshape(-1).astype(str)),
            fig_dir / "local_map.png",
            "z^α",
            local_label,
            config.label,
        )
    )
    if found.joint is not None:
        made.append(
            figures.latent_map(
                units.joint, np.char.add("J", found.joint.labels.astype(str)), fig_dir / "joint_map.png", "z^ω", label, config.label
            )
        )
        made.append(figures.linking_figure(found.graph, fig_dir / "linking.png"))
    if cps is not None:
        for level, data in cps.items():
            idx = [c["index"] for c in data["changes"]]
            made.append(
                figures.occupancy_figure(
                    np.asarray(data["iterations"]),
                    np.asarray(data["occupancy"]),
                    idx,
                    fig_dir / f"occupancy_{level}.png",
                    "J" if level == "joint" else "A",
                )
            )
    loader = _obs_loader(episodes)
    strips = {
        name: [_frames(episodes, units, windows, u, loader) for u in idx] for name, idx in _examples(found, units, config.examples).items()
    }
    title = (
        "example windows per cluster: agent 0's stored view at 6 steps of the window"
        if loader(int(units.episode[0])) is not None
        else "example windows per cluster: agent 0's features over the window"
    )
    made.append(figures.example_strips(strips, fig_dir / "examples.png", title, trace_names=names if len(names) <= 40 else None))
    return [str(p.relative_to(out)) for p in made]


def _obs_loader(episodes: Any) -> Callable[[int], np.ndarray | None]:
    """Observations (T, N, H, W, C) of one episode from its source dataset, or None when not stored
    or not a grid (an imported vector: its features are drawn instead)."""
    from analysis.dataset import DatasetError, load

    if episodes.spec.observation.mode == VECTOR_MODE:
        return lambda e: None
    cache: dict[int, np.ndarray | None] = {}

    def get(e: int) -> np.ndarray | None:
        if e not in cache:
            if getattr(episodes, "obs", None) is not None:
                cache[e] = episodes.obs[e]
            else:
                try:
                    one = load(str(episodes.source[e]), fields=("obs",), episodes=[int(episodes.episode_ids[e])])
                    cache[e] = one.obs[0]
                except (DatasetError, OSError, ValueError):
                    cache[e] = None
        return cache[e]

    return get


def run_analysis(
    episodes: Any,
    out: str | Path,
    features: FeatureConfig,
    train: FitConfig,
    clusters: ClusterConfig,
    report: ReportConfig,
    model_options: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Train, cluster, link, profile, track and explain; write everything under ``out``; return the summary."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    say = progress or Progress()
    say(f"{episodes.num_episodes} episodes, {len(episodes.spec.agents)} agents, env {episodes.spec.env_id}; training")

    def epoch_line(r: dict[str, float]) -> None:
        kl = f"KL joint {r['val_kl_joint']:.2f}, local {r['val_kl_local']:.2f}"
        say(f"epoch {r['epoch']:3d} β={r['beta']:.2f} val loss {r['val_loss']:.2f} (recon {r['val_reconstruction']:.2f}, {kl})")

    analyser, windows, result = Analyser.fit(episodes, features, train, model_options, progress=epoch_line)
    training = {
        "seconds": result.seconds,
        "windows_per_s": result.windows_per_s,
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
        "epochs_cap": train.epochs,
        "hit_budget": result.hit_budget,
    }
    extra = {"training": config_to_dict(train), "history": result.history, "result": training, "env": env_record(episodes.spec)}
    save_model(out / "model", analyser.model, features, analyser.standardiser, **extra)
    rate = f"{result.windows_per_s:.0f} windows/s"
    say(f"trained {len(windows)} windows in {result.seconds:.1f}s ({rate}), best epoch {result.best_epoch}; clustering")
    units = analyser.units(windows, clusters.unit)
    found = discover(units, clusters)
    save_clusters(out / "model", found, clusters)
    return write_outputs(out, episodes, analyser, windows, units, found, report, train.seed, say, training)


def run_saved(
    episodes: Any,
    out: str | Path,
    saved: SavedAnalyser,
    clusters: ClusterConfig | None,
    report: ReportConfig,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Analyse ``episodes`` with a saved analyser, no training: its units go to the saved clusters
    (``clusters`` None; ``saved`` must hold them) or are clustered anew with ``clusters``. The data
    are checked against the model before anything is written under ``out``."""
    check_data(saved, episodes)
    if clusters is None and saved.behaviours is None:
        raise ValueError(f"no clusters given and none loaded from {saved.path}; open it with its clusters or pass a ClusterConfig")
    config = clusters if clusters is not None else saved.clusters
    say = progress or Progress()
    say(f"{episodes.num_episodes} episodes, env {episodes.spec.env_id}; encoding with the analyser in {saved.path} (no training)")
    windows = saved.analyser.windows(episodes)
    units = saved.analyser.units(windows, config.unit)
    say("clustering anew" if clusters is not None else f"placing {len(units)} units in the saved clusters")
    found = discover(units, clusters) if clusters is not None else assign(saved.behaviours, units)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_clusters(copy_model(saved, out / "model"), found, config)
    used = {"model": str(saved.path), "trained": False, "clusters": "saved" if clusters is None else "fitted"}
    training = {**saved.meta.get("result", {}), **used}
    return write_outputs(out, episodes, saved.analyser, windows, units, found, report, config.seed, say, training)


def write_outputs(
    out: Path,
    episodes: Any,
    analyser: Analyser,
    windows: Any,
    units: Units,
    found: Behaviours,
    report: ReportConfig,
    seed: int,
    say: Callable[[str], None],
    training: dict[str, Any],
) -> dict[str, Any]:
    """Tables, profiles, changepoints, concepts, figures and summary.json (with ``training``) for found behaviours."""
    write_tables(out, episodes, units, found)
    names = feature_names(episodes.spec, analyser.features)
    profs = profiles(units, found, names)
    (out / "profiles.json").write_text(json.dumps(profs, indent=2))
    cps = changepoints(units, found, episodes, report.changepoint_method)
    if cps is not None:
        (out / "changepoints.json").write_text(json.dumps(cps, indent=2))
    label = unit_labels(report.label, units, episodes, windows, report.label_bins)
    concept_json = concept_directions(units, label, report, seed, say)
    if concept_json is not None:
        (out / "concepts.json").write_text(json.dumps(concept_json, indent=2))
    say("figures")
    made = write_figures(out, episodes, windows, units, found, label, report, cps, names)
    summary = {
        "episodes": int(episodes.num_episodes),
        "windows": len(windows),
        "units": len(units),
        "unit": "window" if units.window is not None else "episode",
        "k_joint": None if found.joint is None else found.joint.k,
        "k_local": found.local.k,
        "training": training,
        "descriptions": [p["description"] for p in profs.get("joint", []) + profs["local"]],
        "changes": None if cps is None else {k: v["changes"] for k, v in cps.items()},
        "completeness": None if concept_json is None else concept_json["completeness"],
        "figures": made,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    say(f"done: {summary['k_joint']} joint and {summary['k_local']} local behaviours → {out}")
    return summary
