"""``ethogram report RUN_DIR [--out FILE] [--summary FILE]``: a self-contained HTML report and a Markdown summary.

Reads the run directory (layout: ``analysis.report``), writes ``RUN_DIR/report.html`` (every figure
and GIF embedded) and ``RUN_DIR/summary.md``, and prints the report's path. Parts that could not be
read, and the stages of a run that stopped part-way, are reported on stderr and inside the report; a
missing RUN_DIR or an invalid experiment.json is an error (exit code 2).
"""

from __future__ import annotations

import argparse
import sys

help = "write a self-contained HTML report (and summary.md) of a run directory"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="run directory written by `ethogram quickstart` / `ethogram experiment`")
    parser.add_argument("--out", metavar="FILE", help="HTML file to write (default: RUN_DIR/report.html)")
    parser.add_argument("--summary", metavar="FILE", help="Markdown summary to write (default: RUN_DIR/summary.md)")


def run(args: argparse.Namespace) -> int:
    from analysis.report import write_report

    files = write_report(args.run_dir, args.out, args.summary)
    if files.unfinished:
        print(f"ethogram report: warning: {files.unfinished}", file=sys.stderr)
    for problem in files.problems:
        print(f"ethogram report: warning: {problem}", file=sys.stderr)
    print(files.html)
    return 0
