"""Soups per 400-step episode of scripted cooking teams on every layout, as JSON.

The planner pair (``envs.cooking.scripted``) is the competence check of the cooking world: the
issue's target is >= 6 soups per episode on each classic layout, forced_coordination included
(where every ingredient and dish crosses the counter: the ``handovers`` column counts it).
``--roles`` adds other teams (e.g. ``ingredient,dish`` or ``planner,idle``) without targets.

Usage: ``python benchmarks/scripted_cooking.py [--episodes 8] [--seed 0] [--roles planner,idle]``.
All episodes of a layout run at once in one BatchedEnv.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from envs.cooking import CLASSIC_LAYOUTS, LAYOUTS, batched_env
from envs.cooking.scripted import make_team

TARGET = 6
"""Soups per episode the planner pair must reach on each classic layout."""


def run_team(layout: str, roles: list[str], episodes: int, seed: int, horizon: int) -> dict:
    env = batched_env(episodes, layout=layout, horizon=horizon)
    team = make_team(roles, env.world, seed=seed)
    names = env.spec.event_names
    out = env.reset(seed=seed)
    totals = np.zeros((episodes, len(names)), dtype=np.int64)
    start = time.perf_counter()
    while not out.done.all():
        out = env.step(team.act(env, out).actions)
        totals += out.events.sum(axis=1, dtype=np.int64)
    soups = totals[:, names.index("delivered")]
    return {
        "layout": layout,
        "roles": ",".join(roles),
        "soups_mean": round(float(soups.mean()), 2),
        "soups_min": int(soups.min()),
        "soups_max": int(soups.max()),
        "handovers_mean": round(float(totals[:, names.index("handed_over")].mean()), 2),
        "seconds": round(time.perf_counter() - start, 2),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--episodes", type=int, default=8, help="episodes per layout (run as one batch)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--horizon", type=int, default=400)
    parser.add_argument("--roles", action="append", default=[], help="extra team ROLE,ROLE (repeatable)")
    args = parser.parse_args(argv)
    rows = []
    for roles in ["planner,planner", *args.roles]:
        for layout in LAYOUTS:
            row = run_team(layout, roles.split(","), args.episodes, args.seed, args.horizon)
            if roles == "planner,planner" and layout in CLASSIC_LAYOUTS:
                row["target"] = TARGET
                row["meets_target"] = row["soups_min"] >= TARGET
            rows.append(row)
    report = {
        "benchmark": "scripted_cooking",
        "what": f"soups delivered per {args.horizon}-step episode ({args.episodes} episodes per layout, seed {args.seed})",
        "results": rows,
    }
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
