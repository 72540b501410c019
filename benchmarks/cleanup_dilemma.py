"""The Cleanup dilemma with scripted populations: collective return over 1000 steps, as JSON.

Populations of scripted roles (``envs.cleanup.scripted``) play the classic 5-agent Cleanup. The
dilemma must show: five harvesters, who never clean, get nothing once the river is fouled (the
classic map starts fouled, so they get nothing at all), while two cleaners and three harvesters
keep apples growing. The ``clean start`` rows begin with a clean river (``waste_from_map=False``):
harvesters eat until the waste density reaches the depletion threshold, then starve; the
per-100-step returns show the collapse.

Usage: ``python benchmarks/cleanup_dilemma.py [--preset classic] [--seeds 3] [--envs 4] [--steps 1000]``
(``--preset concept_paper`` gives the scripted populations of the Clean Up study's world).
Each seed runs ``--envs`` episodes at once in one BatchedEnv; statistics are over all episodes.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

import envs
import envs.cleanup as cleanup
from envs.cleanup import Event
from envs.cleanup.scripted import population

MIXES = (
    ("5 harvesters", {}),
    ("2 cleaners + 3 harvesters", {}),
    ("5 harvesters", {"waste_from_map": False}),
    ("2 cleaners + 3 harvesters", {"waste_from_map": False}),
    ("1 cleaner + 4 harvesters", {}),
    ("3 cleaners + 2 harvesters", {}),
    ("5 cleaners", {}),
    ("2 cleaners + 3 free riders", {}),
    ("2 cleaners + 2 harvesters + 1 punisher", {}),
    ("cleaner + harvester + free rider + punisher + random", {}),
    ("5 random", {}),
)


def play(spec: str, config: dict, seed: int, num_envs: int, steps: int, preset: str = "classic") -> dict:
    """Run ``num_envs`` episodes of ``steps`` steps; per-episode collective returns and totals."""
    roles = population(spec)
    env = cleanup.batched_env(num_envs, preset=preset, num_agents=len(roles), horizon=steps, **config)
    team = envs.make_scripted(env, roles, seed=seed)
    out = env.reset(seed)
    team.reset(env, np.ones(num_envs, dtype=bool))
    returns = np.zeros(num_envs)
    windows = np.zeros((num_envs, -(-steps // 100)))
    totals = np.zeros(len(env.spec.events), dtype=np.int64)
    for t in range(steps):
        out = env.step(team.act(env, out).actions)
        collective = out.rewards.sum(axis=1)
        returns += collective
        windows[:, t // 100] += collective
        totals += out.events.sum(axis=(0, 1), dtype=np.int64)
    return {
        "returns": returns,
        "windows": windows,
        "apples_eaten": totals[Event.ATE_APPLE] / num_envs,
        "waste_cleaned": totals[Event.CLEANED] / num_envs,
        "penalty_hits": totals[Event.PENALTY_HITS] / num_envs,
        "final_waste_density": float(env.world.waste(env.state).mean()),
    }


def run(seeds: int, num_envs: int, steps: int, preset: str = "classic") -> dict:
    rows = []
    for spec, config in MIXES:
        started = time.perf_counter()
        runs = [play(spec, config, seed, num_envs, steps, preset) for seed in range(seeds)]
        returns = np.concatenate([r["returns"] for r in runs])
        windows = np.concatenate([r["windows"] for r in runs]).mean(axis=0)
        rows.append(
            {
                "population": spec,
                "start": "clean river" if config.get("waste_from_map") is False else "classic (river fouled)",
                "collective_return": {
                    "mean": round(float(returns.mean()), 1),
                    "std": round(float(returns.std()), 1),
                    "min": round(float(returns.min()), 1),
                    "max": round(float(returns.max()), 1),
                    "per_seed": [round(float(r["returns"].mean()), 1) for r in runs],
                },
                "per_100_steps": [round(float(x), 1) for x in windows],
                "apples_eaten": round(float(np.mean([r["apples_eaten"] for r in runs])), 1),
                "waste_cleaned": round(float(np.mean([r["waste_cleaned"] for r in runs])), 1),
                "penalty_hits": round(float(np.mean([r["penalty_hits"] for r in runs])), 1),
                "final_waste_density": round(float(np.mean([r["final_waste_density"] for r in runs])), 3),
                "seconds": round(time.perf_counter() - started, 2),
            }
        )
    by = {(r["population"], r["start"]): r["collective_return"]["mean"] for r in rows}
    classic = "classic (river fouled)"
    harvesters, cooperative = by[("5 harvesters", classic)], by[("2 cleaners + 3 harvesters", classic)]
    clean = next(r for r in rows if r["population"] == "5 harvesters" and r["start"] == "clean river")["per_100_steps"]
    return {
        "benchmark": "cleanup_dilemma",
        "env": f"cleanup {preset} preset (5 agents, map 'classic')",
        "steps_per_episode": steps,
        "seeds": seeds,
        "episodes_per_seed": num_envs,
        "mixes": rows,
        "dilemma": {
            "all_harvesters": harvesters,
            "two_cleaners_three_harvesters": cooperative,
            "all_harvesters_clean_start_first_100_vs_last_100": [clean[0], clean[-1]],
            "holds": bool(cooperative > harvesters and clean[-1] == 0.0 < clean[0]),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds (each one BatchedEnv)")
    parser.add_argument("--envs", type=int, default=4, help="episodes per seed, run at once")
    parser.add_argument("--steps", type=int, default=1000, help="steps per episode")
    parser.add_argument("--preset", default="classic", choices=tuple(cleanup.PRESETS), help="the world's constants")
    args = parser.parse_args()
    print(json.dumps(run(args.seeds, args.envs, args.steps, args.preset), indent=1))


if __name__ == "__main__":
    main()
