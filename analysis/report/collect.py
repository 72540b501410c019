"""Read a run directory (layout: ``analysis.report``) into typed, validated parts.

Rules:
- ``experiment.json`` is the only required file. A missing or unreadable RUN_DIR, a missing or
  invalid ``experiment.json`` (not JSON, no ``name``, a ``kind`` or stage status outside the
  allowed values) raise ``RunDirError`` naming the file, the field and the allowed values.
- Every other part is optional. An absent part is ``None`` (or empty); a part that exists but
  cannot be read (bad JSON, a CSV without its columns) is also left out, and the reason is kept
  in ``RunDir.problems[part]`` so the report says what went wrong instead of failing.
- A run that stopped part-way is read like any other; ``Experiment.unfinished`` names the stages
  of ``RUN_STAGES`` that are not done (absent from the journal, or failed), for the report to say.
- The behaviour part lists the datasets ``behaviour/datasets.json`` names (the ones analysed; a
  rerun may leave others on disk), or every dataset there in run directories without that file.
- Nothing here imports ray or marl: datasets are opened with ``analysis.dataset``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from analysis.dataset import DatasetError, open_dataset

KINDS = ("quickstart", "experiment")
STATUSES = ("done", "skipped", "failed")
PARTS = ("train", "media", "study", "behaviour")
EVAL_KEYS = ("episodes", "team_return_mean", "team_return_std")
PROGRESS_COLUMNS = ("env_steps", "team_return_mean")
EFFECT_COLUMNS = ("condition", "outcome", "control_mean", "mean", "diff", "ci_low", "ci_high", "p_value", "p_adj", "significant")
SUBJECT_KEYS = ("subject", "env_id", "agents", "episodes", "conditions", "findings")
BEHAVIOUR_KEYS = ("episodes", "units", "unit", "k_joint", "k_local")
RUN_STAGES = ("train", "evaluate", "study", "behaviour")
"""The stages of ``experiments.pipeline`` that produce results, in order (the report stage follows them)."""
BEHAVIOUR_DATASETS = "datasets.json"
"""``behaviour/datasets.json``: ``{"datasets": [paths relative to behaviour/datasets/]}``, the datasets analysed."""
MEDIA = re.compile(r"^(?P<run>.+)_seed(?P<seed>\d+)(?:[_.-].*)?\.(?:gif|png)$")


class RunDirError(ValueError):
    """RUN_DIR or its experiment.json is missing or invalid; the message names what and where."""


class PartError(Exception):
    """One optional part of the run directory cannot be read (kept as a problem, not raised)."""


@dataclass(frozen=True)
class Stage:
    """One stage of the run, as journalled in experiment.json."""

    name: str
    status: str
    """``done``, ``skipped`` or ``failed``."""
    seconds: float | None
    note: str


@dataclass(frozen=True)
class Experiment:
    """experiment.json: what ran, where, with what, and how to run it again."""

    name: str
    kind: str
    description: str
    config: dict[str, Any]
    stages: tuple[Stage, ...]
    versions: dict[str, str]
    machine: dict[str, Any]
    started: str | None
    finished: str | None
    commands: tuple[str, ...]

    def stage(self, name: str) -> Stage | None:
        return next((s for s in self.stages if s.name == name), None)

    @property
    def unfinished(self) -> str:
        """Which of ``RUN_STAGES`` are not done, as one sentence ("" when every one is done or skipped)."""
        failed = [s for s in self.stages if s.name in RUN_STAGES and s.status == "failed"]
        absent = [name for name in RUN_STAGES if self.stage(name) is None]
        if not failed and not absent:
            return ""
        parts = [f"stage {s.name} failed" + (f" ({s.note})" if s.note else "") for s in failed]
        if absent:
            parts.append(f"stage(s) {', '.join(absent)} not done (not run, or the run stopped in them)")
        return "This run is not finished: " + "; ".join(parts) + "."


@dataclass(frozen=True)
class Trial:
    """One seed of a training run."""

    seed: int
    path: Path
    progress: pd.DataFrame | None
    """progress.csv, one row per training iteration (None when absent or unreadable)."""
    evaluation: dict[str, Any] | None
    """eval.json: held-out evaluation of the final checkpoint (None when absent or unreadable)."""


@dataclass(frozen=True)
class TrainRun:
    """train/<name>/: one trained configuration over its seeds."""

    name: str
    path: Path
    config: dict[str, Any]
    """config.yaml ({} when absent)."""
    trials: tuple[Trial, ...]

    def _first_eval(self, key: str) -> Any:
        return next((t.evaluation[key] for t in self.trials if t.evaluation and key in t.evaluation), None)

    @property
    def policy(self) -> str:
        return str(self.config.get("policy") or self._first_eval("policy") or "unknown")

    @property
    def env(self) -> str:
        env_id = self.config.get("env") or self._first_eval("env_id") or "unknown env"
        config = self.config.get("env_config") or self._first_eval("env_config") or {}
        return f"{env_id} " + ", ".join(f"{k}={v}" for k, v in config.items()) if config else str(env_id)

    @property
    def env_short(self) -> str:
        """The env id and its layout or map, when the config names one."""
        env_id = self.config.get("env") or self._first_eval("env_id") or "unknown env"
        config = self.config.get("env_config") or self._first_eval("env_config") or {}
        where = next((config[k] for k in ("layout", "map") if k in config), None)
        return f"{env_id}/{where}" if where else str(env_id)


@dataclass(frozen=True)
class Media:
    """media/<run>_seed<s>.gif (or .png); run and seed are None for other names."""

    path: Path
    run: str | None
    seed: int | None


@dataclass(frozen=True)
class SubjectResults:
    """What the intervention study found for one of its subjects (a ``marl.study.Subject``)."""

    data: dict[str, Any]
    """The subject's entry of study/summary.json."""
    effects: pd.DataFrame
    """Its rows of study/effects.csv (every condition × outcome against the control)."""
    figures: dict[str, Path]
    """Figure name → existing PNG file."""


