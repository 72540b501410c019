"""``ethogram study STUDY.yaml [--out DIR] [--set key=value ...] [--address ADDR] [--local]``."""

from __future__ import annotations

import argparse

from experiments.commands._options import add_address, add_set

help = "run a controlled intervention study (checkpoints × envs × conditions × seeds) and analyse its effects"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="study YAML (see experiments/study_coordination.yaml)")
    parser.add_argument("--out", help="output directory (default: runs/studies/<name>)")
    add_set(parser, "a study field, e.g. episodes=32")
    add_address(parser)
    parser.add_argument("--local", action="store_true", help="run the tasks one after another in this process, without Ray")


def run(args: argparse.Namespace) -> int:
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
