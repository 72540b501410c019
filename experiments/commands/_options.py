"""Options several commands share (this module is not a command: its name starts with ``_``)."""

from __future__ import annotations

import argparse


def add_set(parser: argparse.ArgumentParser, what: str) -> None:
    """``--set KEY=VALUE`` (repeatable, dotted keys, YAML values) into ``args.overrides``."""
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help=f"override {what}; repeatable")


def add_address(parser: argparse.ArgumentParser) -> None:
    """``--address ADDR``: join a running Ray cluster."""
    parser.add_argument("--address", metavar="ADDR", help="join a running Ray cluster (default: start Ray on this machine)")
