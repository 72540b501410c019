"""Soups per 400-step episode of scripted cooking teams, and what each agent did, as JSON.

The planner pair (``envs.cooking.scripted``) is the competence check of the cooking world: the
issue's target is >= 6 soups per episode on each classic layout, forced_coordination included
(where every ingredient and dish crosses the counter: the ``handovers`` column counts it).
``--roles`` adds other teams (e.g. ``ingredient,dish`` or ``planner,idle``) on every layout, without
targets. ``--pairs`` adds the role table: every ordered pair of planner / ingredient / dish / idle
(idle,idle left out) on the classic layouts and the two coordination kitchens, with each agent's
mean event counts per episode and ``last_event`` (mean step of its last item event: a role that
stalls early shows a small one). ``--random-start`` and ``--epsilon`` run the same with random
start cells (``Config.random_start``) and exploration noise (``make_team(epsilon=...)``).

Usage: ``python benchmarks/scripted_cooking.py [--episodes 8] [--seed 0] [--roles planner,idle]
[--pairs] [--random-start] [--epsilon 0.05]``. All episodes of a layout run at once in one BatchedEnv.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time

import numpy as np

from envs.cooking import CLASSIC_LAYOUTS, LAYOUTS, batched_env
from envs.cooking.scripted import make_team

TARGET = 6
"""Soups per episode the planner pair must reach on each classic layout."""

PAIR_LAYOUTS = (*CLASSIC_LAYOUTS, "coordination_required", "coordination_optional")
"""Layouts of the role table."""

PAIR_ROLES = ("planner", "ingredient", "dish", "idle")
"""Roles of the role table (``random`` has no job to check)."""

AGENT_EVENTS = (
    "picked_onion",
    "put_onion_in_pot",
    "picked_dish",
    "picked_soup",
    "delivered",
    "placed_on_counter",
    "took_from_counter",
    "handed_over",
)
"""Per-agent event columns of the role table; all but ``handed_over`` count as item events for ``last_event``."""


def run_team(
    layout: str, roles: list[str], episodes: int, seed: int, horizon: int, random_start: bool = False, epsilon: float = 0.0
) -> dict:
    env = batched_env(episodes, layout=layout, horizon=horizon, random_start=random_start)
    team = make_team(roles, env.world, seed=seed, epsilon=epsilon)
    names = env.spec.event_names
    item_events = [names.index(n) for n in AGENT_EVENTS[:-1]]
    out = env.reset(seed=seed)
    totals = np.zeros((episodes, 2, len(names)), dtype=np.int64)  # (episodes, agents, events)
    last = np.zeros((episodes, 2), dtype=np.int64)  # step of each agent's last item event
    start = time.perf_counter()
    while not out.done.all():
        out = env.step(team.act(env, out).actions)
        totals += out.events
        last = np.where(out.events[:, :, item_events].any(axis=2), out.t[:, None], last)
    seconds = time.perf_counter() - start
    soups = totals[:, :, names.index("delivered")].sum(axis=1)
    agents = {
        f"agent_{i}": {
            **{name: round(float(totals[:, i, names.index(name)].mean()), 2) for name in AGENT_EVENTS},
            "last_event": round(float(last[:, i].mean()), 1),
        }
        for i in range(2)
    }
    return {
        "layout": layout,
        "roles": ",".join(roles),
        "soups_mean": round(float(soups.mean()), 2),
        "soups_min": int(soups.min()),
        "soups_max": int(soups.max()),
        "handovers_mean": round(float(totals[:, :, names.index("handed_over")].sum(axis=1).mean()), 2),
        "agents": agents,
        "seconds": round(seconds, 2),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--episodes", type=int, default=8, help="episodes per layout (run as one batch)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--horizon", type=int, default=400)
    parser.add_argument("--roles", action="append", default=[], help="extra team ROLE,ROLE on every layout (repeatable)")
    parser.add_argument("--pairs", action="store_true", help="add the role table (every non-random ordered pair)")
    parser.add_argument("--random-start", action="store_true", help="random start cells (Config.random_start)")
    parser.add_argument("--epsilon", type=float, default=0.0, help="exploration noise of every scripted agent")
    args = parser.parse_args(argv)
    options = {"random_start": args.random_start, "epsilon": args.epsilon}
    rows = []
    for roles in ["planner,planner", *args.roles]:
        for layout in LAYOUTS:
            row = run_team(layout, roles.split(","), args.episodes, args.seed, args.horizon, **options)
            if roles == "planner,planner" and layout in CLASSIC_LAYOUTS:
                row["target"] = TARGET
                row["meets_target"] = row["soups_min"] >= TARGET
            rows.append(row)
    pairs = [roles for roles in itertools.product(PAIR_ROLES, repeat=2) if roles != ("idle", "idle")] if args.pairs else []
    table = [run_team(layout, list(roles), args.episodes, args.seed, args.horizon, **options) for layout in PAIR_LAYOUTS for roles in pairs]
    report = {
        "benchmark": "scripted_cooking",
        "what": f"soups delivered per {args.horizon}-step episode ({args.episodes} episodes per layout, seed {args.seed})",
        "options": options,
        "results": rows,
        "pairs": table,
    }
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
