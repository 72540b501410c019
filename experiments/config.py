"""The experiment file: which runs to train, and the study and behaviour analysis to run on them.

An experiment YAML lists training runs (each a training config plus overrides), the intervention
study to run on the trained concept-bottleneck agents, and the behaviour analysis to run on
trajectories recorded from several checkpoints of one run (docs/design.md, 'Style', rule 7: frozen
dataclasses checked in ``__post_init__``). ``load_experiment`` reads one with ``--set`` overrides;
``train_config`` resolves a run into its ``marl.config.TrainConfig``. ``experiments.pipeline`` runs
an experiment and ``experiments.stages`` its stages; both read it from here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envs.config import ConfigError, check_range, config_from_dict
from envs.ids import canonical_env_id


@dataclass(frozen=True)
class RunSpec:
    """One training configuration (all its seeds)."""

    name: str
    """Label, used as ``train/<name>/``."""
    config: str = ""
    """Training YAML (relative to the experiment file); empty: ``marl.config`` defaults."""
    set: dict[str, Any] = field(default_factory=dict)
    """Overrides merged onto the YAML (nested mapping, e.g. ``{env_config: {layout: ...}}``)."""


@dataclass(frozen=True)
class BehaviourSpec:
    """Trajectories from successive checkpoints of one trial, analysed with MOHBA."""

    run: str = ""
    """Which run (empty: the first concept-bottleneck run); its first seed is recorded."""
    checkpoints: int = 3
    """Evenly spaced checkpoints to record, the last one included."""
    episodes: int = 16
    """Episodes recorded per checkpoint."""
    num_envs: int = 8
    """Envs stepped together while recording."""
    analyze_args: tuple[str, ...] = ()
    """Extra ``ethogram analyze`` arguments, e.g. ``[--epochs, "20"]``."""

    def __post_init__(self) -> None:
        for name in ("checkpoints", "episodes", "num_envs"):
            check_range(f"behaviour.{name}", getattr(self, name), 1, integer=True)


@dataclass(frozen=True)
class ExperimentConfig:
    """An experiment (module docstring)."""

    name: str
    """Experiment name (the report's title)."""
    runs: tuple[RunSpec, ...]
    """Training runs."""
    defaults: dict[str, Any] = field(default_factory=dict)
    """Overrides applied to every run beneath its own ``set`` (e.g. ``{max_env_steps: 3e6, seeds: [0, 1, 2]}``)."""
    description: str = ""
    """One paragraph for the report."""
    eval_episodes: int = 32
    """Held-out episodes per trial for ``eval.json``."""
    gif: bool = True
    """Write a GIF of one episode of each trial's final policy to ``media/``."""
    gif_max_frames: int = 200
    """Frames kept in a GIF (long episodes are subsampled evenly)."""
    study: dict[str, Any] | None = None
    """``marl.study.StudyConfig`` fields except name and subjects (None: no study), and two of the
    experiment's own: ``runs`` (the concept-bottleneck runs whose trials are the subjects; default
    all) and ``planted`` (a list of ``{name, seats, seeds}``: each named trial also enters the study
    with scripted agents seated, ``marl.seats``, e.g. a planted idle agent to validate the lazy test)."""
    behaviour: BehaviourSpec | None = None
    """The behaviour analysis (None: none)."""

    def __post_init__(self) -> None:
        if not self.runs:
            raise ConfigError("an experiment needs at least one run")
        names = [r.name for r in self.runs]
        if len(set(names)) != len(names):
            raise ConfigError(f"run names must be unique, got {names}")
        check_range("eval_episodes", self.eval_episodes, 2, integer=True)
        check_range("gif_max_frames", self.gif_max_frames, 1, integer=True)
        if self.behaviour and self.behaviour.run and self.behaviour.run not in names:
            raise ConfigError(f"behaviour.run={self.behaviour.run!r} is not allowed; choose one of: {', '.join(names)}")
        if self.study and {"name", "subjects", "checkpoints"} & set(self.study):
            raise ConfigError("study: name and subjects come from the experiment; give conditions, probes, seeds, episodes ...")
        if self.study and set(self.study.get("runs") or ()) - set(names):
            raise ConfigError(f"study.runs={self.study['runs']} is not allowed; choose among: {', '.join(names)}")
        for plant in (self.study or {}).get("planted") or ():
            if not isinstance(plant, dict) or not plant.get("name") or not isinstance(plant.get("seats"), dict):
                raise ConfigError(f"study.planted entries need a name and seats ({{agent_2: 'scripted:idle'}}), got {plant!r}")


def load_experiment(path: str | Path, overrides: list[str] | None = None, runs: list[str] | None = None) -> tuple[ExperimentConfig, Path]:
    """The config and the folder its relative paths are read from.

    ``overrides`` are ``--set`` items (``defaults.max_env_steps=2e6``); ``runs`` keeps only the named runs.
    """
    from marl.config import merge_dicts, parse_overrides, read_yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"experiment config {path} does not exist")
    data = read_yaml(path) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level (name, runs, ...)")
    data = merge_dicts(data, parse_overrides(overrides))
    cfg = config_from_dict(ExperimentConfig, data, where="experiment")
    if runs:
        known = [r.name for r in cfg.runs]
        unknown = [r for r in runs if r not in known]
        if unknown:
            raise ConfigError(f"unknown run(s) {unknown}; this experiment has: {', '.join(known)}")
        behaviour = cfg.behaviour
        if behaviour and behaviour.run and behaviour.run not in runs:
            behaviour = dataclasses.replace(behaviour, run="")
        cfg = dataclasses.replace(cfg, runs=tuple(r for r in cfg.runs if r.name in runs), behaviour=behaviour)
    return cfg, path.parent


def train_config(spec: RunSpec, base: Path, out: Path, defaults: dict[str, Any] | None = None):
    """The ``marl.config.TrainConfig`` of a run: its YAML, the defaults, its overrides, its folder.

    A run that switches to another env starts from an empty env config (the YAML's belongs to its env).
    """
    from marl.config import from_dict, load_config, merge_dicts

    data = load_config(base / spec.config if spec.config else None).to_dict()
    overrides = merge_dicts(defaults or {}, {**spec.set, "out_dir": str(out / "train" / spec.name)})
    if canonical_env_id(overrides.get("env", data["env"])) != data["env"]:
        data["env_config"] = {}
    return from_dict(merge_dicts(data, overrides))
