"""Training runs: trials (one per seed) as Ray tasks, progress, metrics, checkpoints, resume.

A run directory holds ``config.yaml`` (the full TrainConfig) and one ``seed_S/`` per trial with
``progress.csv``, ``tb/`` (TensorBoard) and ``checkpoints/iter_NNNNNN/``. A checkpoint holds the
RLlib algorithm (``algo/``), the policy for rollouts (``policy/``, see ``marl.loading``) and
``progress.json`` (iteration, env steps, seconds); ``checkpoints/latest`` names the newest complete
one and is replaced atomically after it is written, so a run killed at any moment (SIGKILL too)
resumes from its last checkpoint with ``--resume RUN_DIR`` and continues its step count; CSV rows
past that checkpoint are dropped and redone. A resume must train what the run trained
(``check_resume``): only ``RESUMABLE_FIELDS`` (stop conditions, ``checkpoint_every``, ``out_dir``,
resource requests) may differ from its ``config.yaml``. Resuming unpickles RLlib's ``algo/``
state, so resume only run directories you trust (loading a ``policy/`` never unpickles).

Every training process gets ``OMP_NUM_THREADS=1`` (docs/design.md, 'RLlib and Ray on a CPU'): the
CLI sets it before torch is imported, and Ray workers get it through the job's ``runtime_env``.

Nothing is started or written for a run that cannot train: the config is validated when it loads
(``marl.config``), ``train`` builds the env and refuses a directory that already holds a run before
it starts Ray, and ``launch`` checks the request against the cluster's resources
(``check_resources``: a trial whose CPUs or runner resources no node or the whole cluster can give
would wait forever) before it writes ``config.yaml``. So a corrected rerun is never refused.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from marl.config import ConfigError, TrainConfig, from_dict

CSV_FIELDS = ("iteration", "env_steps", "time_s", "steps_per_s", "episodes", "return_mean", "team_return_mean", "shaping_weight")
MODULE_FIELDS = ("total_loss", "policy_loss", "vf_loss", "entropy", "default_optimizer_learning_rate")
CONCEPT_FIELDS = ("concept_loss", "binary_acc", "categorical_acc", "regression_mse")
WORKER_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "RAY_AUTH_MODE": "disabled"}

logger = logging.getLogger(__name__)


def init_ray(address: str | None = None, temp_dir: str | None = None) -> None:
    """Connect to ``address`` (a running cluster) or start Ray here; no-op when already up."""
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # no token file under the home directory
    import ray

    if ray.is_initialized():
        return
    kwargs: dict[str, Any] = {"runtime_env": {"env_vars": WORKER_ENV}, "log_to_driver": True}
    if address:
        ray.init(address=address, **kwargs)
    else:
        tmp = temp_dir or os.environ.get("RAY_TMPDIR")
        ray.init(include_dashboard=False, _temp_dir=str(Path(tmp).resolve()) if tmp else None, **kwargs)


def _fmt(v: Any) -> Any:
    if isinstance(v, int):
        return v
    try:
        f = float(v)
    except (TypeError, ValueError):
        return v
    return "" if math.isnan(f) else round(f, 6)


def flatten(results: dict[str, Any], prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in results.items():
        key = f"{prefix}/{k}" if prefix else str(k)
        if isinstance(v, dict):
            out.update(flatten(v, key))
        elif isinstance(v, int | float) or hasattr(v, "dtype"):
            try:
                out[key] = float(v)
            except (TypeError, ValueError):
                continue
    return out


def metrics_row(
    results: dict[str, Any], module_ids: list[str], events: tuple[str, ...], it: int, steps: int, elapsed: float, rate: float
) -> dict[str, Any]:
    """One CSV row from an ``Algorithm.train()`` result (event counts: per episode, both agents)."""
    eth = results.get("ethogram", {})
    row: dict[str, Any] = {"iteration": it, "env_steps": steps, "time_s": elapsed, "steps_per_s": rate}
    for k in CSV_FIELDS[4:]:
        row[k] = eth.get(k, float("nan"))
    for name in events:
        row[f"events/{name}"] = eth.get(f"events/{name}", float("nan"))
    runners = results.get("env_runners", {})
    if "agent_episode_returns_mean" in runners:  # RLlib's default path
        per_agent = list(runners["agent_episode_returns_mean"].values())
        row["return_mean"] = sum(per_agent) / max(len(per_agent), 1)
        row["team_return_mean"] = runners.get("episode_return_mean", float("nan"))
    learners = results.get("learners", {})
    for mid in module_ids:
        m = learners.get(mid, {})
        for k in MODULE_FIELDS:
            row[f"{mid}/{k}"] = m.get(k, float("nan"))
        for k in CONCEPT_FIELDS:
            row[f"{mid}/{k}"] = m.get("concepts", {}).get(k, float("nan"))
    return {k: _fmt(v) for k, v in row.items()}


class ProgressWriter:
    """progress.csv + TensorBoard of one trial; on resume, rows past the checkpoint are dropped."""

    def __init__(self, trial_dir: Path, keep_until: int) -> None:
        self.path = trial_dir / "progress.csv"
        rows: list[dict[str, str]] = []
        if self.path.exists() and keep_until > 0:
            with self.path.open() as f:
                rows = [r for r in csv.DictReader(f) if int(float(r["iteration"])) <= keep_until]
        self.fields: list[str] | None = list(rows[0].keys()) if rows else None
        if rows or self.path.exists():
            self._write(rows)
        from torch.utils.tensorboard import SummaryWriter

        self.tb = SummaryWriter(str(trial_dir / "tb"), purge_step=keep_until + 1 if keep_until else None)

    def _write(self, rows: list[dict[str, Any]]) -> None:
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w", newline="") as f:
            if self.fields:
                w = csv.DictWriter(f, self.fields, extrasaction="ignore")
                w.writeheader()
                w.writerows(rows)
        tmp.replace(self.path)

    def add(self, row: dict[str, Any], results: dict[str, Any]) -> None:
        if self.fields is None:
            self.fields = list(row)
            self._write([])
        with self.path.open("a", newline="") as f:
            csv.DictWriter(f, self.fields, extrasaction="ignore").writerow(row)
        step = int(row["env_steps"])
        for k, v in flatten({"ethogram": results.get("ethogram", {}), "learners": results.get("learners", {})}).items():
            if math.isfinite(v):
                self.tb.add_scalar(k, v, step)
        self.tb.flush()


def progress_line(seed: int, row: dict[str, Any], module_ids: list[str]) -> str:
    def num(v: Any, spec: str) -> str:
        return format(v, spec) if isinstance(v, int | float) else "-"

    parts = [f"[seed {seed}] iter {row['iteration']}", f"steps {int(row['env_steps']):,}", f"{num(row['steps_per_s'], ',.0f')} steps/s"]
    parts.append(f"return {num(row['return_mean'], '.1f')}")
    accs = [(row.get(f"{m}/binary_acc"), row.get(f"{m}/categorical_acc")) for m in module_ids]
    if accs and isinstance(accs[0][0], float):
        parts.append("concept acc bin " + "/".join(num(a, ".3f") for a, _ in accs) + " cat " + "/".join(num(c, ".3f") for _, c in accs))
    parts.append(f"{num(row['time_s'], '.0f')}s")
    return " | ".join(parts)


def save_checkpoint(algo: Any, cfg: TrainConfig, trial_dir: Path, seed: int, it: int, elapsed: float) -> Path:
    """algo/ + policy/ + progress.json, then the ``latest`` pointer (atomic rename)."""
    from marl.loading import save_policy

    ckpt = trial_dir / "checkpoints" / f"iter_{it:06d}"
    ckpt.mkdir(parents=True, exist_ok=True)
    algo.save_to_path(str((ckpt / "algo").resolve()))
    save_policy(algo, cfg, ckpt / "policy", seed=seed, iteration=it, env_steps=algo.env_steps)
    (ckpt / "progress.json").write_text(json.dumps({"iteration": it, "env_steps": int(algo.env_steps), "time_s": elapsed, "seed": seed}))
    tmp = trial_dir / "checkpoints" / "latest.tmp"
    tmp.write_text(ckpt.name)
    tmp.replace(trial_dir / "checkpoints" / "latest")
    return ckpt


def _done(cfg: TrainConfig, steps: int, elapsed: float) -> bool:
    return (cfg.max_env_steps is not None and steps >= cfg.max_env_steps) or (cfg.max_time_s is not None and elapsed >= cfg.max_time_s)


def run_trial(cfg_dict: dict[str, Any], seed: int, trial_dir: str, verbose: bool = True) -> dict[str, Any]:
    """Train one seed to its stop condition; resumes from the trial's latest checkpoint if any.
    ``verbose``: log a progress line per iteration (this module's logger, at INFO)."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    from marl.algorithm import build_algorithm_config, env_spec
    from marl.loading import latest_checkpoint  # complete checkpoints only (a kill may leave a newer one half-written)

    cfg = from_dict(cfg_dict)
    tdir = Path(trial_dir)
    tdir.mkdir(parents=True, exist_ok=True)
    algo = build_algorithm_config(cfg, seed).build_algo()
    it, elapsed = 0, 0.0
    ckpt = latest_checkpoint(tdir)
    if ckpt is not None:
        algo.restore_from_path(str((ckpt / "algo").resolve()))
        state = json.loads((ckpt / "progress.json").read_text())
        it, elapsed, algo.env_steps = int(state["iteration"]), float(state["time_s"]), int(state["env_steps"])
        if verbose:
            logger.info(f"[seed {seed}] resumed from {ckpt.name}: iteration {it}, {algo.env_steps:,} env steps")
    mids = sorted(algo.config.policies)
    events = env_spec(cfg).event_names
    progress = ProgressWriter(tdir, keep_until=it)
    start, last = time.perf_counter() - elapsed, None
    try:
        while not _done(cfg, algo.env_steps, elapsed):
            t0, s0 = time.perf_counter(), algo.env_steps
            results = algo.train()
            it += 1
            elapsed = time.perf_counter() - start
            row = metrics_row(
                results, mids, events, it, algo.env_steps, elapsed, (algo.env_steps - s0) / max(time.perf_counter() - t0, 1e-9)
            )
            progress.add(row, results)
            if verbose:
                logger.info(progress_line(seed, row, mids))
            if it % cfg.checkpoint_every == 0 or _done(cfg, algo.env_steps, elapsed):
                last = save_checkpoint(algo, cfg, tdir, seed, it, elapsed)
        if last is None and ckpt is None:
            last = save_checkpoint(algo, cfg, tdir, seed, it, elapsed)
        return {"seed": seed, "iterations": it, "env_steps": int(algo.env_steps), "time_s": elapsed, "checkpoint": str(last or ckpt)}
    finally:
        progress.tb.close()
        algo.stop()


def trial(cfg_dict: dict[str, Any], seed: int, trial_dir: str, verbose: bool) -> dict[str, Any]:
    """``run_trial`` as a Ray task. A Ray worker is a process of its own where nothing configured
    logging: with ``verbose`` this package's INFO records go to the worker's stdout, which Ray
    forwards to the driver (``init_ray``'s ``log_to_driver``)."""
    if verbose:
        package = logging.getLogger("marl")
        if not any(getattr(h, "ethogram_worker", False) for h in package.handlers):  # a worker runs several tasks
            handler = logging.StreamHandler(sys.stdout)
            handler.setFormatter(logging.Formatter("%(message)s"))
            handler.ethogram_worker = True
            package.addHandler(handler)
        package.setLevel(logging.INFO)
    return run_trial(cfg_dict, seed, trial_dir, verbose)


def _amount(value: float) -> str:
    return f"{value:g}"


def check_resources(cfg: TrainConfig, available: dict[str, float], node_cpus: list[float] | None = None) -> None:
    """Raise ConfigError when one trial of ``cfg`` asks for more than the cluster has (it would wait
    forever): its driver's ``trial_cpus`` plus ``num_env_runners`` × (``cpus_per_runner`` and each
    ``runner_resources`` amount). ``available`` is ``ray.cluster_resources()``; ``node_cpus`` the CPUs
    of each node (a task or actor runs on one node). The message names the fields and what there is.
    """
    cpus = float(available.get("CPU", 0.0))
    have = ", ".join(f"{k}={_amount(v)}" for k, v in sorted(available.items()) if not k.startswith("node:"))  # not the node markers
    if cfg.trial_cpus > cpus:
        raise ConfigError(f"trial_cpus={cfg.trial_cpus} asks for more than the cluster has: the cluster has {_amount(cpus)} CPUs")
    s = cfg.sampling
    runners = s.num_env_runners
    for field, each in (("trial_cpus", cfg.trial_cpus), ("sampling.cpus_per_runner", s.cpus_per_runner if runners else 0.0)):
        if node_cpus and each > max(node_cpus):
            nodes = ", ".join(_amount(c) for c in node_cpus)
            raise ConfigError(
                f"{field}={each} CPUs must fit on one node, but the largest node has {_amount(max(node_cpus))} (nodes: {nodes})"
            )
    if not runners:
        return
    need = cfg.trial_cpus + runners * s.cpus_per_runner
    if need > cpus:
        raise ConfigError(
            f"one trial needs {_amount(need)} CPUs (trial_cpus={cfg.trial_cpus} + sampling.num_env_runners={runners} × "
            f"sampling.cpus_per_runner={s.cpus_per_runner}), but the cluster has {_amount(cpus)}"
        )
    for name, amount in s.runner_resources.items():
        if name not in available and amount > 0:
            raise ConfigError(f"sampling.runner_resources.{name}={amount} is not a resource of this cluster; available: {have}")
        if amount * runners > available.get(name, 0.0):
            raise ConfigError(
                f"sampling.runner_resources.{name}={amount} × {runners} runners needs {_amount(amount * runners)}, "
                f"but the cluster has {_amount(available[name])}"
            )


RESUMABLE_FIELDS = (
    "max_env_steps",
    "max_time_s",
    "checkpoint_every",
    "out_dir",
    "trial_cpus",
    "sampling.cpus_per_runner",
    "sampling.runner_resources",
    "ppo.learner_threads",
)
"""The fields a resumed run may change: when it stops, how often it checkpoints, where the run
directory is (it may have been moved) and what it asks of the machine. None changes what is trained."""


def _trained_fields(cfg: TrainConfig) -> dict[str, Any]:
    """``cfg`` as {dotted field: value}, less ``RESUMABLE_FIELDS``; ``env_config`` is the env's full
    config (defaults written out), so that spelling out a default is no change."""
    import envs
    from envs.config import config_to_dict

    data = {**cfg.to_dict(), "env_config": config_to_dict(envs.make_config(cfg.env, cfg.env_config))}
    flat: dict[str, Any] = {}

    def walk(node: dict[str, Any], prefix: str) -> None:
        for key, value in node.items():
            name = f"{prefix}{key}"
            if name in RESUMABLE_FIELDS:
                continue
            if isinstance(value, dict) and value:
                walk(value, f"{name}.")
            else:
                flat[name] = value

    walk(data, "")
    return flat


def check_resume(run: Path, cfg: TrainConfig) -> None:
    """Raise ConfigError when ``cfg`` would train something other than the run in ``run`` did.

    Resuming restores the stored algorithm; a config that differs in anything but ``RESUMABLE_FIELDS``
    would silently mix two setups in one run. The message names each differing field with both values.
    """
    from marl.config import read_yaml

    path = run / "config.yaml"
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    try:
        stored = _trained_fields(from_dict(data))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    given = _trained_fields(cfg)

    def show(fields: dict[str, Any], key: str) -> str:
        return repr(fields[key]) if key in fields else "absent"

    keys = sorted(stored.keys() | given.keys())
    diffs = [f"{k}: {show(stored, k)} in the run, {show(given, k)} now" for k in keys if stored.get(k, ...) != given.get(k, ...)]
    if diffs:
        raise ConfigError(
            f"cannot resume {run}: the config differs from its config.yaml in what is trained ({'; '.join(diffs)}). "
            f"Only {', '.join(RESUMABLE_FIELDS)} may change on resume; train the new config into another out_dir"
        )


def _check_run_dir(run: Path, resume: bool, cfg: TrainConfig) -> None:
    if not resume and (run / "config.yaml").exists():
        raise FileExistsError(f"{run} already holds a run; use --resume {run} or choose another out_dir")
    if resume and (run / "config.yaml").exists():
        check_resume(run, cfg)


def launch(cfg: TrainConfig, run_dir: str | Path, *, resume: bool = False) -> list[Any]:
    """Check the cluster can run a trial, write the run's config and start one Ray task per seed;
    returns their object refs. Ray must be up (``init_ray``)."""
    import ray

    run = Path(run_dir)
    _check_run_dir(run, resume, cfg)
    nodes = [float(n["Resources"].get("CPU", 0.0)) for n in ray.nodes() if n.get("Alive")]
    check_resources(cfg, ray.cluster_resources(), nodes)
    run.mkdir(parents=True, exist_ok=True)
    (run / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    task = ray.remote(num_cpus=cfg.trial_cpus, max_retries=0)(trial)
    verbose = logger.isEnabledFor(logging.INFO)  # the driver's logging decides whether trials report progress
    return [task.remote(cfg.to_dict(), seed, str((run / f"seed_{seed}").resolve()), verbose) for seed in cfg.seeds]


def train(cfg: TrainConfig, *, run_dir: str | Path | None = None, resume: bool = False, address: str | None = None) -> list[dict[str, Any]]:
    """Run every seed of ``cfg`` as a parallel Ray task; returns each trial's summary.

    The env is built and the run directory checked before Ray starts (module docstring)."""
    import ray

    import envs

    run = Path(run_dir or cfg.out_dir)
    envs.make_batched(cfg.env, cfg.env_config, 1)  # anything the world itself refuses, named now
    _check_run_dir(run, resume, cfg)
    init_ray(address)
    return ray.get(launch(cfg, run, resume=resume))
