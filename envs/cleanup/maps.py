"""Cleanup maps as ASCII, parsed once into a validated frozen dataclass, and the index tables built from one.

Characters (the classic open-source Cleanup, Hughes et al. 2018; docs/cleanup.md, 'The classic map'):

====  ==========================================================================================
``@``  wall: blocks moves and beams
`` ``  floor
``P``  floor where agents spawn (at reset, and after a removal)
``B``  orchard cell: an apple may grow here (none stands at reset)
``A``  orchard cell with an apple standing at reset (not in the classic map; handy in scenarios)
``R``  river cell: waste may appear here; walkable
``H``  river cell holding waste at reset
``S``  stream: walkable water that never holds waste (neither river nor orchard)
====  ==========================================================================================

The ``classic`` map is the classic code's, verbatim (docs/cleanup.md, 'The classic map'): 25 rows x
18 columns, 10 spawn points, 119 river cells of which 56 start polluted: waste density 0.47, above
the 0.4 depletion threshold, so no apple grows until agents clean. ``small`` is this project's own
9 x 12 map for quick runs.

Maps may be given by name (``MAPS``) or as ASCII art (a string with newlines, or a tuple of rows);
empty lines at the start and end of a string are dropped, so triple-quoted strings work. Errors
name the row, the column and the character.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from envs.config import ConfigError, check_choice

WALL, FLOOR, SPAWN, ORCHARD, APPLE, RIVER, WASTE, STREAM = "@", " ", "P", "B", "A", "R", "H", "S"
CHARS = {
    WALL: "wall",
    FLOOR: "floor",
    SPAWN: "spawn point (floor)",
    ORCHARD: "orchard cell",
    APPLE: "orchard cell with an apple at reset",
    RIVER: "river cell",
    WASTE: "river cell with waste at reset",
    STREAM: "stream (water that never holds waste)",
}
"""Map character → meaning."""

MAPS: dict[str, tuple[str, ...]] = {
    "classic": (
        "@@@@@@@@@@@@@@@@@@",
        "@RRRRRR     BBBBB@",
        "@HHHHHH      BBBB@",
        "@RRRRRR     BBBBB@",
        "@RRRRR  P    BBBB@",
        "@RRRRR    P BBBBB@",
        "@HHHHH       BBBB@",
        "@RRRRR      BBBBB@",
        "@HHHHHHSSSSSSBBBB@",
        "@HHHHHHSSSSSSBBBB@",
        "@RRRRR   P P BBBB@",
        "@HHHHH   P  BBBBB@",
        "@RRRRRR    P BBBB@",
        "@HHHHHH P   BBBBB@",
        "@RRRRR       BBBB@",
        "@HHHH    P  BBBBB@",
        "@RRRRR       BBBB@",
        "@HHHHH  P P BBBBB@",
        "@RRRRR       BBBB@",
        "@HHHH       BBBBB@",
        "@RRRRR       BBBB@",
        "@HHHHH      BBBBB@",
        "@RRRRR       BBBB@",
        "@HHHH       BBBBB@",
        "@@@@@@@@@@@@@@@@@@",
    ),
    "small": (
        "@@@@@@@@@@@@",
        "@HRR   P BB@",
        "@RRH   P  B@",
        "@HRR  P  BB@",
        "@RRSSSSSSBB@",
        "@HRR  P  BB@",
        "@RRH   P  B@",
        "@HRR   P BB@",
        "@@@@@@@@@@@@",
    ),
}
"""Named maps (see the module docstring)."""


@dataclass(frozen=True)
class CleanupMap:
    """A parsed, validated map: the rows as drawn and where each kind of cell is."""

    name: str
    rows: tuple[str, ...]
    """ASCII rows, all of one width."""

    @property
    def height(self) -> int:
        return len(self.rows)

    @property
    def width(self) -> int:
        return len(self.rows[0])

    @cached_property
    def chars(self) -> np.ndarray:
        """(H, W) array of single characters."""
        return np.array([list(row) for row in self.rows], dtype="<U1")

    def mask(self, *chars: str) -> np.ndarray:
        """(H, W) bool: cells drawn as any of ``chars``."""
        return np.isin(self.chars, list(chars))

    @property
    def num_spawns(self) -> int:
        return int(self.mask(SPAWN).sum())


def parse_map(source: str | tuple[str, ...] | list[str], name: str | None = None) -> CleanupMap:
    """A map from a name in ``MAPS`` or from ASCII art; raises ConfigError naming what is wrong."""
    if isinstance(source, str) and "\n" not in source:
        check_choice("map", source, MAPS)
        return _validate(source, MAPS[source])
    if isinstance(source, str):
        lines = source.split("\n")
        while lines and not lines[0].strip():
            lines.pop(0)
        while lines and not lines[-1].strip():
            lines.pop()
        rows = tuple(lines)
    else:
        rows = tuple(source)
    return _validate(name or "custom", rows)


def _validate(name: str, rows: tuple[str, ...]) -> CleanupMap:
    if not rows or not rows[0]:
        raise ConfigError(f"map {name!r} is empty")
    width = len(rows[0])
    for r, row in enumerate(rows):
        if len(row) != width:
            raise ConfigError(f"map {name!r}: row {r} has {len(row)} characters, row 0 has {width}; all rows must be equally long")
        for c, ch in enumerate(row):
            if ch not in CHARS:
                known = ", ".join(f"{k!r} {v}" for k, v in CHARS.items())
                raise ConfigError(f"map {name!r}: unknown character {ch!r} at row {r}, column {c}; known: {known}")
    cmap = CleanupMap(name=name, rows=rows)
    if cmap.num_spawns == 0:
        raise ConfigError(f"map {name!r} has no spawn point ('P')")
    return cmap


@dataclass(frozen=True)
class Geometry:
    """Index tables of one map, padded by ``pad`` wall cells on every side and ``extra`` more rows below.

    Cells are addressed by their flat index in the padded grid (``p = row * Wp + col`` with padded
    coordinates). The padding is wall, so moves and beams never leave the array. ``nowhere`` is a
    cell in the extra rows, beyond every window and beam of an agent on the map: agents out of the
    game are parked there, so they need no masks.
    """

    cmap: CleanupMap
    pad: int
    extra: int = 0

    @property
    def hp(self) -> int:
        return self.cmap.height + 2 * self.pad + self.extra

    @property
    def wp(self) -> int:
        return self.cmap.width + 2 * self.pad

    @property
    def cells(self) -> int:
        """Number of padded cells, Hp * Wp."""
        return self.hp * self.wp

    @property
    def nowhere(self) -> int:
        """The parking cell of removed agents (first extra row; ``extra`` > pad keeps its window and rays in the array)."""
        return (self.cmap.height + 2 * self.pad) * self.wp + self.pad

    def flat(self, mask: np.ndarray) -> np.ndarray:
        """Padded flat indices (int64, row-major) of the map cells where ``mask`` (H, W) is true."""
        r, c = np.nonzero(mask)
        return ((r + self.pad) * self.wp + c + self.pad).astype(np.int64)

    def padded(self, mask: np.ndarray, fill: bool) -> np.ndarray:
        """(Hp * Wp,) bool: ``mask`` (H, W) placed in the padded grid, ``fill`` outside the map."""
        out = np.full((self.hp, self.wp), fill, dtype=bool)
        out[self.pad : self.pad + self.cmap.height, self.pad : self.pad + self.cmap.width] = mask
        return out.ravel()

    def row_col(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Map (row, col) of padded flat indices ``p``."""
        p = np.asarray(p)
        return p // self.wp - self.pad, p % self.wp - self.pad

    def index(self, row: int, col: int) -> int:
        """Padded flat index of map cell (row, col)."""
        if not (0 <= row < self.cmap.height and 0 <= col < self.cmap.width):
            raise ValueError(f"cell ({row}, {col}) is outside the {self.cmap.height}x{self.cmap.width} map")
        return (row + self.pad) * self.wp + col + self.pad

    @cached_property
    def wall(self) -> np.ndarray:
        """(Hp * Wp,) bool: walls, padding included."""
        return self.padded(self.cmap.mask(WALL), fill=True)

    @cached_property
    def orchard(self) -> np.ndarray:
        """(nB,) padded indices of orchard cells (``B`` and ``A``), row-major."""
        return self.flat(self.cmap.mask(ORCHARD, APPLE))

    @cached_property
    def river(self) -> np.ndarray:
        """(nR,) padded indices of river cells (``R`` and ``H``), row-major."""
        return self.flat(self.cmap.mask(RIVER, WASTE))

    @cached_property
    def spawns(self) -> np.ndarray:
        """(nP,) padded indices of spawn points, row-major."""
        return self.flat(self.cmap.mask(SPAWN))

    @cached_property
    def in_orchard(self) -> np.ndarray:
        """(Hp * Wp,) bool: orchard cells."""
        return self.padded(self.cmap.mask(ORCHARD, APPLE), fill=False)

    @cached_property
    def in_river(self) -> np.ndarray:
        """(Hp * Wp,) bool: river cells."""
        return self.padded(self.cmap.mask(RIVER, WASTE), fill=False)

    @cached_property
    def xy(self) -> np.ndarray:
        """(Hp * Wp, 2) float32: normalised (x = col, y = row) of every cell, in [0, 1] inside the map."""
        rows, cols = np.divmod(np.arange(self.cells), self.wp)
        x = (cols - self.pad) / max(self.cmap.width - 1, 1)
        y = (rows - self.pad) / max(self.cmap.height - 1, 1)
        return np.stack([x, y], axis=1).astype(np.float32)

    def sq_dist(self, targets: np.ndarray) -> np.ndarray:
        """(Hp * Wp, len(targets)) int64: squared Euclidean distance from every cell to each target."""
        rows, cols = np.divmod(np.arange(self.cells), self.wp)
        tr, tc = np.divmod(targets, self.wp)
        return (rows[:, None] - tr[None, :]) ** 2 + (cols[:, None] - tc[None, :]) ** 2
