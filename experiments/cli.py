"""The ``ethogram`` command line: one subcommand per module in ``experiments.commands``.

Each command module defines ``help`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``,
and imports its heavy dependencies (torch, ray) inside ``run`` so that ``ethogram --help`` is fast.

The libraries (``envs``, ``marl``, ``analysis``) report progress through ``logging`` at INFO; the CLI
prints those records to stdout as plain lines (``show_library_progress``), which are its progress
lines; a WARNING (or worse) is printed with its level first (``warning: ...``). A script that
imports the libraries sees none of them unless it configures logging.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys

from experiments import commands

LIBRARIES = ("envs", "marl", "analysis")
"""The packages whose INFO records the CLI prints."""


class _Print(logging.Handler):
    """A record's message on stdout, as ``print`` writes it (stdout looked up per record); a warning
    or error is prefixed with its level."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
            print(f"{record.levelname.lower()}: {text}" if record.levelno >= logging.WARNING else text, flush=True)
        except Exception:
            self.handleError(record)


def show_library_progress() -> None:
    """Print the libraries' INFO records to stdout (once per process; a level set before is kept)."""
    for name in LIBRARIES:
        logger = logging.getLogger(name)
        if not any(isinstance(h, _Print) for h in logger.handlers):
            logger.addHandler(_Print())
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.INFO)


def command_names() -> list[str]:
    """Subcommand names: every module in ``experiments.commands`` (``data_info`` → ``data-info``)."""
    return sorted(m.name for m in pkgutil.iter_modules(commands.__path__) if not m.name.startswith("_"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ethogram", description="Study trained multi-agent systems: record, discover, intervene.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in command_names():
        module = importlib.import_module(f"experiments.commands.{name}")
        command = sub.add_parser(name.replace("_", "-"), help=module.help, description=module.help)
        module.add_arguments(command)
        command.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Before any command imports torch or ray (docs/design.md, 'RLlib and Ray on a CPU'): one thread
    # per training process, and no Ray auth token written under the home directory.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    args = build_parser().parse_args(argv)
    show_library_progress()
    try:
        return int(args._run(args) or 0)
    except (ValueError, FileNotFoundError, FileExistsError) as exc:
        print(f"ethogram {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
