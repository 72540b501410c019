"""``ethogram data``: inspect trajectory datasets (``ethogram data info DIR``) and import tables recorded
elsewhere (``ethogram data import TABLE --mapping MAP.yaml --out DIR``, see ``analysis.dataset.importer``)."""

from __future__ import annotations

import argparse
import json

help = "trajectory datasets: `data info DIR` validates and summarises one; `data import TABLE` converts a table recorded elsewhere"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", required=True, metavar="SUBCOMMAND")
    info = sub.add_parser("info", help="validate a dataset and print episodes, agents, returns, concept and event rates, conditions")
    info.add_argument("path", nargs="+", help="dataset directory (several: one summary each)")
    info.add_argument("--json", action="store_true", help="print JSON instead of text")
    imp = sub.add_parser(
        "import", help="build a dataset from a table (Parquet, CSV, ...; one row per episode, step, agent) and a mapping file"
    )
    imp.add_argument("table", help="the table: .parquet, .csv, .tsv, .json, .jsonl, .feather (also .csv.gz), or a folder of Parquet files")
    imp.add_argument("--mapping", required=True, metavar="MAP.yaml", help="which columns are what (docs/data_import.md)")
    imp.add_argument("--out", required=True, metavar="DIR", help="new dataset directory (must not exist, or be empty)")


def run(args: argparse.Namespace) -> int:
    if args.data_command == "import":
        return _import(args)
    from analysis.dataset import open_dataset
    from analysis.dataset.summary import format_summary, summarize

    summaries = [summarize(open_dataset(p)) for p in args.path]
    if args.json:
        print(json.dumps(summaries[0] if len(summaries) == 1 else summaries, indent=2))
    else:
        print("\n\n".join(format_summary(s) for s in summaries))
    return 0


def _import(args: argparse.Namespace) -> int:
    from analysis.dataset.importer import import_table

    ds = import_table(args.table, args.mapping, args.out)
    env = ds.manifest.env
    steps = int(ds.lengths.sum())
    obs = f"obs {env.observation.shape[-1]} values" if ds.manifest.store_obs else "no obs"
    print(
        f"imported {ds.num_episodes} episodes, {env.num_agents} agents ({', '.join(env.agents)}), {steps} steps "
        f"({ds.agent_steps} agent-steps), {len(env.concepts)} concepts, {len(env.events)} events, {obs} → {ds.path}"
    )
    return 0