@dataclass(frozen=True)
class Study:
    path: Path
    name: str
    subjects: tuple[SubjectResults, ...]


@dataclass(frozen=True)
class DatasetInfo:
    """One dataset recorded for the behaviour analysis."""

    path: str
    """Relative to behaviour/datasets/."""
    policy: str
    iteration: int
    episodes: int
    agent_steps: int


@dataclass(frozen=True)
class Behaviour:
    """behaviour/: datasets from checkpoints and what ``ethogram analyze`` wrote about them."""

    path: Path
    summary: dict[str, Any]
    clustering: dict[str, Any] | None
    linking: dict[str, Any] | None
    profiles: dict[str, Any] | None
    changepoints: dict[str, Any] | None
    concepts: dict[str, Any] | None
    figures: tuple[Path, ...]
    datasets: tuple[DatasetInfo, ...]
    local_by_agent: pd.DataFrame | None = None
    """Agent × agent-level cluster counts of units (from clusters_local.csv; None when absent)."""
    roles: dict[str, Any] | None = None
    """roles.json (``analysis.roles.behaviour_roles``): agent-level clusters against the agents' roles."""


@dataclass(frozen=True)
class RunDir:
    """Everything the report shows."""

    path: Path
    experiment: Experiment
    runs: tuple[TrainRun, ...] = ()
    media: tuple[Media, ...] = ()
    study: Study | None = None
    behaviour: Behaviour | None = None
    problems: dict[str, list[str]] = field(default_factory=dict)
    """Part name → what could not be read there."""


