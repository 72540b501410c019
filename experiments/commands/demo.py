"""``ethogram demo``: two scripted planners cook for one episode; writes a GIF of it."""

from __future__ import annotations

import argparse
from pathlib import Path

help = "two scripted planners play one cooking episode (forced_coordination by default); writes a GIF"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="output directory; the GIF is OUT/LAYOUT.gif")
    parser.add_argument("--layout", default="forced_coordination", help="cooking layout (default: forced_coordination)")
    parser.add_argument("--steps", type=int, default=None, help="episode length (default: the config's horizon, 400)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the env and of the planners' random tie-breaks")
    parser.add_argument("--fps", type=int, default=8, help="GIF frames per second")


def run(args: argparse.Namespace) -> int:
    from envs.cooking import batched_env
    from envs.cooking.scripted import make_team
    from envs.render import save_gif

    config = {"layout": args.layout} if args.steps is None else {"layout": args.layout, "horizon": args.steps}
    env = batched_env(1, **config)
    team = make_team(["planner", "planner"], env.world, seed=args.seed)
    out = env.reset(seed=args.seed)
    delivered = env.spec.event_names.index("delivered")
    frames, soups = [env.render_rgb(0)], 0
    while not out.done[0]:
        out = env.step(team.act(env, out).actions)
        soups += int(out.events[0, :, delivered].sum())
        frames.append(env.render_rgb(0))
    path = save_gif(frames, Path(args.out) / f"{args.layout}.gif", fps=args.fps)
    print(f"wrote {path} ({len(frames) - 1} steps)")
    print(f"soups delivered: {soups} (team reward {soups * env.world.config.delivery_reward:g})")
    return 0
