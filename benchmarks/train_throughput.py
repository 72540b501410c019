"""Whole-iteration training throughput: cooking's fast path vs RLlib's default path, or Cleanup vs cooking; prints JSON.

Both paths train the same concept-bottleneck modules (independent per agent unless ``--sharing``)
with the same learner (PPO + concept loss) and the settings of ``experiments/train_cramped_room.yaml``
(the configuration whose learning ``train_learning.py`` measures); only the sampler differs:
- ``fast``: ``marl.sampling.BatchedEnvRunner`` (K envs × N agents per module call, numpy GAE);
- ``rllib``: RLlib's ``MultiAgentEnvRunner`` over the PettingZoo facade (``ParallelPettingZooEnv``),
  with RLlib's default of one env per runner (the target's reference) and with 8 vectorised envs.
A whole iteration = sampling + learner update + weight sync, as ``Algorithm.train()`` runs it.
Figures: env steps per second over ``--iters`` iterations after one warm-up iteration.
Targets (issue 5): fast ≥ 10,000 env steps/s on 2 cores and ≥ 10× the default path.

``--env cleanup`` instead measures the Clean Up study's training config (``experiments/train_cleanup.yaml``,
5 agents, one shared module) beside cooking's fast path in the same run, in agent-steps per second
(env steps x agents) as well: absolute speeds differ between machines, the ratio is the figure.
Target (issue 12): Cleanup's agent-steps/s ≥ 1.3x cooking's (≥ 5,000 env steps/s where cooking
trains at ~9,000).

Usage: ``python benchmarks/train_throughput.py [--env cooking|cleanup] [--iters 5] [--learner-threads 2] [--out FILE]``.
Run it on a quiet machine: other processes on the two cores distort every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CONFIG = Path(__file__).resolve().parents[1] / "experiments" / "train_cramped_room.yaml"
"""The configuration whose learning ``benchmarks/train_learning.py`` measures."""
CLEANUP_CONFIG = CONFIG.with_name("train_cleanup.yaml")
"""The Clean Up study's training configuration (``experiments/cleanup_social.yaml`` trains with it)."""
TARGET_STEPS_PER_S = 10_000
TARGET_RATIO = 10.0
TARGET_CLEANUP_RATIO = 1.3
"""Cleanup agent-steps/s over cooking's, measured in the same run."""


def measure(overrides: list[str], iters: int, config: Path = CONFIG) -> dict:
    """Build the algorithm, run 1 warm-up + ``iters`` timed iterations; env steps/s and the split."""
    from marl.algorithm import build_algorithm_config, env_spec
    from marl.config import load_config

    cfg = load_config(config, overrides)
    algo = build_algorithm_config(cfg, 0).build_algo()
    agents = env_spec(cfg).num_agents
    try:
        algo.train()
        steps0, t0 = algo.env_steps, time.perf_counter()
        sample_s = learn_s = 0.0
        for _ in range(iters):
            eth = algo.train().get("ethogram", {})
            sample_s += float(eth.get("sample_s", 0.0))
            learn_s += float(eth.get("learn_s", 0.0))
        seconds = time.perf_counter() - t0
        steps = algo.env_steps - steps0
    finally:
        algo.stop()
    out = {
        "env_steps": int(steps),
        "seconds": round(seconds, 3),
        "env_steps_per_s": round(steps / seconds, 1),
        "agent_steps_per_s": round(steps * agents / seconds, 1),
    }
    if sample_s:
        out.update(sample_s=round(sample_s, 3), learn_s=round(learn_s, 3))
    return out


