"""The stages of an experiment (run in order by ``experiments.pipeline``): each reads and writes the run directory.

``train`` returns ``{run: {seed: trial_dir}}``; the later stages take that map. Every stage returns
a short note for ``experiment.json`` ("skipped: ..." when it had nothing to do).

Rules for reruns: only complete checkpoints are used (``marl.loading.complete_checkpoints``: a run
killed while writing one leaves it half-written); an evaluation is redone when its checkpoint, its
episode count or its env config changed; the behaviour analysis reads exactly the datasets it
planned, each holding exactly the planned episodes (one that holds more is recorded again), and
lists them in ``behaviour/datasets.json`` for the report. Recordings store their checkpoint
relative to themselves (``marl.loading.checkpoint_info``), so a run directory moved or copied whole
resumes.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from experiments.config import ExperimentConfig, train_config

Trials = dict[str, dict[int, Path]]
Log = Callable[[str], Any]


def train(cfg: ExperimentConfig, base: Path, out: Path, address: str | None, log: Log) -> Trials:
    """Train (or resume) every run; all trials of all runs are Ray tasks sharing the cluster's CPUs.

    A run directory that already holds a run is resumed; every one is checked against its run's
    config first (``marl.train.check_resume``), before Ray starts or any run is launched."""
    import ray

    from marl.train import init_ray, launch

    configs = {spec.name: train_config(spec, base, out, cfg.defaults) for spec in cfg.runs}
    check_resumes(configs)
    init_ray(address)
    trials: Trials = {}
    pending = {}
    for spec in cfg.runs:
        tcfg = configs[spec.name]
        run_dir = Path(tcfg.out_dir)
        resume = (run_dir / "config.yaml").exists()
        log(f"{'resuming' if resume else 'training'} {spec.name}: {tcfg.policy}/{tcfg.sharing} on {tcfg.env} {tcfg.env_config}")
        pending.update(dict.fromkeys(launch(tcfg, run_dir, resume=resume), spec.name))
        trials[spec.name] = {int(s): run_dir / f"seed_{s}" for s in tcfg.seeds}
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        summary = ray.get(done[0])
        log(f"  {pending.pop(done[0])} seed {summary['seed']}: {summary['env_steps']:,} env steps in {summary['time_s']:.0f}s")
    return trials


def check_resumes(configs: dict[str, Any]) -> None:
    """Each run (name → its ``TrainConfig``) whose directory already holds a run will be resumed: raise
    ConfigError, naming the run, when that run was trained with another config (``marl.train.check_resume``)."""
    from envs.config import ConfigError
    from marl.train import check_resume

    for name, tcfg in configs.items():
        if (Path(tcfg.out_dir) / "config.yaml").exists():
            try:
                check_resume(Path(tcfg.out_dir), tcfg)
            except ConfigError as exc:
                raise ConfigError(f"run {name!r}: {exc}") from None


def _env_of(trial: Path) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(env id, evaluation env config, policy manifest) of a trial's latest policy."""
    from marl.loading import policy_manifest
    from marl.study import eval_config

    manifest = policy_manifest(trial)
    env = manifest["env_spec"]
    return env["env_id"], eval_config(env["config"]), manifest


def evaluate(cfg: ExperimentConfig, trials: Trials, out: Path, log: Log) -> str:
    """``eval.json`` per trial from held-out episodes of its final policy, and a GIF."""
    written = 0
    for run, seeds in trials.items():
        for seed, trial in seeds.items():
            env_id, env_config, manifest = _env_of(trial)
            target = trial / "eval.json"
            if _evaluated(target) == (manifest["iteration"], cfg.eval_episodes, env_config):
                continue
            data = out / "eval" / f"{run}_seed{seed}"
            shutil.rmtree(data, ignore_errors=True)  # episodes of an earlier checkpoint (or an interrupted evaluation) are stale
            result = _evaluate_trial(trial, env_id, env_config, manifest, cfg.eval_episodes, data)
            target.write_text(json.dumps(result, indent=2))
            log(
                f"{run} seed {seed}: team return {result['team_return_mean']:.1f} ± {result['team_return_std']:.1f}"
                + (f", binary concepts {result['concept_accuracy']['binary_acc']:.3f}" if result["concept_accuracy"] else "")
            )
            if cfg.gif:
                gif(trial, env_id, env_config, out / "media" / f"{run}_seed{seed}.gif", cfg.gif_max_frames)
            written += 1
    return f"{written} trial(s) evaluated" if written else "skipped: every trial already evaluated"


