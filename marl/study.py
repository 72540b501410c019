"""Controlled studies: checkpoints × env configs × conditions × seeds × episodes, run on Ray.

A study YAML names the policies under study, the conditions (lists of intervention lines, see
``envs.interventions``; the control, with none, is always added), the seeds and the number of
episodes. ``run_study`` records one dataset per (subject, condition, seed) under
``OUT/datasets/<subject>/<condition>/seed_<s>/`` and then calls ``analysis.study.analyze_study``
to write the effect tables, graphs, findings and figures.

Rules:
- Every (subject, condition, seed) is one Ray task (``SPREAD`` over the cluster's nodes;
  ``--address`` joins a cluster, whose nodes must share the output directory). The control tasks
  run first: ``mean`` and ``shuffle`` interventions draw on the control's recorded bottlenecks.
- Results do not depend on the parallelism: a task's env episodes and the policy's action
  sampling are seeded from the study seed alone (``marl.record`` seeds batch b from (seed, b)), so
  every condition of a subject sees the same episode seeds (common random numbers), and a task
  run anywhere, in any order, writes the same dataset. Torch runs one thread per task.
- The plan is the analysis's only input: ``OUT/study.json`` (the config and every task's subject,
  condition, seed, dataset and episode count) is written before any task runs, and the analysis
  reads exactly those datasets and, of each, exactly the planned episodes. A rerun into the same
  directory with fewer seeds, conditions or episodes leaves the earlier datasets on disk, unread.
- Paths in ``study.json`` are relative to OUT and checkpoints in the datasets' manifests relative to
  the dataset (``analysis.dataset.format.relative_checkpoint``), so a run directory that holds the
  checkpoints and the study (``ethogram experiment``) can be moved or copied whole and resumed.
- ``probes: [own, about, idle]`` adds generated conditions: ``own:<i>`` masks agent i's concepts
  about itself in its own bottleneck; ``about:<i>><j>`` masks the concepts about agent i in agent
  j's bottleneck (both for the dependency graph; ``own`` also for the lazy-agent test);
  ``idle:<i>`` knocks agent i out, seating it as the world's scripted ``idle`` (always STAY; the adapter's ``Config.idle_action``), for
  the lazy-agent test that needs no bottleneck.

Probe interventions: ``erase`` / ``steer`` lines (``all: self.* -> erase @layer=features``) act at a
layer of any policy (baseline subjects too) through the probes fitted on it: ``probe_file: DIR`` per
subject or ``checkpoints:`` entry (``ethogram probe``'s output, relative to the YAML). Planning
compiles them against the loaded policy and probes (``marl.probe_edits``) before anything is written.

Mixed teams (``marl.seats``): a subject may seat scripted agents beside the trained ones, e.g.

    subjects:
      - {name: planted_lazy, checkpoint: runs/x/seed_0, seats: {agent_2: "scripted:free_rider"}}

or, in a ``checkpoints:`` entry (crossed with ``envs:``), ``{name: planted, path: runs/x/seed_0,
seats: {agent_2: "scripted:idle"}}``. Agents not named are played by the checkpoint; a seat reads ``scripted:ROLE[@EPSILON]``, a role of
the checkpoint's world. Every seat is checked (agent, role, form), and every condition's lines
against the subject's concepts and horizon (a window past it would never apply), before anything
is written. A scripted seat has no bottleneck: its recorded predicted/intervened concepts are NaN; a configured
line that targets it by name is a ``SeatError`` (``all`` means the trained seats); the probes
``own:<s>`` and ``about:<i>><s>`` are not generated for it, ``about:<s>><j>`` (what trained agents
know about it) and ``idle:<s>`` are. So the lazy test reaches a planted ``free_rider`` through its
``idle:`` knock-out.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from envs.config import ConfigError, check_choice, check_each, check_range, config_from_dict
from marl.seats import FILLER, SEAT_FORM, SeatError, check_lines, check_seats, parse_seat

logger = logging.getLogger(__name__)

PROBES = ("own", "about", "idle")
CONTROL = "control"
EVAL_OVERRIDES = {"shaping": False}
"""Applied to a checkpoint's training env config where the key exists: studies measure the task's
own reward, never the annealed training shaping."""
CHECKPOINT_KEYS = {"name", "path", "seats", "probe_file"}
"""Keys of a ``checkpoints:`` entry."""
REFERENCE_OPS = ("mean", "shuffle")
"""Intervention operations that draw on the control's recorded bottlenecks."""


