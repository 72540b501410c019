"""``ethogram experiment CONFIG.yaml [--out DIR] [--address ADDR]``: train → evaluate → study → behaviour → report."""

from __future__ import annotations

import argparse
import shlex

from experiments.commands._options import add_address, add_set

help = "run a whole experiment (training, evaluation, intervention study, behaviour analysis, report) into one run directory"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="experiment YAML (see experiments/cooking_coordination.yaml)")
    parser.add_argument("--out", help="run directory (default: runs/<name>); rerunning resumes it")
    add_address(parser)
    add_set(parser, "an experiment field, e.g. defaults.max_env_steps=2e6 or study.episodes=8")
    parser.add_argument("--runs", nargs="+", metavar="RUN", help="run only these runs of the experiment")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from experiments.config import load_experiment
    from experiments.pipeline import run_experiment

    cfg, base = load_experiment(args.config, args.overrides, args.runs)
    out = Path(args.out or Path("runs") / cfg.name)
    words = ["ethogram", "experiment", args.config, "--out", str(out)]
    words += [w for item in args.overrides for w in ("--set", item)] + (["--runs", *args.runs] if args.runs else [])
    command = shlex.join(words + (["--address", args.address] if args.address else []))
    run_experiment(cfg, base, out, command=command, address=args.address)
    print(f"\nreport: {out / 'report.html'}")
    return 0
