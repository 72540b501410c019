"""Cleanup frames: RGB images and ASCII text of one env, drawn from the state.

RGB: sand floor, grey walls, blue river and stream, brown waste, green orchard ground, red apples,
and each agent in play as a triangle of its own colour pointing where it faces.

ASCII uses the map characters (``@`` wall, ``R`` clean river, ``H`` waste, ``S`` stream, ``B`` orchard
cell without apple, ``A`` apple, ``P`` spawn point, space floor) with agents in play drawn as their
index digit (agent_0 → ``0``), followed by one line giving each agent's facing (``^ > v <``) or
``removed``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from envs.cleanup.maps import APPLE, ORCHARD, RIVER, STREAM, WALL, WASTE
from envs.render import draw_triangle, paint

if TYPE_CHECKING:
    from envs.cleanup.world import State, World

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


def _items(world: World, state: State, index: int) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) bool masks of apples and waste in env ``index``."""
    geo = world.geo
    h, w = geo.cmap.height, geo.cmap.width
    apples, waste = np.zeros(h * w, dtype=bool), np.zeros(h * w, dtype=bool)
    for mask, cells, flags in ((apples, geo.orchard, world.apples(state)), (waste, geo.river, world.waste(state))):
        r, c = geo.row_col(cells)
        mask[r * w + c] = flags[index]
    return apples.reshape(h, w), waste.reshape(h, w)


def _agents(world: World, state: State, index: int):
    """(agent, row, col, facing) of the agents in play in env ``index``."""
    rows, cols = world.geo.row_col(state.pos[index])
    return [(j, int(rows[j]), int(cols[j]), int(state.facing[index, j])) for j in range(world.num_agents) if state.removed[index, j] == 0]


def rgb(world: World, state: State, index: int, cell: int = 16) -> np.ndarray:
    """An RGB frame (H * cell, W * cell, 3) uint8 of env ``index``."""
    chars = world.cmap.chars
    codes = np.zeros(chars.shape, dtype=np.int64)
    for ch, code in _STATIC.items():
        codes[chars == ch] = code
    apples, waste = _items(world, state, index)
    codes[waste] = 3
    codes[apples] = 6
    image = paint(codes, PALETTE, cell)
    for j, row, col, facing in _agents(world, state, index):
        draw_triangle(image, row, col, facing, AGENT_COLORS[j % len(AGENT_COLORS)], cell)
    return image


def ascii(world: World, state: State, index: int) -> str:
    """The map of env ``index`` as text, agents as digits, then a line of facings."""
    grid = np.where(np.isin(world.cmap.chars, [APPLE, ORCHARD]), ORCHARD, world.cmap.chars)
    grid = np.where(grid == WASTE, RIVER, grid)
    apples, waste = _items(world, state, index)
    grid[waste] = WASTE
    grid[apples] = APPLE
    for j, row, col, _ in _agents(world, state, index):
        grid[row, col] = str(j)
    facings = " ".join(
        f"{j}{ARROWS[state.facing[index, j]] if state.removed[index, j] == 0 else ':removed'}" for j in range(world.num_agents)
    )
    return "\n".join("".join(row) for row in grid) + "\n" + facings