def eval_config(train_config: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint's training env config with ``EVAL_OVERRIDES`` applied where the keys exist."""
    return {**train_config, **{k: v for k, v in EVAL_OVERRIDES.items() if k in train_config}}


@dataclass(frozen=True)
class Subject:
    """One policy under study."""

    name: str
    """Label used in paths and tables (letters, digits, ``_``, ``-``)."""
    checkpoint: str
    """Anything ``marl.loading.load_policy`` accepts: a run, trial or checkpoint directory."""
    env_config: dict[str, Any] | None = None
    """Env config overrides on top of the one the policy was trained with (None: as trained)."""
    seats: dict[str, str] | None = None
    """Agent id → ``scripted:ROLE[@EPSILON]``: agents played by the world's scripted role instead of
    the checkpoint (``marl.seats``; None: the checkpoint plays every agent)."""
    probe_file: str | None = None
    """``ethogram probe``'s output for this subject's policy, read by ``erase`` / ``steer`` lines (None: none may run)."""

    def __post_init__(self) -> None:
        if not self.name or not all(c.isalnum() or c in "_-" for c in self.name):
            raise ConfigError(f"subject name {self.name!r} must be letters, digits, '_' or '-'")
        if self.seats is not None:
            if not isinstance(self.seats, dict):
                raise SeatError(f"subject {self.name!r}: seats must map agent ids to {SEAT_FORM}, got {self.seats!r}")
            for agent, text in self.seats.items():
                parse_seat(agent, text)


@dataclass(frozen=True)
class StudyConfig:
    """A controlled study (module docstring)."""

    name: str
    """Study name, used in the report."""
    subjects: tuple[Subject, ...]
    """The policies under study (checkpoints × env configs, expanded)."""
    conditions: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Condition name → intervention lines. The control (no intervention) is added as ``control``."""
    probes: tuple[str, ...] = ()
    """Generated dependency probes: ``own`` and/or ``about`` (module docstring)."""
    seeds: tuple[int, ...] = (0,)
    """Study seeds, each >= 0 and none repeated; each (subject, condition, seed) is one task."""
    episodes: int = 16
    """Episodes per (subject, condition, seed), >= 2 (the tests compare samples)."""
    num_envs: int = 16
    """Envs stepped together inside a task, >= 1."""
    deterministic: bool = False
    """Greedy actions instead of sampling."""
    outcomes: tuple[str, ...] = ()
    """Outcome columns to test (empty: team return, per-agent returns and event totals)."""
    dependency_outcome: str = "return_{agent}"
    """Per-agent outcome template of the dependency graph (``{agent}`` is the affected agent)."""
    correction: str = "holm"
    """Multiple-testing correction: holm, bh or none."""
    alpha: float = 0.05
    """Significance level after correction, in [0, 1]."""
    lazy_margin: float = 0.1
    """Equivalence margin (relative change of team return) of the lazy-agent detector, in [0, 1]."""
    n_resamples: int = 9999
    """Bootstrap and permutation resamples per test, >= 99: fewer leave the 95% interval's 2.5% tails
    without resamples. The smallest permutation p is 1/(n+1), so large families need many: Holm
    multiplies the smallest p by the number of tests."""
    store_obs: bool = False
    """Keep raw observations in the study's datasets (large; the analysis does not need them)."""

    def __post_init__(self) -> None:
        if not self.subjects:
            raise ConfigError("a study needs at least one subject (checkpoints)")
        names = [s.name for s in self.subjects]
        if len(set(names)) != len(names):
            raise ConfigError(f"subject names must be unique, got {names}")
        if CONTROL in self.conditions:
            raise ConfigError(f"condition name {CONTROL!r} is reserved for the control, which is always run")
        for name in self.conditions:
            if name.partition(":")[0] in PROBES and ":" in name:
                raise ConfigError(f"condition name {name!r} is reserved for the generated probes ({', '.join(p + ':...' for p in PROBES)})")
        for probe in self.probes:
            check_choice("probes", probe, PROBES)
        check_choice("correction", self.correction, ("holm", "bh", "none"))
        check_range("episodes", self.episodes, 2, integer=True)
        check_range("num_envs", self.num_envs, 1, integer=True)
        check_range("alpha", self.alpha, 0.0, 1.0)
        check_range("lazy_margin", self.lazy_margin, 0.0, 1.0)
        check_range("n_resamples", self.n_resamples, 99, integer=True)
        if not self.seeds:
            raise ConfigError("seeds must name at least one seed")
        repeated = [str(s) for s in dict.fromkeys(s for s in self.seeds if list(self.seeds).count(s) > 1)]
        if repeated:  # two trials would record into one seed_<s>/ dataset
            verb = "appears" if len(repeated) == 1 else "appear"
            raise ConfigError(f"seeds must not repeat a seed; {', '.join(repeated)} {verb} more than once in {list(self.seeds)}")
        check_each("seeds", self.seeds, 0, integer=True)


def load_study(path: str | Path, overrides: dict[str, Any] | None = None) -> StudyConfig:
    """A StudyConfig from YAML; ``checkpoints`` × ``envs`` expand into subjects. Malformed YAML, or a
    document that is not a mapping, is a ConfigError naming the file."""
    from marl.config import read_yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"study config {path} does not exist")
    data = read_yaml(path) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of study fields at the top level, got {type(data).__name__}")
    return study_from_dict({**data, **(overrides or {})}, base=path.parent)


