"""Env steps per second of every world's two faces, with observations and concepts every step.

Random actions (drawn before timing). The PettingZoo face steps one env through its dict API,
resetting when an episode ends; the batched core steps K envs with auto-reset and counts K env
steps per call. Each case runs ``--repeats`` times for about ``--seconds`` each; the median is
reported, with the best and worst, and the CPU-time rate (less sensitive to a busy machine).

Targets (issue 2) and anchors measured on a 2-core CPU (docs/literature.md, 'Measured speeds'):
cooking's PettingZoo face >= 25,000 (overcooked-ai with its lossless observation: 7,842), its
batched core >= 1,000,000 at K = 1024 (JaxMARL Overcooked on CPU: 3,266 / 598,877 / 647,160 at
K = 1 / 64 / 1024).
Worlds that do not import (another one still being built, or mpe2 not installed) are reported as skipped.
``pettingzoo`` is the adapter running the MPE simple_spread example (``experiments/mpe_spread.py``'s
``ENV_CONFIG``; ``pip install -e ".[mpe]"``).

Usage: ``python benchmarks/env_throughput.py [--seconds 1.0] [--repeats 3] [--env cooking|cleanup|pettingzoo]``;
prints one JSON document.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np

from experiments.mpe_spread import ENV_CONFIG as MPE_SPREAD

CASES = {
    "cooking": {
        "config": {"layout": "cramped_room"},
        "parallel": {"target": 25_000, "anchor": 7_842},
        "batched": {1: {"anchor": 3_266}, 64: {"anchor": 598_877}, 1024: {"target": 1_000_000, "anchor": 647_160}},
    },
    "cleanup": {
        "config": {},
        "parallel": {},
        "batched": {1: {}, 256: {}},
    },
    "pettingzoo": {
        "config": MPE_SPREAD,
        "requires": "mpe2",
        "parallel": {},
        "batched": {16: {}},
    },
}
"""Per env id: its config, and the faces / batch sizes to time (with targets and anchors)."""


def _rate(run: Callable[[int], int], seconds: float, repeats: int) -> dict[str, float]:
    """Calibrate a step count for ``seconds``, then time ``repeats`` runs (wall and CPU)."""
    steps, elapsed = 1, 0.0
    while elapsed < 0.05 * seconds:
        steps *= 4
        start = time.perf_counter()
        run(steps)
        elapsed = time.perf_counter() - start
    steps = max(1, int(steps * seconds / elapsed))
    wall, cpu = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        count = run(steps)
        wall.append(count / (time.perf_counter() - w))
        cpu.append(count / max(time.process_time() - c, 1e-9))
    return {
        "steps_per_s": round(statistics.median(wall)),
        "best": round(max(wall)),
        "worst": round(min(wall)),
        "cpu_steps_per_s": round(statistics.median(cpu)),
    }


def parallel_case(module, config: dict, seconds: float, repeats: int) -> dict[str, float]:
    env = module.parallel_env(**config)
    env.reset(seed=0)
    agents = list(env.possible_agents)
    n_actions = env.action_space(agents[0]).n
    actions = np.random.default_rng(0).integers(0, n_actions, (4096, len(agents))).tolist()
    dicts = [dict(zip(agents, row, strict=True)) for row in actions]

    def run(steps: int) -> int:
        for t in range(steps):
            if not env.agents:
                env.reset()
            env.step(dicts[t & 4095])
        return steps

    return _rate(run, seconds, repeats)


def batched_case(module, config: dict, num_envs: int, seconds: float, repeats: int) -> dict[str, float]:
    env = module.batched_env(num_envs=num_envs, auto_reset=True, **config)
    env.reset(seed=0)
    blocks = np.random.default_rng(0).integers(0, env.num_actions, (16, num_envs, env.num_agents))

    def run(steps: int) -> int:
        for t in range(steps):
            env.step(blocks[t & 15])
        return steps * num_envs

    return _rate(run, seconds, repeats)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="approximate seconds per timed run")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per case (median reported)")
    parser.add_argument("--env", action="append", choices=sorted(CASES), help="only these env ids (repeatable)")
    args = parser.parse_args(argv)
    results, skipped = [], {}
    for env_id in args.env or list(CASES):
        case = CASES[env_id]
        try:
            module = importlib.import_module(f"envs.{env_id}")
            if "requires" in case:
                importlib.import_module(case["requires"])
        except ImportError as exc:
            skipped[env_id] = f"envs.{env_id} or what it runs does not import: {exc}"
            continue
        if "parallel" in case:
            row = {"env": env_id, "face": "pettingzoo", "num_envs": 1, **case["parallel"]}
            row.update(parallel_case(module, case["config"], args.seconds, args.repeats))
            results.append(row)
        for num_envs, extra in case["batched"].items():
            row = {"env": env_id, "face": "batched", "num_envs": num_envs, **extra}
            row.update(batched_case(module, case["config"], num_envs, args.seconds, args.repeats))
            results.append(row)
    for row in results:
        if "target" in row:
            row["meets_target"] = row["steps_per_s"] >= row["target"]
    report = {
        "benchmark": "env_throughput",
        "what": "env steps per second (K envs x calls), random actions, observations and concepts every step",
        "machine": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "cpus": os.cpu_count(),
            "processor": platform.processor(),
        },
        "configs": {env_id: CASES[env_id]["config"] for env_id in CASES},
        "results": results,
        "skipped": skipped,
    }
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