def _json(path: Path, root: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise PartError(f"{path.relative_to(root)}: not readable as JSON ({exc})") from None


def _require(data: Any, keys: tuple[str, ...], where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise PartError(f"{where}: expected a JSON object, got {type(data).__name__}")
    missing = [k for k in keys if k not in data]
    if missing:
        raise PartError(f"{where}: missing {', '.join(missing)}")
    return data


def _csv(path: Path, columns: tuple[str, ...], root: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise PartError(f"{path.relative_to(root)}: not readable as CSV ({exc})") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise PartError(f"{path.relative_to(root)}: missing column(s) {', '.join(missing)}")
    return frame


def read_experiment(root: Path) -> Experiment:
    """experiment.json, validated (module docstring)."""
    path = root / "experiment.json"
    if not path.is_file():
        raise RunDirError(
            f"{root} is not a run directory: it has no experiment.json (written by `ethogram experiment` / `ethogram quickstart`)"
        )
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise RunDirError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise RunDirError(f"{path}: expected a JSON object, got {type(data).__name__}")
    if not isinstance(data.get("name"), str) or not data["name"]:
        raise RunDirError(f"{path}: 'name' must be a non-empty string, got {data.get('name')!r}")
    if data.get("kind") not in KINDS:
        raise RunDirError(f"{path}: kind={data.get('kind')!r} is not allowed; choose one of: {', '.join(KINDS)}")
    stages = []
    for name, stage in (data.get("stages") or {}).items():
        if not isinstance(stage, dict) or stage.get("status") not in STATUSES:
            got = stage.get("status") if isinstance(stage, dict) else stage
            raise RunDirError(f"{path}: stages.{name}.status={got!r} is not allowed; choose one of: {', '.join(STATUSES)}")
        seconds = stage.get("seconds")
        stages.append(
            Stage(name, stage["status"], float(seconds) if isinstance(seconds, int | float) else None, str(stage.get("note") or ""))
        )
    return Experiment(
        name=data["name"],
        kind=data["kind"],
        description=str(data.get("description") or ""),
        config=data.get("config") or {},
        stages=tuple(stages),
        versions={str(k): str(v) for k, v in (data.get("versions") or {}).items()},
        machine=data.get("machine") or {},
        started=data.get("started"),
        finished=data.get("finished"),
        commands=tuple(str(c) for c in data.get("commands") or ()),
    )


def _trial(path: Path, root: Path, problems: list[str]) -> Trial:
    progress = evaluation = None
    try:
        if (path / "progress.csv").exists():
            progress = _csv(path / "progress.csv", PROGRESS_COLUMNS, root)
    except PartError as exc:
        problems.append(str(exc))
    try:
        if (path / "eval.json").exists():
            evaluation = _require(_json(path / "eval.json", root), EVAL_KEYS, str((path / "eval.json").relative_to(root)))
    except PartError as exc:
        problems.append(str(exc))
    return Trial(int(path.name.removeprefix("seed_")), path, progress, evaluation)


def read_runs(root: Path, problems: list[str]) -> tuple[TrainRun, ...]:
    """train/<run>/ with config.yaml and seed_<s>/ trials, in name order."""
    runs = []
    for run_dir in sorted(p for p in (root / "train").glob("*") if p.is_dir()):
        config: dict[str, Any] = {}
        if (run_dir / "config.yaml").exists():
            try:
                config = yaml.safe_load((run_dir / "config.yaml").read_text()) or {}
            except (OSError, yaml.YAMLError) as exc:
                problems.append(f"{(run_dir / 'config.yaml').relative_to(root)}: not readable as YAML ({exc})")
        seeds = sorted((p for p in run_dir.glob("seed_*") if p.is_dir() and p.name[5:].isdigit()), key=lambda p: int(p.name[5:]))
        if not seeds:
            problems.append(f"{run_dir.relative_to(root)}: no seed_<s>/ trial directories")
            continue
        runs.append(
            TrainRun(run_dir.name, run_dir, config if isinstance(config, dict) else {}, tuple(_trial(s, root, problems) for s in seeds))
        )
    return tuple(runs)


def read_media(root: Path) -> tuple[Media, ...]:
    """media/*.gif and media/*.png, GIFs first."""
    found = sorted((root / "media").glob("*.gif")) + sorted((root / "media").glob("*.png"))
    out = []
    for path in found:
        m = MEDIA.match(path.name)
        out.append(Media(path, m["run"] if m else None, int(m["seed"]) if m else None))
    return tuple(out)


def read_study(root: Path) -> Study | None:
    """study/summary.json + study/effects.csv (None when there is no study/)."""
    base = root / "study"
    if not base.is_dir():
        return None
    if not (base / "summary.json").exists():
        raise PartError("study/ has no summary.json (the study did not finish its analysis)")
    summary = _require(_json(base / "summary.json", root), ("subjects",), "study/summary.json")
    if not (base / "effects.csv").exists():
        raise PartError("study/ has no effects.csv")
    effects = _csv(base / "effects.csv", (*EFFECT_COLUMNS, "subject"), root)
    subjects = []
    for i, data in enumerate(summary["subjects"]):
        _require(data, SUBJECT_KEYS, f"study/summary.json subjects[{i}]")
        figures = {name: base / rel for name, rel in (data.get("figures") or {}).items() if (base / rel).is_file()}
        rows = effects[effects["subject"].astype(str) == str(data["subject"])].reset_index(drop=True)
        subjects.append(SubjectResults(data, rows, figures))
    return Study(base, str(summary.get("study") or "study"), tuple(subjects))


def _dataset_names(base: Path, problems: list[str]) -> list[str]:
    """The analysed datasets (``BEHAVIOUR_DATASETS``), or every one under ``base`` without that list;
    paths relative to ``base``."""
    listing = base.parent / BEHAVIOUR_DATASETS
    if listing.exists():
        try:
            names = _json(listing, base.parent.parent)["datasets"]
            if not isinstance(names, list):
                raise TypeError(f"'datasets' is a {type(names).__name__}")
            return [str(name) for name in names]
        except (PartError, KeyError, TypeError) as exc:
            problems.append(f"behaviour/{BEHAVIOUR_DATASETS}: not a list of datasets ({exc}); showing every dataset on disk")
    return sorted(m.parent.relative_to(base).as_posix() for m in base.glob("**/manifest.json"))


def _datasets(base: Path, problems: list[str]) -> tuple[DatasetInfo, ...]:
    out = []
    for name in _dataset_names(base, problems):
        try:
            ds = open_dataset(base / name)
        except DatasetError as exc:
            problems.append(f"behaviour/datasets/{name}: {exc}")
            continue
        policy = ds.manifest.policy
        out.append(DatasetInfo(name, policy.name, policy.iteration, ds.num_episodes, ds.agent_steps))
    return tuple(out)


def read_behaviour(root: Path, problems: list[str]) -> Behaviour | None:
    """behaviour/analysis/*.json and figures, and behaviour/datasets/ (None when there is no behaviour/)."""
    base = root / "behaviour"
    if not base.is_dir():
        return None
    analysis = base / "analysis"
    if not (analysis / "summary.json").exists():
        raise PartError("behaviour/analysis/summary.json is absent (`ethogram analyze` did not finish)")
    summary = _require(_json(analysis / "summary.json", root), BEHAVIOUR_KEYS, "behaviour/analysis/summary.json")
    parts: dict[str, Any] = {}
    for name in ("clustering", "linking", "profiles", "changepoints", "concepts", "roles"):
        try:
            parts[name] = _json(analysis / f"{name}.json", root) if (analysis / f"{name}.json").exists() else None
        except PartError as exc:
            problems.append(str(exc))
            parts[name] = None
    listed = [analysis / rel for rel in summary.get("figures") or ()]
    figures = tuple(p for p in listed if p.is_file()) or tuple(sorted((analysis / "figures").glob("*.png")))
    by_agent = None
    try:
        if (analysis / "clusters_local.csv").exists():
            local = _csv(analysis / "clusters_local.csv", ("agent", "cluster"), root)
            by_agent = pd.crosstab(local["agent"], local["cluster"])
    except PartError as exc:
        problems.append(str(exc))
    return Behaviour(analysis, summary, **parts, figures=figures, datasets=_datasets(base / "datasets", problems), local_by_agent=by_agent)


def collect(run_dir: str | Path) -> RunDir:
    """The run directory as typed parts; raises RunDirError when it is not a run directory."""
    root = Path(run_dir)
    if not root.exists():
        raise RunDirError(f"run directory {root} does not exist")
    if not root.is_dir():
        raise RunDirError(f"{root} is not a directory; give the run directory written by `ethogram experiment` / `ethogram quickstart`")
    experiment = read_experiment(root)
    problems: dict[str, list[str]] = {part: [] for part in PARTS}
    runs = read_runs(root, problems["train"])
    study = behaviour = None
    try:
        study = read_study(root)
    except PartError as exc:
        problems["study"].append(str(exc))
    try:
        behaviour = read_behaviour(root, problems["behaviour"])
    except PartError as exc:
        problems["behaviour"].append(str(exc))
    return RunDir(root, experiment, runs, read_media(root), study, behaviour, {k: v for k, v in problems.items() if v})