def study_from_dict(data: dict[str, Any], base: Path = Path()) -> StudyConfig:
    data = dict(data)
    checkpoints = data.pop("checkpoints", None)
    env_variants = data.pop("envs", None) or [{"name": "", "config": None}]
    if checkpoints is not None and "subjects" in data:
        raise ConfigError("give either subjects or checkpoints (× envs), not both")
    if checkpoints is not None:
        for c in checkpoints:
            if not isinstance(c, dict) or not {"name", "path"} <= set(c) or set(c) - CHECKPOINT_KEYS:
                raise ConfigError(f"each checkpoints entry is a mapping with name, path and optionally seats and probe_file; got {c!r}")
        data["subjects"] = [
            {
                "name": "-".join(filter(None, [c["name"], e.get("name", "")])),
                "checkpoint": c["path"],
                "env_config": e.get("config"),
                "seats": c.get("seats"),
                "probe_file": c.get("probe_file"),
            }
            for c, e in itertools.product(checkpoints, env_variants)
        ]
    subjects = []
    for s in data.get("subjects", []):
        if not isinstance(s, dict):
            raise ConfigError(f"each subject must be a mapping with name and checkpoint, got {s!r}")
        paths = {k: Path(str(s.get(k, ""))) for k in ("checkpoint", "probe_file") if k == "checkpoint" or s.get(k) is not None}
        subjects.append({**s, **{k: str(p if p.is_absolute() else base / p) for k, p in paths.items()}})  # relative to the YAML
    data["subjects"] = subjects
    data["conditions"] = {k: [v] if isinstance(v, str) else list(v) for k, v in (data.get("conditions") or {}).items()}
    cfg = config_from_dict(StudyConfig, data, where="study")
    return dataclasses.replace(cfg, conditions={k: tuple(v) for k, v in cfg.conditions.items()})


@dataclass(frozen=True)
class Condition:
    """What one condition of a subject changes."""

    lines: tuple[str, ...] = ()
    """Intervention lines (``envs.interventions``) on the trained seats' bottlenecks."""
    seats: dict[str, str] = field(default_factory=dict)
    """Seats changed on top of the subject's (the ``idle`` probe: ``{agent: "scripted:idle"}``)."""


