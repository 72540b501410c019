"""Kitchen layouts as ASCII, parsed once into validated frozen dataclasses.

Characters (Carroll et al. 2019, overcooked_ai ``data/layouts``):

====  ==========================================================================
``X``  counter: a wall that holds one item (put down / pick up; how items are handed over)
``P``  pot: takes up to 3 ingredients, cooks by itself once it holds 3
``O``  ingredient dispenser (onions, or tomatoes when ``Config.ingredient == "tomato"``)
``D``  dish dispenser
``S``  serving cell: a soup on a dish delivered here scores
`` ``  floor
``1``  floor where agent_0 starts; ``2`` floor where agent_1 starts
====  ==========================================================================

The five classic layouts are verbatim (docs/cooking.md, 'The five classic layouts'; counter_circuit
is the 3-onion ``counter_circuit_o_1order``). The two-room kitchens follow the concept-bottleneck
paper (Grupen et al. 2022): ``coordination_required`` splits the kitchen with a counter wall so that
ingredients and dishes must be handed over it; ``coordination_optional`` is the same kitchen with a
gap in the wall, so each agent can do everything. Both are small (7x5, two 2x3 rooms), like the
classic layouts, so PPO can learn them in a few million steps. ``wide_room`` and ``tall_room`` are
small non-square rooms.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import ndimage

from envs.config import ConfigError

TILES = {
    "X": "counter",
    "P": "pot",
    "O": "ingredient_dispenser",
    "D": "dish_dispenser",
    "S": "serving",
    " ": "floor",
    "1": "floor",
    "2": "floor",
}
"""Layout character → tile kind."""

AGENT_CHARS = ("1", "2")
"""Start cells of agent_0 and agent_1."""

REQUIRED = ("pot", "ingredient_dispenser", "dish_dispenser", "serving")
"""Tile kinds every layout must have at least one of."""


@dataclass(frozen=True)
class Layout:
    """A parsed, validated kitchen: the rows as drawn, and where everything is."""

    name: str
    rows: tuple[str, ...]
    """The ASCII rows, all of one width; agents' start cells drawn as ``1`` and ``2``."""

    @property
    def height(self) -> int:
        return len(self.rows)

    @property
    def width(self) -> int:
        return len(self.rows[0])

    @cached_property
    def starts(self) -> tuple[tuple[int, int], ...]:
        """(row, col) start cell of each agent, in agent order."""
        return tuple(self.cells(ch)[0] for ch in AGENT_CHARS)

    def cells(self, char: str) -> tuple[tuple[int, int], ...]:
        """(row, col) of every cell drawn as ``char``, in row-major order."""
        return tuple((r, c) for r, row in enumerate(self.rows) for c, ch in enumerate(row) if ch == char)

    def tiles(self, kind: str) -> tuple[tuple[int, int], ...]:
        """(row, col) of every cell of tile ``kind`` (see ``TILES``), in row-major order."""
        return tuple((r, c) for r, row in enumerate(self.rows) for c, ch in enumerate(row) if TILES[ch] == kind)

    @cached_property
    def needs_teammate(self) -> bool:
        """True when no connected part of the floor borders every station in ``REQUIRED``: one agent
        alone cannot cook and serve, so items must be handed over (forced_coordination,
        coordination_required); False when one agent could do everything (coordination_optional)."""
        kinds = np.array([[TILES[ch] for ch in row] for row in self.rows])
        regions, count = ndimage.label(kinds == "floor")  # 4-connected parts of the floor
        padded = np.pad(regions, 1)
        for region in range(1, count + 1):
            beside = np.zeros_like(regions, dtype=bool)  # cells 4-adjacent to the region
            inside = padded == region
            for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
                beside |= np.roll(inside, (dr, dc), axis=(0, 1))[1:-1, 1:-1]
            if set(REQUIRED) <= set(kinds[beside].tolist()):
                return False
        return True


