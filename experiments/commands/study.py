"""``ethogram study STUDY.yaml [--out DIR] [--set key=value ...] [--address ADDR] [--local]``."""

from __future__ import annotations

import argparse
import os

help = "Run a controlled intervention study (checkpoints × envs × conditions × seeds) and analyse its effects."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="study YAML (see experiments/cooking_coordination.yaml)")
    parser.add_argument("--out", help="output directory (default: runs/studies/<name>)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a top-level study field (YAML values), e.g. episodes=32",
    )
    parser.add_argument("--address", metavar="ADDR", help="join a running Ray cluster (default: start Ray here)")
    parser.add_argument("--local", action="store_true", help="run the tasks one after another in this process, without Ray")


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch is imported (REFERENCE §5)
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    from pathlib import Path

    from marl.config import parse_overrides
    from marl.study import load_study, run_study

    cfg = load_study(args.config, parse_overrides(args.overrides))
    out = Path(args.out or Path("runs") / "studies" / cfg.name)
    summary = run_study(cfg, out, use_ray=not args.local, address=args.address)
    for subject in summary["subjects"]:
        print(f"\n{subject['subject']}: control team return {subject['control_team_return']:.1f} over {subject['episodes']} episodes")
        for finding in subject["findings"]:
            print(f"  - {finding['statement']}")
    print(f"\nstudy written to {out} (summary.json, effects.csv, findings.md, analysis/<subject>/)")
    return 0
