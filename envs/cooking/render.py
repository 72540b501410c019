"""Drawing one cooking env: RGB frames from numpy (no display) and ASCII.

RGB: tiles coloured by kind; items are discs (ingredient yellow for onions / red for tomatoes,
dish white, soup orange); a pot shows one small disc per ingredient and a progress bar while it
cooks (a soup disc when done); agents are triangles pointing where they face (agent_0 blue,
agent_1 green) with the held item as a disc on top.

ASCII: the layout's characters, a counter's item as a lower-case letter (``o``/``t`` ingredient,
``d`` dish, ``s`` soup), agents as arrows ``^ > v <``, then one status line per agent and pot.
"""

from __future__ import annotations

import numpy as np

from envs.cooking.config import Item, item_names
from envs.cooking.tables import COUNTER, COUNTER_ITEM0, DISH_DISP, FLOOR, ING_DISP, POT0, SERVING, Tables
from envs.render import draw_dot, draw_triangle, paint

CELL = 24
"""Pixels per cell."""

ITEM_COLORS = {"onion": (245, 215, 70), "tomato": (225, 55, 45), "dish": (250, 250, 250), "soup": (240, 140, 40)}
AGENT_COLORS = ((50, 100, 230), (40, 170, 80))
ARROWS = "^>v<"


def _palette(num_codes: int) -> np.ndarray:
    pal = np.zeros((num_codes, 3), dtype=np.uint8)
    pal[FLOOR] = (236, 233, 220)
    pal[COUNTER:ING_DISP] = (165, 125, 85)
    pal[ING_DISP] = (150, 140, 60)
    pal[DISH_DISP] = (150, 150, 170)
    pal[SERVING] = (110, 190, 120)
    pal[POT0:] = (75, 75, 80)
    return pal


def _interior(tables: Tables, cells: np.ndarray) -> np.ndarray:
    """(H, W) codes of the kitchen without padding."""
    p, wp = tables.pad, tables.padded_width
    grid = cells.reshape(-1, wp)
    return grid[p : p + tables.height, p : p + tables.width]


def rgb(tables: Tables, cells: np.ndarray, pos: np.ndarray, dirs: np.ndarray, hold: np.ndarray, ingredient: str = "onion") -> np.ndarray:
    """(H*CELL, W*CELL, 3) uint8 frame of one env."""
    grid = _interior(tables, cells)
    image = paint(grid, _palette(tables.num_codes), cell=CELL)
    names = item_names(ingredient)
    for (r, c), code in np.ndenumerate(grid):
        if COUNTER_ITEM0 <= code < ING_DISP:
            draw_dot(image, r, c, ITEM_COLORS[names[tables.item_of[code] - 1]], cell=CELL)
        elif code == ING_DISP:
            draw_dot(image, r, c, ITEM_COLORS[names[0]], cell=CELL, radius=0.18)
        elif code == DISH_DISP:
            draw_dot(image, r, c, ITEM_COLORS["dish"], cell=CELL, radius=0.18)
        elif code >= POT0:
            _draw_pot(image, r, c, tables, code, names[0])
    for i in range(2):
        r, c = int(tables.row[pos[i]]), int(tables.col[pos[i]])
        draw_triangle(image, r, c, int(dirs[i]), AGENT_COLORS[i], cell=CELL)
        if hold[i] != Item.NONE:
            draw_dot(image, r, c, ITEM_COLORS[names[hold[i] - 1]], cell=CELL, radius=0.15)
    return image


def _draw_pot(image: np.ndarray, r: int, c: int, tables: Tables, code: int, ingredient: str) -> None:
    count, cooked = int(tables.pot_count[code]), int(tables.pot_cooked[code])
    if count == 3 and cooked == tables.cook_time:
        draw_dot(image, r, c, ITEM_COLORS["soup"], cell=CELL, radius=0.3)
        return
    patch = image[r * CELL : (r + 1) * CELL, c * CELL : (c + 1) * CELL]
    for k in range(count):
        x0 = 3 + k * 7
        patch[4:9, x0 : x0 + 5] = ITEM_COLORS[ingredient]
    if count == 3:
        width = max(1, round((CELL - 6) * cooked / tables.cook_time))
        patch[CELL - 7 : CELL - 3, 3 : 3 + width] = ITEM_COLORS["soup"]


def ascii(tables: Tables, ingredient: str, cells: np.ndarray, pos: np.ndarray, dirs: np.ndarray, hold: np.ndarray) -> str:
    """The kitchen as text plus one status line per agent and pot."""
    grid = _interior(tables, cells)
    names = ("nothing", *item_names(ingredient))
    base = {FLOOR: " ", COUNTER: "X", ING_DISP: "O", DISH_DISP: "D", SERVING: "S"}
    letters = (ingredient[0], "d", "s")
    rows = []
    for line in grid:
        chars = []
        for code in line.tolist():
            if COUNTER_ITEM0 <= code < ING_DISP:
                chars.append(letters[tables.item_of[code] - 1])
            else:
                chars.append(base.get(code, "P"))
        rows.append(chars)
    status = []
    for i in range(2):
        r, c = int(tables.row[pos[i]]), int(tables.col[pos[i]])
        rows[r][c] = ARROWS[int(dirs[i])]
        status.append(f"agent_{i} at ({r},{c}) facing {('up', 'right', 'down', 'left')[int(dirs[i])]}, holding {names[int(hold[i])]}")
    for j, cell in enumerate(tables.pot_cells):
        code = int(cells[cell])
        r, c = int(tables.row[cell]), int(tables.col[cell])
        status.append(f"pot_{j} at ({r},{c}): {tables.pot_count[code]}/3 {ingredient}, cooked {tables.pot_cooked[code]}/{tables.cook_time}")
    return "\n".join(["".join(chars) for chars in rows] + status)
