"""``ethogram data``: inspect trajectory datasets (``ethogram data info DIR``)."""

from __future__ import annotations

import argparse
import json

help = "inspect trajectory datasets: `data info DIR` validates and summarises one"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", required=True, metavar="SUBCOMMAND")
    info = sub.add_parser("info", help="validate a dataset and print episodes, agents, returns, concept and event rates, conditions")
    info.add_argument("path", nargs="+", help="dataset directory (several: one summary each)")
    info.add_argument("--json", action="store_true", help="print JSON instead of text")


def run(args: argparse.Namespace) -> int:
    from analysis.dataset import open_dataset
    from analysis.dataset.summary import format_summary, summarize

    summaries = [summarize(open_dataset(p)) for p in args.path]
    if args.json:
        print(json.dumps(summaries[0] if len(summaries) == 1 else summaries, indent=2))
    else:
        print("\n\n".join(format_summary(s) for s in summaries))
    return 0
