"""Experiments as one command: train → evaluate → study → behaviour → report, into one run directory.

An experiment (``experiments.config``) lists training runs, the intervention study to run on the
trained concept-bottleneck agents, and the behaviour analysis to run on trajectories recorded from
several checkpoints of one run. ``run_experiment`` runs the stages (``experiments.stages``) and
writes the run directory described in ``analysis.report`` (``experiment.json``, ``train/``, ``media/``,
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

import json
import os
import platform
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from envs.config import ConfigError, config_to_dict
from experiments import stages
from experiments.config import ExperimentConfig, train_config

STAGES = ("train", "evaluate", "study", "behaviour", "report")


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
    stages.check_resumes(configs)  # a rerun resumes them: the same training only
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
    from experiments.commands import analyze

    try:
        analyze.parse_args(["DATASET", "--out", "OUT", *args])
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
