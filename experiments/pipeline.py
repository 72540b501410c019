"""Experiments as one command: train → evaluate → study → behaviour → report, into one run directory.

An experiment YAML lists training runs (each a training config plus overrides), the intervention
study to run on the trained concept-bottleneck agents, and the behaviour analysis to run on
trajectories recorded from several checkpoints of one run. ``run_experiment`` writes the run
directory described in ``analysis.report`` (``experiment.json``, ``train/``, ``media/``,
``study/``, ``behaviour/``, ``report.html``, ``summary.md``).

Rules:
- Stages run in order and each is resumable: rerunning the same command continues training from
  the last checkpoints (``marl.train``), skips evaluations already written for the final
  checkpoint, resumes recordings (``marl.record``) and redoes the cheap analyses.
- Evaluation, studies and behaviour recordings use the task's own reward: training-only shaping
  is switched off (``marl.study.EVAL_OVERRIDES``).
- The study's subjects are every trial of every concept-bottleneck run; baseline runs are trained
  and evaluated for comparison (they have no concepts to intervene on).
- Nothing is written and Ray is not started before the whole experiment is checked
  (``check_experiment``): every run's resolved training config and env, the study section (its
  fields, and every condition's lines and windows against each subject run's world and horizon,
  planted seats included) and the behaviour section. A bad value found after stage 1 would leave a
  half-made run directory behind.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from envs.config import ConfigError, check_range, config_from_dict, config_to_dict

STAGES = ("train", "evaluate", "study", "behaviour", "report")


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
    if overrides.get("env", data["env"]) != data["env"]:
        data["env_config"] = {}
    return from_dict(merge_dicts(data, overrides))


def check_experiment(cfg: ExperimentConfig, base: Path, out: Path) -> None:
    """Raise a named error for anything of ``cfg`` a later stage would refuse (module docstring)."""
    import envs

    configs = {}
    for spec in cfg.runs:
        try:
            configs[spec.name] = tcfg = train_config(spec, base, out, cfg.defaults)
            envs.make_batched(tcfg.env, tcfg.env_config, 1)
        except ConfigError as exc:
            raise ConfigError(f"run {spec.name!r}: {exc}") from None
    if cfg.study is not None:
        _check_study(cfg, configs, out)
    if cfg.behaviour is not None and cfg.behaviour.analyze_args:
        _check_analyze_args(cfg.behaviour.analyze_args)


def _check_study(cfg: ExperimentConfig, configs: dict[str, Any], out: Path) -> None:
    """The study section's fields, and each condition (configured or generated) against the world
    and horizon of every concept-bottleneck run it will study, with and without each planted seat."""
    import envs
    from envs.interventions import check_windows, parse_condition
    from marl.seats import SeatError, check_lines, check_seats
    from marl.study import eval_config, expand_conditions, study_from_dict

    fields = {k: v for k, v in cfg.study.items() if k not in ("runs", "planted")}
    try:
        study = study_from_dict({**fields, "name": cfg.name, "subjects": [{"name": "check", "checkpoint": str(out)}]})
    except ConfigError as exc:
        raise ConfigError(str(exc) if str(exc).startswith("study") else f"study: {exc}") from None
    planted = [{"name": "", "seats": {}}, *(cfg.study.get("planted") or ())]
    for run in cfg.study.get("runs") or configs:
        tcfg = configs[run]
        if tcfg.policy != "cbp":
            continue
        env = envs.make_batched(tcfg.env, eval_config(tcfg.env_config), 1)
        for plant in planted:
            try:
                scripted = tuple(check_seats(plant["seats"], tcfg.env, env.spec.agents))
            except SeatError as exc:
                raise SeatError(f"study.planted {plant['name']!r} (run {run!r}): {exc}") from None
            conditions = expand_conditions(study, env.spec.agents, scripted)
            if len(conditions) == 1:
                raise ConfigError("study: only the control would run; add conditions or probes to compare with it")
            for name, condition in conditions.items():
                try:
                    check_lines(condition.lines, scripted)
                    check_windows(parse_condition(condition.lines, env.spec.concepts), env.horizon)
                except ValueError as exc:
                    plant_note = f", planted {plant['name']!r}" if plant["name"] else ""
                    raise ConfigError(f"study condition {name!r} (run {run!r}{plant_note}): {exc}") from None


def _check_analyze_args(args: tuple[str, ...]) -> None:
    """``behaviour.analyze_args`` must parse as ``ethogram analyze`` options."""
    from experiments.cli import build_parser

    try:
        build_parser().parse_args(["analyze", "DATASET", "--out", "OUT", *args])
    except SystemExit:
        raise ConfigError(
            f"behaviour.analyze_args={list(args)} are not options of ethogram analyze (see ethogram analyze --help)"
        ) from None


class Journal:
    """``experiment.json``: config, versions, stage timings; rewritten after every stage."""

    def __init__(self, out: Path, cfg: ExperimentConfig, kind: str, command: str) -> None:
        self.path = out / "experiment.json"
        old = json.loads(self.path.read_text()) if self.path.exists() else {}
        self.data = {
            "name": cfg.name,
            "kind": kind,
            "description": cfg.description,
            "config": config_to_dict(cfg),
            "stages": old.get("stages", {}),
            "versions": _versions(),
            "started": old.get("started", _now()),
            "finished": None,
            "commands": list(dict.fromkeys([*old.get("commands", []), command])),
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        }
        self.save()

    def stage(self, name: str, seconds: float, status: str, note: str = "") -> None:
        self.data["stages"][name] = {"seconds": round(seconds, 1), "status": status, "note": note}
        self.save()

    def finish(self) -> None:
        self.data["finished"] = _now()
        self.save()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.data, indent=2, default=str))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for dist in ("ethogram", "torch", "ray", "numpy", "pettingzoo", "scikit-learn"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def run_experiment(
    cfg: ExperimentConfig,
    base: Path,
    out: str | Path,
    *,
    kind: str = "experiment",
    command: str = "",
    address: str | None = None,
    log: Callable[[str], Any] = print,
) -> Path:
    """Run every stage (module docstring); returns the run directory."""
    from experiments import stages

    out = Path(out)
    check_experiment(cfg, base, out)
    journal = Journal(out, cfg, kind, command)
    trials = {}
    steps = {
        "train": lambda: trials.update(stages.train(cfg, base, out, address, log)),
        "evaluate": lambda: stages.evaluate(cfg, trials, out, log),
        "study": lambda: stages.study(cfg, trials, out, address, log),
        "behaviour": lambda: stages.behaviour(cfg, trials, out, log),
        "report": lambda: stages.report(out, log),
    }
    total = time.perf_counter()
    for i, name in enumerate(STAGES, 1):
        log(f"\n== {name} ({i}/{len(STAGES)}) " + "=" * 40)
        start = time.perf_counter()
        if name == "report":
            journal.finish()  # the results are complete; the report renders them and says so
        note = steps[name]() or ""
        status = "skipped" if note.startswith("skipped") else "done"
        journal.stage(name, time.perf_counter() - start, status, note)
        log(f"-- {name}: {status} in {time.perf_counter() - start:.0f}s {note}")
    log(f"\nexperiment {cfg.name} finished in {time.perf_counter() - total:.0f}s: {out}")
    return out


def evenly_spaced(items: list[Any], n: int) -> list[Any]:
    """``n`` items spread evenly over ``items``, the last one always included."""
    if n >= len(items):
        return list(items)
    picks = np.unique(np.linspace(0, len(items) - 1, n).round().astype(int))
    return [items[i] for i in picks]