def _evaluated(target: Path) -> tuple[Any, Any, Any] | None:
    """(iteration, episodes, env config) of an existing eval.json (None when absent or unreadable)."""
    try:
        done = json.loads(target.read_text())
    except (OSError, ValueError):
        return None
    return (done.get("iteration"), done.get("episodes"), done.get("env_config")) if isinstance(done, dict) else None


def _record_checkpoint(ckpt: Path, env_id: str, env_config: dict, episodes: int, target: Path, **options: Any) -> None:
    """Record ``episodes`` episodes of a checkpoint into ``target``: resumed, or recorded afresh when
    it holds more (the analyses read whole datasets); the checkpoint is stored relative to ``target``."""
    import envs
    from analysis.dataset import DatasetError, open_dataset
    from marl.loading import checkpoint_info, load_policy
    from marl.record import record

    if target.exists():
        try:
            held = open_dataset(target).num_episodes
        except DatasetError:
            held = 0  # the writer says what is wrong with it, or repairs it
        if held > episodes:
            shutil.rmtree(target)
    policy = load_policy(ckpt, envs.make_batched(env_id, env_config, 1))
    record(env_id, env_config, policy, episodes, target, policy_info=checkpoint_info(ckpt, target, policy), progress=False, **options)


def _evaluate_trial(trial: Path, env_id: str, env_config: dict, manifest: dict, episodes: int, data: Path) -> dict[str, Any]:
    from analysis.dataset import load, open_dataset
    from marl.concept_loss import concept_accuracy

    seed = 10_000 + int(manifest["seed"])
    _record_checkpoint(trial, env_id, env_config, episodes, data, seed=seed, num_envs=min(episodes, 16), store_obs=False)
    predicted = open_dataset(data).manifest.predicted
    eps = load(data, fields=("rewards", "events", "concepts", *(("predicted",) if predicted else ())))
    returns = eps.returns()  # (E, N)
    team = eps.spec.team_return(returns)
    events = np.where(eps.mask[..., None, None], eps.events, 0).sum(axis=(1, 2)).mean(axis=0)  # (V,)
    accuracy = None
    if eps.predicted is not None:
        mode = manifest["model_config"]["bottleneck_mode"]
        acc = concept_accuracy(eps.predicted[eps.mask], eps.concepts[eps.mask], eps.spec.concepts, mode, eps.spec.grid)
        accuracy = {k: acc[k] for k in ("binary_acc", "categorical_acc", "regression_mse") if k in acc}
        accuracy["per_concept"] = per_concept(acc, eps.spec.concepts)
    return {
        "episodes": len(team),
        "team_return_mean": float(team.mean()),
        "team_return_std": float(team.std()),
        "return_per_agent": {a: float(returns[:, i].mean()) for i, a in enumerate(eps.spec.agents)},
        "events_per_episode": {e: float(v) for e, v in zip(eps.spec.event_names, events, strict=True)},
        "concept_accuracy": accuracy,
        "env_steps": int(manifest["env_steps"]),
        "iteration": int(manifest["iteration"]),
        "policy": manifest["policy"],
        "sharing": manifest["sharing"],
        "env_id": env_id,
        "env_config": env_config,
    }


def per_concept(acc: dict[str, float], concepts: Any) -> dict[str, dict[str, Any]]:
    """``concept_accuracy``'s per-concept figures as {name: {kind, accuracy [, balanced_accuracy] | mse [, error_cells]}}."""
    out = {}
    for spec in concepts.specs:
        entry: dict[str, Any] = {"kind": spec.kind.value}
        for key, field in (("acc", "accuracy"), ("balanced", "balanced_accuracy"), ("mse", "mse"), ("cells", "error_cells")):
            if f"{key}/{spec.name}" in acc:
                entry[field] = acc[f"{key}/{spec.name}"]
        out[spec.name] = entry
    return out


def gif(trial: Path, env_id: str, env_config: dict, path: Path, max_frames: int) -> Path:
    """One episode of a trial's final policy, rendered by the env, as a GIF (subsampled to ``max_frames``)."""
    import envs
    from envs.render import save_gif
    from marl.loading import load_policy

    env = envs.make_batched(env_id, env_config, 1)
    policy = load_policy(trial, env, seed=0)
    out = env.reset(seed=0)
    frames = [env.render_rgb(0)]
    while not out.done[0]:
        out = env.step(policy.act(env, out).actions)
        frames.append(env.render_rgb(0))
    return save_gif(evenly_spaced(frames, max_frames), path, fps=8)


