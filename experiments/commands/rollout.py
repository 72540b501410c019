"""``ethogram rollout``: record episodes of a policy into a trajectory dataset (resumable)."""

from __future__ import annotations

import argparse
import json
from typing import Any

help = "record episodes of a policy (scripted:ROLES or checkpoint:PATH) into a dataset directory"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", required=True, help="env id: cooking or cleanup")
    parser.add_argument("--layout", help="the env's layout (cooking: layout; cleanup: map)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="env config field (JSON value or text); repeatable",
    )
    parser.add_argument("--policy", required=True, help="scripted:ROLE[,ROLE...] or checkpoint:PATH")
    parser.add_argument("--episodes", type=int, required=True, help="episodes the dataset should hold")
    parser.add_argument("--out", required=True, help="dataset directory (created, or resumed when it holds the same recording)")
    parser.add_argument("--seed", type=int, default=0, help="base seed; episode content depends only on (seed, num-envs, episode index)")
    parser.add_argument("--num-envs", type=int, default=8, help="envs stepped together (a batch)")
    parser.add_argument("--batches-per-shard", type=int, default=None, help="batches per shard file (default: enough for 65,536 rows)")
    parser.add_argument("--condition", default="baseline", help="condition id written into every row")
    parser.add_argument("--no-obs", action="store_true", help="do not store observations (concepts, events and actions only)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["a=1", "b.c=x"]`` → ``{"a": 1, "b": {"c": "x"}}``; values are JSON where they parse, text otherwise."""
    config: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        node = config
        *parents, leaf = key.strip().split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return config


def env_config(env_id: str, layout: str | None, overrides: list[str]) -> dict[str, Any]:
    from envs import world_module

    config = parse_overrides(overrides)
    if layout is not None:
        fields = world_module(env_id).Config.__dataclass_fields__
        key = next((k for k in ("layout", "map") if k in fields), None)
        if key is None:
            raise ValueError(f"--layout: env {env_id!r} has no layout field; use --set")
        config[key] = layout
    return config


def run(args: argparse.Namespace) -> int:
    from marl.record import record

    config = env_config(args.env, args.layout, args.overrides)
    result = record(
        args.env,
        config,
        args.policy,
        args.episodes,
        args.out,
        seed=args.seed,
        num_envs=args.num_envs,
        condition=args.condition,
        store_obs=not args.no_obs,
        progress=not args.no_progress,
        batches_per_shard=args.batches_per_shard,
    )
    seconds = result.env_seconds + result.write_seconds
    rate = result.agent_steps / seconds if seconds else 0.0
    print(
        f"{result.path}: {result.episodes} episodes ({result.recorded} recorded now, {result.skipped_shards} shards already there); "
        f"{result.agent_steps} agent-steps in {seconds:.1f}s ({rate:,.0f}/s; writing {result.write_seconds:.1f}s)"
    )
    return 0
