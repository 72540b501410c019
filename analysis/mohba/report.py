"""Everything ``ethogram analyze`` writes, from episodes to an output directory.

Layout of ``OUT``:
    model/model.safetensors, model/model.json   the trained analyser (safetensors + JSON, no pickle)
    clusters_joint.csv / clusters_local.csv     one row per unit (per agent of a unit), cluster and latent means
    clustering.json                             k, selection scores, sizes and centres at both levels
    linking.json                                joint ↔ local edges (count, shares, lift) and typical compositions
    profiles.json                               per-cluster concept/event profiles with effect sizes and descriptions
    changepoints.json                           occupancy per checkpoint and detected shifts (several iterations only)
    concepts.json                               concept directions in z^ω for the chosen label, completeness, ConceptSHAP
    summary.json                                what was analysed, the training record, timings, the descriptions
    figures/*.png                               latent maps, linking graph, occupancy, example strips
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
from analysis.mohba.behaviours import linking_table, per_group
from analysis.mohba.changepoints import detect, occupancy, split_by_checkpoint
from analysis.mohba.concepts import agent_dispersion, cluster_profiles, discover_concepts, quantile_bins
from analysis.mohba.features import FeatureConfig, feature_names, gather_windows
from analysis.mohba.pipeline import Analyser, Behaviours, ClusterConfig, Units, discover
from analysis.mohba.train import FitConfig, save_model
from envs.config import check_choice, config_to_dict
from envs.render import film_strip
from envs.spec import VECTOR_MODE

logger = logging.getLogger(__name__)

LABELS = ("return", "dispersion")


@dataclass(frozen=True)
class ReportConfig:
    """What the analysis adds on top of the clusters."""

    label: str = "return"
    """User label for concept discovery and the second colouring of the maps: ``return`` or ``dispersion``."""
    label_bins: int = 3
    """Quantile bins of the label."""
    concepts: int = 4
    """Concept directions to learn in z^ω (0 skips concept discovery)."""
    examples: int = 3
    """Example units per cluster in the film strips."""
    changepoint_method: str = "pelt"
    """``pelt`` (ruptures) or ``chi2`` (see ``analysis.mohba.changepoints``)."""


@dataclass
class Progress:
    """One line per stage (and per epoch) with the elapsed time, to ``echo`` (default: this module's logger, at INFO)."""

    echo: Callable[[str], Any] = logger.info
    start: float = field(default_factory=time.perf_counter)

    def __call__(self, message: str) -> None:
        self.echo(f"[{time.perf_counter() - self.start:7.1f}s] {message}")


def unit_labels(kind: str, units: Units, episodes: Any, windows: Any, bins: int) -> np.ndarray:
    """Quantile-binned label per unit: team return, or mean agent dispersion over the unit's steps."""
    check_choice("label", kind, LABELS)
    if kind == "return":
        return quantile_bins(units.team_return, bins)
    disp = agent_dispersion(episodes.concepts, episodes.spec)  # (E, T)
    mask = windows.mask
    per_window = (gather_windows(disp, windows.episode_index, windows.start, mask.shape[1]) * mask).sum(1) / mask.sum(1)
    # episode units are the sorted episodes, as per_group returns them
    values = per_window[units.window] if units.window is not None else per_group(per_window, windows.episode_index)[1]
    return quantile_bins(values, bins)


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


def profiles(units: Units, found: Behaviours, names: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Concept/event profiles of the local clusters (per agent) and joint clusters (agent means + team return)."""
    n = units.summary.shape[1]
    out = {"local": cluster_profiles(units.summary.reshape(-1, units.summary.shape[-1]), names, found.local_labels.reshape(-1), prefix="A")}
    if found.joint is not None:  # team means; teammate columns repeat the agents' own there, so they go
        own = [i for i, name in enumerate(names) if not name.startswith("mate")]
        team = np.concatenate([units.summary.mean(axis=1)[:, own], units.team_return[:, None]], axis=1)
        team_names = [("team_mean." + names[i][5:] if names[i].startswith("self.") else names[i]) for i in own]
        out["joint"] = cluster_profiles(team, [*team_names, "team_return"], found.joint.labels, prefix="J")
    out["agents"] = n
    return out


def changepoints(units: Units, found: Behaviours, episodes: Any, method: str) -> dict[str, Any] | None:
    """Occupancy per training iteration and its shifts, at both levels (None with < 2 iterations)."""
    iteration = episodes.iteration[units.episode]
    if len(np.unique(iteration)) < 2:
        return None
    result: dict[str, Any] = {}
    levels = {"local": (np.repeat(iteration, found.local_labels.shape[1]), found.local_labels.reshape(-1), found.local.k)}
    if found.joint is not None:
        levels["joint"] = (iteration, found.joint.labels, found.joint.k)
    for level, (its, labels, k) in levels.items():
        iters, groups = split_by_checkpoint(labels, its)
        frac, counts = occupancy(groups, k)
        changes = detect(frac, counts, method=method)
        result[level] = {
            "iterations": iters.tolist(),
            "occupancy": frac.tolist(),
            "counts": counts.tolist(),
            "changes": [{**c.to_json(), "iteration": int(iters[c.index])} for c in changes],
        }
    return result


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


def concept_directions(units: Units, label: np.ndarray, report: ReportConfig, seed: int, say: Callable[[str], None]) -> dict | None:
    """Concept directions in z^ω against the label bins (None when flat, skipped or one bin)."""
    if not report.concepts or units.joint is None or len(np.unique(label)) < 2:
        return None
    say(f"concept discovery: {report.concepts} directions in z^ω against {report.label} bins")
    found = discover_concepts(units.joint, label, m=report.concepts, seed=seed)
    return {"label": report.label, "bins": report.label_bins, **found.to_json()}


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
    save_model(out / "model", analyser.model, features, analyser.standardiser, training=config_to_dict(train), history=result.history)
    rate = f"{result.windows_per_s:.0f} windows/s"
    say(f"trained {len(windows)} windows in {result.seconds:.1f}s ({rate}), best epoch {result.best_epoch}; clustering")
    units = analyser.units(windows, clusters.unit)
    found = discover(units, clusters)
    write_tables(out, episodes, units, found)
    names = feature_names(episodes.spec, features)
    profs = profiles(units, found, names)
    (out / "profiles.json").write_text(json.dumps(profs, indent=2))
    cps = changepoints(units, found, episodes, report.changepoint_method)
    if cps is not None:
        (out / "changepoints.json").write_text(json.dumps(cps, indent=2))
    label = unit_labels(report.label, units, episodes, windows, report.label_bins)
    concept_json = concept_directions(units, label, report, train.seed, say)
    if concept_json is not None:
        (out / "concepts.json").write_text(json.dumps(concept_json, indent=2))
    say("figures")
    made = write_figures(out, episodes, windows, units, found, label, report, cps, names)
    summary = {
        "episodes": int(episodes.num_episodes),
        "windows": len(windows),
        "units": len(units),
        "unit": clusters.unit,
        "k_joint": None if found.joint is None else found.joint.k,
        "k_local": found.local.k,
        "training": {
            "seconds": result.seconds,
            "windows_per_s": result.windows_per_s,
            "best_epoch": result.best_epoch,
            "epochs_run": len(result.history),
        },
        "descriptions": [p["description"] for p in profs.get("joint", []) + profs["local"]],
        "changes": None if cps is None else {k: v["changes"] for k, v in cps.items()},
        "completeness": None if concept_json is None else concept_json["completeness"],
        "figures": made,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    say(f"done: {summary['k_joint']} joint and {summary['k_local']} local behaviours → {out}")
    return summary
