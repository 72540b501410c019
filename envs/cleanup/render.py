"""Cleanup frames: RGB images and ASCII text of one env, drawn from the state.

RGB: sand floor, grey walls, blue river and stream, brown waste, green orchard ground, red apples,
and each agent in play as a triangle of its own colour pointing where it faces.

ASCII uses the map characters (``@`` wall, ``R`` clean river, ``H`` waste, ``S`` stream, ``B`` orchard
cell without apple, ``A`` apple, ``P`` spawn point, space floor) with agents in play drawn as their
index digit (agent_0 → ``0``), followed by one line giving each agent's facing (``^ > v <``) or
``removed``.

A frame is drawn from the map's ``Geometry`` and a ``Scene``, the arrays of one env that the world
(``envs.cleanup.world``) hands over, so this module knows nothing of the world's rules.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs.cleanup.maps import APPLE, ORCHARD, RIVER, STREAM, WALL, WASTE, Geometry
from envs.render import draw_triangle, paint

PALETTE = np.array(
    [
        [222, 221, 189],  # 0 floor
        [109, 109, 109],  # 1 wall
        [66, 173, 212],  # 2 river
        [113, 75, 24],  # 3 waste
        [99, 156, 194],  # 4 stream
        [164, 189, 75],  # 5 orchard ground
        [212, 80, 57],  # 6 apple
    ],
    dtype=np.uint8,
)
AGENT_COLORS = np.array(
    [
        [45, 85, 255],
        [255, 140, 0],
        [150, 40, 200],
        [0, 150, 130],
        [230, 30, 120],
        [120, 70, 20],
        [20, 20, 20],
        [255, 220, 0],
        [0, 200, 255],
        [250, 250, 250],
    ],
    dtype=np.uint8,
)
ARROWS = "^>v<"
_STATIC = {WALL: 1, RIVER: 2, WASTE: 2, STREAM: 4, ORCHARD: 5, APPLE: 5}


@dataclass(frozen=True)
class Scene:
    """What one env's frame shows."""

    apples: np.ndarray
    """(nB,) bool — an apple on each orchard cell (``Geometry.orchard`` order)."""
    waste: np.ndarray
    """(nR,) bool — waste on each river cell (``Geometry.river`` order)."""
    pos: np.ndarray
    """(N,) int64 — padded flat cell of each agent."""
    facing: np.ndarray
    """(N,) int64 — 0 up, 1 right, 2 down, 3 left."""
    removed: np.ndarray
    """(N,) int32 — steps left out of the game (0: in play)."""


def _items(geo: Geometry, scene: Scene) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) bool masks of apples and waste."""
    h, w = geo.cmap.height, geo.cmap.width
    apples, waste = np.zeros(h * w, dtype=bool), np.zeros(h * w, dtype=bool)
    for mask, cells, flags in ((apples, geo.orchard, scene.apples), (waste, geo.river, scene.waste)):
        r, c = geo.row_col(cells)
        mask[r * w + c] = flags
    return apples.reshape(h, w), waste.reshape(h, w)


def _agents(geo: Geometry, scene: Scene) -> list[tuple[int, int, int, int]]:
    """(agent, row, col, facing) of the agents in play."""
    rows, cols = geo.row_col(scene.pos)
    return [(j, int(rows[j]), int(cols[j]), int(scene.facing[j])) for j in range(len(scene.pos)) if scene.removed[j] == 0]


def rgb(geo: Geometry, scene: Scene, cell: int = 16) -> np.ndarray:
    """An RGB frame (H * cell, W * cell, 3) uint8."""
    chars = geo.cmap.chars
    codes = np.zeros(chars.shape, dtype=np.int64)
    for ch, code in _STATIC.items():
        codes[chars == ch] = code
    apples, waste = _items(geo, scene)
    codes[waste] = 3
    codes[apples] = 6
    image = paint(codes, PALETTE, cell)
    for j, row, col, facing in _agents(geo, scene):
        draw_triangle(image, row, col, facing, AGENT_COLORS[j % len(AGENT_COLORS)], cell)
    return image


def ascii(geo: Geometry, scene: Scene) -> str:
    """The map as text, agents as digits, then a line of facings."""
    chars = geo.cmap.chars
    grid = np.where(np.isin(chars, [APPLE, ORCHARD]), ORCHARD, chars)
    grid = np.where(grid == WASTE, RIVER, grid)
    apples, waste = _items(geo, scene)
    grid[waste] = WASTE
    grid[apples] = APPLE
    for j, row, col, _ in _agents(geo, scene):
        grid[row, col] = str(j)
    facings = " ".join(f"{j}{ARROWS[scene.facing[j]] if scene.removed[j] == 0 else ':removed'}" for j in range(len(scene.pos)))
    return "\n".join("".join(row) for row in grid) + "\n" + facings
