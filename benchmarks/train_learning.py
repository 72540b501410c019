"""Learning on cramped_room: bottleneck vs baseline agents at the same budget; prints JSON, draws a PNG.

Trains ``experiments/train_cramped_room.yaml`` twice in parallel (one Ray task each, 1 learner
thread each on a 2-core machine): ``policy=cbp`` and ``policy=baseline``, same seed, to
``--steps`` env steps (5e6), then evaluates both final checkpoints on held-out rollouts (other
seeds, shaping off, sampled actions): the team's delivery return per episode (Carroll et al.'s
measure; 20 per soup) and, for the bottleneck, the binary / categorical concept accuracy and the
position / scalar MSE of its predictions against ground truth.

Targets (issue 5): bottleneck return ≥ 199 within 5e6 env steps (wall-clock recorded: the first
training iteration whose 5-iteration mean delivery return reaches 199); bottleneck return ≥ 95% of
the baseline's; binary and categorical concept accuracy ≥ 95%. Curves: ``docs/learning_cramped_room.png``.

Usage: ``python benchmarks/train_learning.py [--steps 5000000] [--runs runs/learning] [--eval-only]``.
An interrupted run resumes from its checkpoints when started again with the same ``--runs``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

TARGET_RETURN, TARGET_RATIO, TARGET_ACC = 199.0, 0.95, 0.95
DELIVERY = 20.0


def curve(trial: Path) -> dict[str, np.ndarray]:
    with (trial / "progress.csv").open() as f:
        rows = list(csv.DictReader(f))

    def col(name: str) -> np.ndarray:
        return np.array([float(r[name]) if r.get(name, "") != "" else np.nan for r in rows])

    out = {k: col(k) for k in ("env_steps", "time_s", "return_mean", "shaping_weight")}
    out["delivery_return"] = DELIVERY * col("events/delivered")  # events per episode summed over agents = team deliveries
    for kind in ("binary_acc", "categorical_acc"):
        cols = [c for c in rows[0] if c.endswith("/" + kind)] if rows else []
        out[kind] = np.nanmean(np.stack([col(c) for c in cols]), 0) if cols else np.full(len(rows), np.nan)
    return out


def reached(c: dict[str, np.ndarray], target: float, window: int = 5) -> dict[str, float] | None:
    r = c["delivery_return"]
    for i in range(len(r)):
        if np.nanmean(r[max(0, i - window + 1) : i + 1]) >= target:
            return {"env_steps": int(c["env_steps"][i]), "wall_clock_s": round(float(c["time_s"][i]), 1)}
    return None


def evaluate(trial: Path, episodes: int, seed: int = 10_000) -> dict[str, float]:
    """Held-out rollouts of the trial's latest checkpoint (shaping off, sampled actions)."""
    import envs
    from marl.concept_loss import concept_accuracy
    from marl.loading import load_policy

    k = min(episodes, 32)
    returns, preds, gts = [], [], []
    for b in range(max(1, episodes // k)):
        env = envs.make_batched("cooking", {"layout": "cramped_room"}, k)
        pol = load_policy(trial, env, seed=seed + b)
        out, total = env.reset(seed=seed + b), np.zeros((k, 2))
        for t in range(env.horizon):
            act = pol.act(env, out)
            if act.concepts is not None and t % 10 == 0:  # every 10th step of every episode
                preds.append(act.concepts)
                gts.append(out.concepts)
            out = env.step(act.actions)
            total += out.rewards
        returns.append(total.mean(1))
    r = np.concatenate(returns)
    result = {"episodes": int(r.size), "return_mean": round(float(r.mean()), 2), "return_std": round(float(r.std()), 2)}
    if preds:
        acc = concept_accuracy(np.stack(preds), np.stack(gts), env.spec.concepts, pol.mode)
        result.update({k: round(v, 4) for k, v in acc.items() if "/" not in k})
        result["per_concept"] = {k: round(v, 4) for k, v in acc.items() if "/" in k}
    return result


def plot(curves: dict[str, dict[str, np.ndarray]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    for name, c in curves.items():
        ax1.plot(c["env_steps"] / 1e6, c["delivery_return"], label=name, lw=1)
    ax1.axhline(TARGET_RETURN, color="grey", ls="--", lw=0.8, label="199 (Carroll et al. PPO)")
    ax1.set(xlabel="env steps (millions)", ylabel="delivery return / episode", title="cramped_room")
    ax1.legend(fontsize=8)
    c = curves["cbp"]
    ax2.plot(c["env_steps"] / 1e6, c["binary_acc"], label="binary")
    ax2.plot(c["env_steps"] / 1e6, c["categorical_acc"], label="categorical")
    ax2.axhline(TARGET_ACC, color="grey", ls="--", lw=0.8)
    ax2.set(xlabel="env steps (millions)", ylabel="training-batch accuracy", title="bottleneck concepts", ylim=(0.4, 1.0))
    ax2.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5_000_000)
    parser.add_argument("--seed", type=int, default=0, help="training seed of both runs")
    parser.add_argument("--runs", default="runs/learning", help="run directories go here (resumed when present)")
    parser.add_argument("--config", default=str(ROOT / "experiments" / "train_cramped_room.yaml"))
    parser.add_argument("--eval-episodes", type=int, default=64)
    parser.add_argument("--eval-only", action="store_true", help="skip training; evaluate the runs as they are")
    parser.add_argument("--png", default=str(ROOT / "docs" / "learning_cramped_room.png"))
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args(argv)

    from marl.config import load_config

    runs = {name: Path(args.runs) / name for name in ("cbp", "baseline")}
    t0 = time.time()
    if not args.eval_only:
        import ray

        from marl.train import init_ray, launch

        init_ray()
        refs = []
        for name, run in runs.items():
            sets = [f"policy={name}", f"max_env_steps={args.steps}", f"out_dir={run}", "ppo.learner_threads=1", f"seeds=[{args.seed}]"]
            sets.append("ppo.lr_anneal_steps=5000000")  # the 5e6 schedule even for a shorter --steps
            refs += launch(load_config(args.config, sets), run, resume=(run / "config.yaml").exists())
        ray.get(refs)
        ray.shutdown()
    trial = f"seed_{args.seed}"
    curves = {name: curve(run / trial) for name, run in runs.items()}
    evals = {name: evaluate(run / trial, args.eval_episodes) for name, run in runs.items()}
    plot(curves, Path(args.png))
    cbp, base = evals["cbp"], evals["baseline"]
    ratio = cbp["return_mean"] / base["return_mean"] if base["return_mean"] > 0 else float("nan")
    result = {
        "benchmark": "train_learning",
        "env": "cooking/cramped_room",
        "config": str(Path(args.config).relative_to(ROOT)) if Path(args.config).is_relative_to(ROOT) else args.config,
        "seed": args.seed,
        "env_steps": {n: int(c["env_steps"][-1]) for n, c in curves.items()},
        "train_wall_clock_s": {n: round(float(c["time_s"][-1]), 1) for n, c in curves.items()},
        "reached_199": {n: reached(c, TARGET_RETURN) for n, c in curves.items()},
        "held_out": evals,
        "cbp_over_baseline": round(ratio, 3),
        "targets": {"return": TARGET_RETURN, "ratio": TARGET_RATIO, "concept_acc": TARGET_ACC},
        "met": {
            "return": cbp["return_mean"] >= TARGET_RETURN,
            "ratio": bool(ratio >= TARGET_RATIO),
            "binary_acc": cbp.get("binary_acc", 0) >= TARGET_ACC,
            "categorical_acc": cbp.get("categorical_acc", 0) >= TARGET_ACC,
        },
        "png": args.png,
        "script_wall_clock_s": round(time.time() - t0, 1),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