def expand_conditions(cfg: StudyConfig, agents: tuple[str, ...], scripted: tuple[str, ...] = ()) -> dict[str, Condition]:
    """The control, the configured conditions and the generated probes, in that order.

    ``scripted`` agents (the subject's scripted seats) have no bottleneck: the probes that would
    intervene in it (``own:<s>``, ``about:<i>><s>``) are left out; ``about:<s>><j>`` is kept.
    """
    trained = [a for a in agents if a not in scripted]
    out = {CONTROL: Condition()}
    out.update({name: Condition(lines) for name, lines in cfg.conditions.items()})
    if "own" in cfg.probes:
        out.update({f"own:{a}": Condition((f"{a}: self.* -> mask",)) for a in trained})
    if "about" in cfg.probes:
        out.update({f"about:{i}>{j}": Condition((f"{j}: {i}.* -> mask",)) for i in agents for j in trained if i != j})
    if "idle" in cfg.probes:
        out.update({f"idle:{a}": Condition(seats={a: f"scripted:{FILLER}"}) for a in agents})
    return out


def condition_dir(out: Path, subject: str, condition: str, seed: int) -> Path:
    """Where one task's dataset lives (condition names are made path-safe)."""
    safe = condition.replace(":", "_").replace(">", "_to_")
    return out / "datasets" / subject / safe / f"seed_{seed}"


def run_task(task: dict[str, Any]) -> dict[str, Any]:
    """Record one (subject, condition, seed) dataset; runs in a Ray worker or in-process."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    import envs
    from analysis.dataset import ConditionInfo
    from analysis.dataset.format import relative_checkpoint
    from marl.loading import checkpoint_info, load_policy
    from marl.record import record
    from marl.seats import seat

    torch.set_num_threads(1)
    env = envs.make_batched(task["env_id"], task["env_config"], task["num_envs"])
    policy = load_policy(task["checkpoint"], env, deterministic=task["deterministic"], seed=task["seed"])
    policy = seat(policy, env, task["seats"], seed=task["seed"])
    info = checkpoint_info(task["checkpoint"], task["out"], policy)
    lines = tuple(task["lines"])
    reference = np.load(task["reference"]) if task.get("reference") else None
    probes = task.get("probe_file")  # set for conditions with erase / steer lines only
    policy.intervene(lines, reference=reference, seed=task["seed"], probes=probes)
    result = record(
        task["env_id"],
        task["env_config"],
        policy,
        task["episodes"],
        task["out"],
        seed=task["seed"],
        num_envs=task["num_envs"],
        policy_info=info,
        condition=ConditionInfo(
            id=task["condition"], spec=json.dumps(list(lines)), probes=probes and relative_checkpoint(probes, task["out"])
        ),
        store_obs=task["store_obs"],
        progress=False,
    )
    return {
        "subject": task["subject"],
        "condition": task["condition"],
        "seed": task["seed"],
        "path": str(result.path),
        "episodes": result.episodes,
        "node": _node_id(),
    }


def _node_id() -> str:
    try:
        import ray

        return ray.get_runtime_context().get_node_id() if ray.is_initialized() else "local"
    except Exception:
        return "local"


def _check_conditions(
    subject: str, conditions: dict[str, Condition], scripted: tuple[str, ...], concepts: Any, horizon: int
) -> dict[str, tuple[Any, ...]]:
    """Check every condition's lines against the subject's seats, its concepts and its episodes'
    ``horizon`` (``envs.interventions.check_windows``: a window past it would never apply); returns
    each condition's parsed interventions. Errors name both."""
    from envs.interventions import check_windows, parse_condition

    parsed = {}
    for name, condition in conditions.items():
        try:
            check_lines(condition.lines, scripted)
            parsed[name] = parse_condition(condition.lines, concepts)
            check_windows(parsed[name], horizon)
        except SeatError as exc:
            raise SeatError(f"subject {subject!r}, condition {name!r}: {exc}") from None
        except ValueError as exc:
            raise ConfigError(f"subject {subject!r}, condition {name!r}: {exc}") from None
    return parsed


