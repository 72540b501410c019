"""Layouts: the classic five verbatim (docs/cooking.md), the extra kitchens, and clear errors for bad input."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from envs import needs_teammate
from envs.config import ConfigError
from envs.cooking import CLASSIC_LAYOUTS, LAYOUTS, Config, parse_layout
from envs.cooking.paths import build_paths
from envs.cooking.world import World

DOCS = Path(__file__).resolve().parents[3] / "docs" / "cooking.md"
"""The five classic layouts, verbatim from overcooked_ai (Carroll et al. 2019), live in this page's
section "The five classic layouts": one ``#### name`` heading and one fenced ``text`` block each."""


def _documented_layouts() -> dict[str, tuple[str, ...]]:
    """name → rows of every layout in docs/cooking.md's "The five classic layouts" section."""
    text = DOCS.read_text()
    section = text.split("\n### The five classic layouts\n", 1)[1].split("\n### ", 1)[0]
    blocks = re.findall(r"^#### (\S+)\n\n```text\n(.*?)\n```$", section, flags=re.MULTILINE | re.DOTALL)
    return {name: tuple(body.split("\n")) for name, body in blocks}


def test_classic_layouts_are_verbatim():
    documented = _documented_layouts()
    assert list(documented) == list(CLASSIC_LAYOUTS)
    for name, rows in documented.items():
        assert LAYOUTS[name].rows == rows, name


def test_every_station_of_every_layout_is_usable():
    for name in LAYOUTS:
        tables = World(Config(layout=name)).tables
        paths = build_paths(tables)
        usable = set(paths.targets[paths.reach.any(axis=0)].tolist())
        stations = [tables.pot_cells, tables.serving_cells, tables.ing_disp_cells, tables.dish_disp_cells]
        assert set(np.concatenate(stations).tolist()) <= usable, name


def test_two_room_kitchens():
    required = build_paths(World(Config(layout="coordination_required")).tables)
    optional = build_paths(World(Config(layout="coordination_optional")).tables)
    assert len(set(required.component.tolist())) == 2
    assert len(set(optional.component.tolist())) == 1
    assert LAYOUTS["coordination_required"].height == LAYOUTS["coordination_optional"].height


def test_which_kitchens_need_a_teammate():
    needing = {name for name, layout in LAYOUTS.items() if layout.needs_teammate}
    assert needing == {"forced_coordination", "coordination_required"}
    assert needs_teammate("cooking", {"layout": "coordination_required"}) is True
    assert needs_teammate("cooking", {"layout": "coordination_optional"}) is False
    assert needs_teammate("cleanup") is None
    # two rooms that each hold every station do not need a teammate, though split
    split = parse_layout("XOXXXOX\nD1PXD2P\nXSXXXSX")
    assert not split.needs_teammate


def test_unknown_layout_lists_the_valid_ones():
    with pytest.raises(ConfigError, match=r"layout='kitchen' is not allowed; choose one of: cramped_room, .*forced_coordination"):
        Config(layout="kitchen")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("XXPXX\nO 12O\nX Z X\nXDXSX", r"unknown character 'Z' at row 2, column 2"),
        ("XXPXX\nO 12O\nX  X\nXDXSX", r"row 2 has 4 characters, row 0 has 5"),
        ("XXPXX\nO  2O\nX   X\nXDXSX", r"agent start '1' must appear exactly once, found at nowhere"),
        ("XXPXX\nO12 2\nX   X\nXDXSX", r"agent start '2' must appear exactly once, found at row 1, column 2, row 1, column 4"),
        ("XXXXX\nO 12O\nX   X\nXDXSX", r"has no pot \('P'\)"),
        ("\n\n", r"is empty"),
    ],
)
def test_malformed_ascii_names_row_column_and_character(text, message):
    with pytest.raises(ConfigError, match=message):
        parse_layout(text)
    with pytest.raises(ConfigError, match=message):
        Config(layout=text)


def test_a_custom_ascii_layout_runs():
    world = World(Config(layout="XPX\nO1X\nX2D\nXSX"))
    assert (world.tables.height, world.tables.width) == (4, 3)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("ingredient", "carrot", "choose one of: onion, tomato"),
        ("obs_mode", "pixels", "choose one of: egocentric, global"),
        ("view_size", 4, "must be odd"),
        ("horizon", 0, "out of range"),
        ("shaping", "yes", "true or false"),
    ],
)
def test_bad_config_values(field, value, message):
    with pytest.raises(ConfigError, match=message):
        Config(**{field: value})