def parse_layout(text: str, name: str = "custom") -> Layout:
    """Parse an ASCII kitchen (rows separated by newlines; blank first/last lines are dropped).

    Raises ConfigError naming the row, column and character of anything malformed.
    """
    lines = text.split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise ConfigError(f"layout {name!r} is empty")
    width = len(lines[0])
    for r, line in enumerate(lines):
        if len(line) != width:
            raise ConfigError(f"layout {name!r}: row {r} has {len(line)} characters, row 0 has {width}; rows must be equally wide")
        for c, ch in enumerate(line):
            if ch not in TILES:
                allowed = ", ".join(repr(k) for k in TILES)
                raise ConfigError(f"layout {name!r}: unknown character {ch!r} at row {r}, column {c}; allowed: {allowed}")
    for ch in AGENT_CHARS:
        found = [(r, c) for r, line in enumerate(lines) for c, x in enumerate(line) if x == ch]
        if len(found) != 1:
            where = ", ".join(f"row {r}, column {c}" for r, c in found) or "nowhere"
            raise ConfigError(f"layout {name!r}: agent start {ch!r} must appear exactly once, found at {where}")
    layout = Layout(name=name, rows=tuple(lines))
    for kind in REQUIRED:
        if not layout.tiles(kind):
            raise ConfigError(f"layout {name!r} has no {kind} ({_char(kind)!r})")
    _check_reachable(layout)
    return layout


def _char(kind: str) -> str:
    return next(k for k, v in TILES.items() if v == kind)


def _check_reachable(layout: Layout) -> None:
    """Every station (pot, dispensers, serving cell) must border a floor cell some agent can walk to
    from its start; a sealed-in station would be drawn, observed and never used (0-return episodes)."""
    kinds = np.array([[TILES[ch] for ch in row] for row in layout.rows])
    regions, _ = ndimage.label(kinds == "floor")  # 4-connected parts of the floor (start cells are floor)
    reached = np.isin(regions, [regions[r, c] for r, c in layout.starts])
    beside = ndimage.binary_dilation(reached, structure=ndimage.generate_binary_structure(2, 1))  # reached or 4-adjacent to it
    for kind in REQUIRED:
        for r, c in layout.tiles(kind):
            if not beside[r, c]:
                raise ConfigError(
                    f"layout {layout.name!r}: the {kind} ({_char(kind)!r}) at row {r}, column {c} borders no floor cell an agent "
                    "can reach from its start ('1' or '2'); open a path to it or draw a counter ('X') there"
                )


CLASSIC = {
    "cramped_room": """
XXPXX
O  2O
X1  X
XDXSX
""",
    "asymmetric_advantages": """
XXXXXXXXX
O XSXOX S
X   P 1 X
X2  P   X
XXXDXDXXX
""",
    "coordination_ring": """
XXXPX
X 1 P
D2X X
O   X
XOSXX
""",
    "forced_coordination": """
XXXPX
O X1P
O2X X
D X X
XXXSX
""",
    "counter_circuit": """
XXXPPXXX
X  2   X
D XXXX S
X  1   X
XXXOOXXX
""",
}
"""The five classic layouts, verbatim (docs/cooking.md, 'The five classic layouts')."""

EXTRA = {
    "coordination_required": """
XXXXXXX
O  X  P
X1 X 2X
D  X  S
XXXXXXX
""",
    "coordination_optional": """
XXXXXXX
O  X  P
X1   2X
D  X  S
XXXXXXX
""",
    "wide_room": """
XXXPPXX
O1    S
X    2X
XXDXXXX
""",
    "tall_room": """
XXPX
O  X
X1 D
X 2X
XSXX
""",
}
"""Two-room kitchens (coordination required / optional) and small non-square rooms."""

LAYOUTS: dict[str, Layout] = {name: parse_layout(text, name) for name, text in {**CLASSIC, **EXTRA}.items()}
"""Every named layout, parsed: name → Layout."""

CLASSIC_LAYOUTS = tuple(CLASSIC)
"""Names of the five classic layouts."""


def get_layout(name: str) -> Layout:
    """The named layout; an unknown name is a ConfigError listing the valid ones."""
    try:
        return LAYOUTS[name]
    except KeyError:
        raise ConfigError(f"layout={name!r} is not allowed; choose one of: {', '.join(LAYOUTS)}") from None