def plan_tasks(cfg: StudyConfig, out: Path) -> list[dict[str, Any]]:
    """Every (subject, condition, seed) task, controls first; each a plain JSON-able dict. Every
    subject's env config, seats and condition lines are checked here, before anything is written."""
    import envs
    from envs.spec import EnvSpec
    from marl.loading import load_policy, policy_manifest
    from marl.probe_edits import check_policy_lines

    tasks = []
    for subject in cfg.subjects:
        manifest = policy_manifest(subject.checkpoint)
        env = manifest["env_spec"]
        # every seat and every line is checked before anything runs
        try:
            scripted = tuple(check_seats(subject.seats, env["env_id"], tuple(env["agents"])))
        except SeatError as exc:
            raise SeatError(f"subject {subject.name!r}: {exc}") from None
        conditions = expand_conditions(cfg, tuple(env["agents"]), scripted)
        if len(conditions) == 1:
            raise ConfigError(f"subject {subject.name!r}: only the control would run; add conditions or probes to compare with it")
        env_config = {**eval_config(env["config"]), **(subject.env_config or {})}
        try:
            horizon = envs.make_batched(env["env_id"], env_config, 1).horizon  # the subject's own episodes
        except ConfigError as exc:
            raise ConfigError(f"subject {subject.name!r}: env_config: {exc}") from None
        spec = EnvSpec.from_json(env)
        parsed = _check_conditions(subject.name, conditions, scripted, spec.concepts, horizon)
        trained = tuple(a for a in spec.agents if a not in scripted)  # bottleneck lines need a cbp, layer lines the probe file
        load = lambda subject=subject, spec=spec: load_policy(subject.checkpoint, spec)  # noqa: E731
        check_policy_lines(manifest["policy"], load, parsed, trained, subject.probe_file, where=f"subject {subject.name!r}, ")
        needs_reference = {name: any(iv.op in REFERENCE_OPS for iv in ivs) for name, ivs in parsed.items()}
        base = {
            "subject": subject.name,
            "checkpoint": subject.checkpoint,
            "env_id": env["env_id"],
            "env_config": env_config,
            "episodes": cfg.episodes,
            "num_envs": cfg.num_envs,
            "deterministic": cfg.deterministic,
            "store_obs": cfg.store_obs,
        }
        tasks.extend(
            {
                **base,
                "condition": name,
                "lines": list(condition.lines),
                "seats": {**(subject.seats or {}), **condition.seats},
                "needs_reference": needs_reference[name],
                "probe_file": subject.probe_file if any(iv.at_layer for iv in parsed[name]) else None,
                "seed": int(seed),
                "out": str(condition_dir(out, subject.name, name, seed)),
            }
            for name, condition in conditions.items()
            for seed in cfg.seeds
        )
    return sorted(tasks, key=lambda t: t["condition"] != CONTROL)


def reference_pool(paths: list[Path], max_rows: int = 20000, seed: int = 0, episodes: int | None = None) -> np.ndarray:
    """Un-intervened bottlenecks (M, N, P) recorded in datasets (their first ``episodes``; None: all),
    subsampled to ``max_rows`` steps."""
    from analysis.dataset import load

    eps = load(paths, fields=("predicted",), episodes=None if episodes is None else range(episodes))
    if eps.predicted is None:
        raise ValueError(f"{paths[0]}: no predicted concepts recorded; mean and shuffle need a concept-bottleneck recording")
    pool = eps.predicted[eps.mask]  # (M, N, P)
    rows = np.random.default_rng(seed).choice(len(pool), size=min(max_rows, len(pool)), replace=False)
    return pool[np.sort(rows)].astype(np.float32)


