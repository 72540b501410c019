"""``ethogram experiment CONFIG.yaml [--out DIR] [--address ADDR]``: train → evaluate → study → behaviour → report."""

from __future__ import annotations

import argparse
import os
import shlex

help = "Run a whole experiment (training runs, evaluation, intervention study, behaviour analysis, report) into one run directory."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="experiment YAML (see experiments/cooking_coordination.yaml)")
    parser.add_argument("--out", help="run directory (default: runs/<name>); rerunning resumes it")
    parser.add_argument("--address", metavar="ADDR", help="join a running Ray cluster (default: start Ray here)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a field (dotted keys, YAML values), e.g. defaults.max_env_steps=2e6 or study.episodes=8",
    )
    parser.add_argument("--runs", nargs="+", metavar="RUN", help="run only these runs of the experiment")


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch is imported (REFERENCE §5)
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    from pathlib import Path

    from experiments.pipeline import load_experiment, run_experiment

    cfg, base = load_experiment(args.config, args.overrides, args.runs)
    out = Path(args.out or Path("runs") / cfg.name)
    words = ["ethogram", "experiment", args.config, "--out", str(out)]
    words += [w for item in args.overrides for w in ("--set", item)] + (["--runs", *args.runs] if args.runs else [])
    command = shlex.join(words + (["--address", args.address] if args.address else []))
    run_experiment(cfg, base, out, command=command, address=args.address)
    print(f"\nreport: {out / 'report.html'}")
    return 0
