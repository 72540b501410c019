"""``ethogram quickstart [--out DIR] [--minutes M]``: the whole pipeline, small, on one machine (``make demo``)."""

from __future__ import annotations

import argparse

help = "train concept-bottleneck agents for a few minutes, study them, analyse their behaviour, write the report (make demo)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="runs/quickstart", help="run directory (rerunning resumes it)")
    parser.add_argument("--minutes", type=float, default=4.0, help="training time budget in minutes (default 4)")


def run(args: argparse.Namespace) -> int:
    import dataclasses
    from pathlib import Path

    from experiments.config import load_experiment
    from experiments.pipeline import run_experiment

    if args.minutes <= 0:
        raise ValueError(f"--minutes must be positive, got {args.minutes}")
    cfg, base = load_experiment(Path(__file__).resolve().parents[1] / "quickstart.yaml")
    runs = tuple(dataclasses.replace(r, set={**r.set, "max_time_s": args.minutes * 60}) for r in cfg.runs)
    cfg = dataclasses.replace(cfg, runs=runs)
    out = Path(args.out)
    run_experiment(cfg, base, out, kind="quickstart", command=f"ethogram quickstart --out {args.out} --minutes {args.minutes:g}")
    print(f"\nreport: {(out / 'report.html').resolve()}")
    return 0