def _cbp_subjects(trials: Trials, runs: list[str] | None = None, planted: list[dict] | None = None) -> list[dict[str, Any]]:
    """Every trial of the concept-bottleneck runs (``runs``: only these), and the planted variants of each.

    A planted variant (``{name, seats, seeds}``) seats scripted agents in a trial (``marl.seats``);
    ``seeds`` (default: all) names the trials that get it.
    """
    from marl.loading import policy_manifest

    subjects = []
    for run, seeds in trials.items():
        if runs is not None and run not in runs:
            continue
        for seed, trial in seeds.items():
            if policy_manifest(trial)["policy"] != "cbp":
                continue
            subjects.append({"name": f"{run}_seed{seed}", "checkpoint": str(trial)})
            subjects += [
                {"name": f"{run}_seed{seed}_{plant['name']}", "checkpoint": str(trial), "seats": dict(plant["seats"])}
                for plant in planted or []
                if seed in plant.get("seeds", seeds)
            ]
    return subjects


def study(cfg: ExperimentConfig, trials: Trials, out: Path, address: str | None, log: Log) -> str:
    """The intervention study on every concept-bottleneck trial (``marl.study``)."""
    from marl.study import run_study, study_from_dict

    if cfg.study is None:
        return "skipped: no study configured"
    fields = {k: v for k, v in cfg.study.items() if k not in ("runs", "planted")}
    subjects = _cbp_subjects(trials, cfg.study.get("runs"), cfg.study.get("planted"))
    if not subjects:
        return "skipped: no concept-bottleneck run to intervene on"
    study_cfg = study_from_dict({**fields, "name": cfg.name, "subjects": subjects})
    summary = run_study(study_cfg, out / "study", address=address, log=log)
    return f"{len(summary['subjects'])} subject(s)"


def behaviour(cfg: ExperimentConfig, trials: Trials, out: Path, log: Log) -> str:
    """Record episodes at successive checkpoints of one trial, then analyse them as ``ethogram analyze`` does."""
    from analysis.report.collect import BEHAVIOUR_DATASETS
    from analysis.roles import behaviour_roles
    from experiments.commands import analyze
    from marl.loading import complete_checkpoints, policy_manifest

    spec = cfg.behaviour
    if spec is None:
        return "skipped: no behaviour analysis configured"
    run = spec.run or next((r for r, s in trials.items() if policy_manifest(next(iter(s.values())))["policy"] == "cbp"), None)
    if run is None:
        return "skipped: no concept-bottleneck run"
    seed, trial = next(iter(trials[run].items()))
    checkpoints = evenly_spaced(complete_checkpoints(trial), spec.checkpoints)
    env_id, env_config, _ = _env_of(trial)
    base = out / "behaviour" / "datasets"
    datasets = []
    for ckpt in checkpoints:
        target = base / f"{run}_seed{seed}" / ckpt.name
        _record_checkpoint(ckpt, env_id, env_config, spec.episodes, target, seed=20_000 + seed, num_envs=spec.num_envs)
        datasets.append(str(target))
        log(f"recorded {spec.episodes} episodes at {ckpt.name}")
    listed = {"datasets": [Path(d).relative_to(base).as_posix() for d in datasets]}
    (out / "behaviour" / BEHAVIOUR_DATASETS).write_text(json.dumps(listed, indent=2))
    analyze.analyze(analyze.parse_args([*datasets, "--out", str(out / "behaviour" / "analysis"), *spec.analyze_args]), log)
    roles = behaviour_roles(datasets, out / "behaviour" / "analysis")
    if roles is not None:
        ari, nmi = roles["adjusted_rand_index"], roles["normalized_mutual_info"]
        log(f"agent-level behaviours vs roles {roles['roles']}: ARI {ari:.2f}, NMI {nmi:.2f}")
    return f"{len(checkpoints)} checkpoint(s) of {run} seed {seed}"


def report(out: Path, log: Log) -> str:
    """The report of the run directory (``analysis.report.write_report``, as ``ethogram report`` writes it)."""
    from analysis.report import write_report

    files = write_report(out)
    for problem in ([files.unfinished] if files.unfinished else []) + list(files.problems):
        log(f"report: warning: {problem}")
    return f"report {files.html}"


def evenly_spaced(items: list[Any], n: int) -> list[Any]:
    """``n`` items spread evenly over ``items``, the last one always included."""
    if n >= len(items):
        return list(items)
    picks = np.unique(np.linspace(0, len(items) - 1, n).round().astype(int))
    return [items[i] for i in picks]