def cleanup_vs_cooking(args: argparse.Namespace) -> dict:
    """Cleanup's study config (its own sharing: one shared module) and cooking's fast path, one after the other."""
    common = [f"policy={args.policy}", f"ppo.learner_threads={args.learner_threads}", "max_env_steps=100000000"]
    cooking = measure([*common, f"sharing={args.sharing}"], args.iters)
    cleanup = measure(common, args.iters, CLEANUP_CONFIG)
    ratio = cleanup["agent_steps_per_s"] / max(cooking["agent_steps_per_s"], 1e-9)
    return {
        "cleanup": {**cleanup, "config": "experiments/train_cleanup.yaml"},
        "cooking": {**cooking, "config": "experiments/train_cramped_room.yaml (fast path)"},
        "agent_steps_ratio": round(ratio, 2),
        "targets": {"agent_steps_ratio": TARGET_CLEANUP_RATIO},
        "met": ratio >= TARGET_CLEANUP_RATIO,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="cooking", choices=("cooking", "cleanup"), help="cleanup: the Clean Up study vs cooking")
    parser.add_argument("--iters", type=int, default=5, help="timed iterations of the fast path")
    parser.add_argument("--rllib-iters", type=int, default=2, help="timed iterations of the default path")
    parser.add_argument("--learner-threads", type=int, default=1, help="torch threads of the learner update")
    parser.add_argument("--sharing", default="independent", choices=("independent", "shared"))
    parser.add_argument("--policy", default="cbp", choices=("cbp", "baseline"))
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args(argv)

    import ray
    import torch

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}})
    common = [
        f"policy={args.policy}",
        f"sharing={args.sharing}",
        f"ppo.learner_threads={args.learner_threads}",
        "max_env_steps=100000000",
    ]
    machine = {"cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__, "ray": ray.__version__}
    if args.env == "cleanup":
        try:
            result = {"benchmark": "train_throughput", "env": "cleanup vs cooking", "machine": machine, **cleanup_vs_cooking(args)}
        finally:
            ray.shutdown()
        return emit(result, args.out)
    try:
        fast = measure(
            [
                *common,
                "sampling.sampler=fast",
                "sampling.num_envs_per_runner=32",
                "sampling.rollout_length=400",
            ],
            args.iters,
        )
        rllib_args = [*common, "env_config.shaping=false", "sampling.sampler=rllib"]  # shaping annealing is fast-path only
        rllib = measure([*rllib_args, "sampling.num_envs_per_runner=1", "sampling.rollout_length=1000"], args.rllib_iters)
        rllib_vec = measure([*rllib_args, "sampling.num_envs_per_runner=8", "sampling.rollout_length=200"], args.rllib_iters)
    finally:
        ray.shutdown()
    ratio = fast["env_steps_per_s"] / max(rllib["env_steps_per_s"], 1e-9)
    result = {
        "benchmark": "train_throughput",
        "env": "cooking/cramped_room",
        "policy": args.policy,
        "sharing": args.sharing,
        "learner_threads": args.learner_threads,
        "machine": machine,
        "fast": {**fast, "batch": "32 envs x 400 steps, 4 epochs x 8 minibatches (experiments/train_cramped_room.yaml)"},
        "rllib_default": {**rllib, "batch": "1 env (RLlib's default) x 1000 steps, 4 epochs x 8 minibatches"},
        "rllib_vectorised": {**rllib_vec, "batch": "8 envs x 200 steps, 4 epochs x 8 minibatches"},
        "speedup": round(ratio, 1),
        "speedup_vs_vectorised": round(fast["env_steps_per_s"] / max(rllib_vec["env_steps_per_s"], 1e-9), 1),
        "targets": {"env_steps_per_s": TARGET_STEPS_PER_S, "speedup": TARGET_RATIO},
        "gap": {
            "env_steps_per_s": round(fast["env_steps_per_s"] - TARGET_STEPS_PER_S, 1),
            "speedup": round(ratio - TARGET_RATIO, 1),
        },
        "met": fast["env_steps_per_s"] >= TARGET_STEPS_PER_S and ratio >= TARGET_RATIO,
    }
    return emit(result, args.out)


def emit(result: dict, out: str | None) -> int:
    """Print the result as JSON, and write it to ``out`` when given; the benchmarks' exit code 0."""
    text = json.dumps(result, indent=2)
    print(text)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