def _reference_file(out: Path, subject: str, controls: list[dict[str, Any]]) -> Path:
    """The bottlenecks of a subject's planned control tasks, saved as an .npy for the other tasks."""
    path = out / "reference" / f"{subject}.npy"
    path.parent.mkdir(parents=True, exist_ok=True)
    mine = [t for t in controls if t["subject"] == subject]
    np.save(path, reference_pool([Path(t["out"]) for t in mine], episodes=mine[0]["episodes"]))
    return path


def _relative(path: str | Path, out: Path) -> str:
    return Path(os.path.relpath(Path(path).resolve(), out.resolve())).as_posix()


def write_plan(cfg: StudyConfig, out: Path, tasks: list[dict[str, Any]], nodes: dict[tuple, str] | None = None) -> Path:
    """``OUT/study.json``: the config and the planned tasks, paths relative to OUT (module docstring)."""
    from analysis.study import PLAN_FILE
    from envs.config import config_to_dict

    config = config_to_dict(cfg)
    config["subjects"] = [
        {**s, "checkpoint": _relative(s["checkpoint"], out), "probe_file": s["probe_file"] and _relative(s["probe_file"], out)}
        for s in config["subjects"]
    ]
    planned = []
    for t in tasks:
        entry = {k: t[k] for k in ("subject", "condition", "seed", "episodes")}
        entry.update(path=_relative(t["out"], out), checkpoint=_relative(t["checkpoint"], out))
        if nodes and (node := nodes.get((t["subject"], t["condition"], t["seed"]))):
            entry["node"] = node
        planned.append(entry)
    path = out / PLAN_FILE
    tmp = path.with_name(f".{PLAN_FILE}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps({"config": config, "tasks": planned}, indent=2))
    tmp.replace(path)
    return path


def _execute(tasks: list[dict[str, Any]], use_ray: bool, log) -> list[dict[str, Any]]:
    if not use_ray:
        results = []
        for i, task in enumerate(tasks, 1):
            results.append(run_task(task))
            log(f"[{i}/{len(tasks)}] {task['subject']} {task['condition']} seed {task['seed']}")
        return results
    import ray

    remote = ray.remote(num_cpus=1)(run_task).options(scheduling_strategy="SPREAD")
    pending = {remote.remote(task): task for task in tasks}
    results = []
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        task = pending.pop(done[0])
        results.append(ray.get(done[0]))
        log(f"[{len(results)}/{len(tasks)}] {task['subject']} {task['condition']} seed {task['seed']} (node {results[-1]['node'][:8]})")
    return results


def run_study(
    cfg: StudyConfig, out: str | Path, *, use_ray: bool = True, address: str | None = None, log: Callable[[str], Any] = logger.info
) -> dict[str, Any]:
    """Record every task's dataset (controls first), then analyse; returns the study summary. ``log``
    gets one line per finished task (default: this module's logger, at INFO)."""
    from analysis.study import analyze_study

    out = Path(out)
    tasks = plan_tasks(cfg, out)  # checks every subject, seat and line before anything is written
    out.mkdir(parents=True, exist_ok=True)
    write_plan(cfg, out, tasks)
    if use_ray:
        from marl.train import init_ray

        init_ray(address)
    controls = [t for t in tasks if t["condition"] == CONTROL]
    others = [t for t in tasks if t["condition"] != CONTROL]
    results = _execute(controls, use_ray, log)
    references = {t["subject"]: None for t in others if t["needs_reference"]}
    for subject in references:
        references[subject] = str(_reference_file(out, subject, controls))
    for task in others:
        task["reference"] = references.get(task["subject"])
    results += _execute(others, use_ray, log)
    write_plan(cfg, out, tasks, {(r["subject"], r["condition"], r["seed"]): r["node"] for r in results})
    return analyze_study(
        out,
        name=cfg.name,
        outcomes=cfg.outcomes,
        dependency_outcome=cfg.dependency_outcome,
        correction=cfg.correction,
        alpha=cfg.alpha,
        lazy_margin=cfg.lazy_margin,
        n_resamples=cfg.n_resamples,
        log=log,
    )
