"""``ethogram rollout``: record episodes of a policy into a trajectory dataset (resumable)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from experiments.commands._options import add_set

help = "record episodes of a policy (scripted:ROLES or checkpoint:PATH, optionally with scripted --seat agents) into a dataset directory"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--env",
        required=True,
        help="env id: cooking, cleanup or pettingzoo (versioned: cooking_v0...; pettingzoo:MODULE:CALLABLE is the adapter "
        "with that entry point, its other fields by --set)",
    )
    parser.add_argument("--layout", help="the env's layout (cooking: layout; cleanup: map)")
    add_set(parser, "an env config field, e.g. horizon=100 or random_start=true")
    parser.add_argument("--policy", required=True, help="scripted:ROLE[,ROLE...] or checkpoint:PATH")
    parser.add_argument("--episodes", type=int, required=True, help="episodes the dataset should hold")
    parser.add_argument("--out", required=True, help="dataset directory (created, or resumed when it holds the same recording)")
    parser.add_argument("--seed", type=int, default=0, help="base seed; episode content depends only on (seed, num-envs, episode index)")
    parser.add_argument("--num-envs", type=int, default=8, help="envs stepped together (a batch)")
    parser.add_argument("--batches-per-shard", type=int, default=None, help="batches per shard file (default: enough for 65,536 rows)")
    parser.add_argument("--condition", default="baseline", help="condition id written into every row")
    parser.add_argument(
        "--iteration",
        type=int,
        default=None,
        metavar="N",
        help="training iteration to tag the recording with (the manifest's policy.iteration; ethogram analyze tracks behaviour "
        "changes across iterations); default: a checkpoint's own iteration, -1 for scripted teams",
    )
    parser.add_argument(
        "--intervene",
        action="append",
        default=[],
        metavar="LINE",
        help="intervention on a checkpoint policy, repeatable: on its concept bottleneck, e.g. 'agent_1: teammates.position -> mask', "
        "or at a layer through --probes, e.g. 'all: teammates.position -> erase @layer=features' "
        "(grammar in envs/interventions.py; the study YAML uses the same lines)",
    )
    parser.add_argument(
        "--seat",
        action="append",
        default=[],
        metavar="AGENT=scripted:ROLE",
        help="play AGENT by the world's scripted ROLE beside a checkpoint policy, repeatable, e.g. agent_2=scripted:free_rider "
        "(a mixed team, marl/seats.py; the study YAML's seats are the same)",
    )
    parser.add_argument("--reference", nargs="+", metavar="DATASET", help="un-intervened recordings of the policy, for mean and shuffle")
    parser.add_argument(
        "--probes", metavar="DIR", help="probes fitted on the checkpoint (ethogram probe's output), for erase and steer lines at a layer"
    )
    parser.add_argument("--no-obs", action="store_true", help="do not store observations (concepts, events and actions only)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def env_config(env_id: str, layout: str | None, overrides: list[str]) -> dict[str, Any]:
    from envs import world_module
    from marl.config import parse_overrides

    config = parse_overrides(overrides)
    if layout is not None:
        fields = world_module(env_id).Config.__dataclass_fields__
        key = next((k for k in ("layout", "map") if k in fields), None)
        if key is None:
            raise ValueError(f"--layout: env {env_id!r} has no layout field; use --set")
        config[key] = layout
    return config


def seats_from_args(texts: list[str]) -> dict[str, str]:
    """``--seat AGENT=scripted:ROLE`` values as a seat spec (forms checked by ``marl.seats.parse_seat``)."""
    from marl.seats import SeatError, parse_seat

    seats: dict[str, str] = {}
    for text in texts:
        agent, sep, spec = (part.strip() for part in text.partition("="))
        if not sep:
            raise SeatError(f"--seat {text!r}: write AGENT=scripted:ROLE, e.g. agent_2=scripted:free_rider")
        if agent in seats:
            raise SeatError(f"--seat names {agent} twice")
        parse_seat(agent, spec)
        seats[agent] = spec
    return seats


def _policy(args: argparse.Namespace, config: dict[str, Any]) -> tuple[Any, Any]:
    """(policy, manifest entry): the spec string, or a checkpoint policy carrying the ``--seat`` and
    ``--intervene`` options; every seat and line is checked here, before anything is written."""
    if not args.intervene and not args.seat:
        return args.policy, None
    from pathlib import Path

    import envs
    from marl.loading import policy_manifest
    from marl.record import policy_info_for, resolve_policy
    from marl.seats import SeatError, check_seats, seat
    from marl.study import reference_pool

    seats = seats_from_args(args.seat)
    for flag, used in (("--intervene", args.intervene), ("--seat", seats)):
        if used and not args.policy.startswith("checkpoint:"):
            raise ValueError(f"{flag} needs a checkpoint:PATH policy, got {args.policy!r}")
    if seats:
        trained_in = policy_manifest(args.policy.partition(":")[2])["env_spec"]["env_id"]
        if trained_in != args.env:
            raise SeatError(
                f"--seat: {args.policy} is a {trained_in} policy, but --env is {args.env}; seats take roles of the policy's world"
            )
    env = envs.make_batched(args.env, config, args.num_envs)
    check_seats(seats, env.spec.env_id, env.spec.agents)
    policy = seat(resolve_policy(args.policy, env, args.seed), env, seats, seed=args.seed)
    reference = reference_pool([Path(p) for p in args.reference]) if args.reference else None
    policy.intervene(args.intervene, reference=reference, seed=args.seed, probes=args.probes)
    return policy, policy_info_for(args.policy, env, policy)


def _condition(args: argparse.Namespace) -> Any:
    """The manifest's condition: the id, with the intervention lines and the probe file they read."""
    from analysis.dataset import ConditionInfo
    from analysis.dataset.format import relative_checkpoint

    if not args.intervene:
        return args.condition
    probes = relative_checkpoint(args.probes, args.out) if args.probes and any("layer=" in line for line in args.intervene) else None
    return ConditionInfo(id=args.condition, spec=json.dumps(args.intervene), probes=probes)


def run(args: argparse.Namespace) -> int:
    from envs import resolve_env
    from marl.record import record

    config = env_config(resolve_env(args.env)[0], args.layout, args.overrides)
    args.env, config = resolve_env(args.env, config)  # the dataset records the canonical id (pettingzoo:M:F → pettingzoo)
    policy, info = _policy(args, config)
    result = record(
        args.env,
        config,
        policy,
        args.episodes,
        args.out,
        seed=args.seed,
        num_envs=args.num_envs,
        policy_info=info,
        condition=_condition(args),
        store_obs=not args.no_obs,
        progress=not args.no_progress,
        batches_per_shard=args.batches_per_shard,
        iteration=args.iteration,
    )
    seconds = result.env_seconds + result.write_seconds
    rate = result.agent_steps / seconds if seconds else 0.0
    print(
        f"{result.path}: {result.episodes} episodes ({result.recorded} recorded now, {result.skipped_shards} shards already there); "
        f"{result.agent_steps} agent-steps in {seconds:.1f}s ({rate:,.0f}/s; writing {result.write_seconds:.1f}s)"
    )
    return 0
