"""Static tables of one cooking config: cell codes, moves and interact transitions.

Every rule of the world is a lookup into a table built here once per config, so that a step is a
fixed handful of array indexings whatever the number of envs K.

The grid is padded by ``pad`` cells of ``OUTSIDE`` on every side and flattened: a cell is one
integer ``(row + pad) * Wp + (col + pad)``. Agents' positions, interact targets and observation
windows are all indices into this one flat space (so a window never leaves the array).

Cell codes (``cells`` holds one per cell, uint8): the static tile and its dynamic state together.

=====================  =====================================================================
``OUTSIDE`` 0           padding around the kitchen (not walkable, nothing to interact with)
``FLOOR`` 1             walkable
``COUNTER`` 2           an empty counter
``3 + 3*(item-1) + p``  a counter holding ``item`` (Item 1..3) put down by ``p`` (0 nobody,
                        1 agent_0, 2 agent_1): knowing who put it down gives the handover event
``ING_DISP`` 12         ingredient dispenser · ``DISH_DISP`` 13 · ``SERVING`` 14
``POT0 + n`` (n<3)      a pot holding n ingredients, not cooking
``POT0 + 3 + t``        a full pot that has cooked t steps (t = cook_time: the soup is ready)
=====================  =====================================================================

Interacts are rows of a transition table indexed by (agent, cell code, held item): new cell code,
new held item, event counts, shaping and deliveries. Interacting with anything else changes
nothing (e.g. serving an onion, taking from a dispenser with full hands, a dish on a cooking pot).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs.cooking.config import POT_CAPACITY, Action, Config, Item
from envs.cooking.layouts import TILES, Layout
from envs.render import DIRECTIONS

OUTSIDE, FLOOR, COUNTER = 0, 1, 2
COUNTER_ITEM0 = 3
ING_DISP, DISH_DISP, SERVING = 12, 13, 14
POT0 = 15

TILE_CODES = {"floor": FLOOR, "counter": COUNTER, "ingredient_dispenser": ING_DISP, "dish_dispenser": DISH_DISP, "serving": SERVING}

# Event columns (see ``event_specs``).
PICKED_ING, PICKED_DISH, PICKED_SOUP, INTO_POT, DELIVERED, PLACED, TOOK, HANDED, BLOCKED, COLLISION = range(10)
NUM_EVENTS = 10
PICKED = {Item.INGREDIENT: PICKED_ING, Item.DISH: PICKED_DISH, Item.SOUP: PICKED_SOUP}


def counter_code(item: int, placer: int = 0) -> int:
    """Code of a counter holding ``item`` put down by ``placer`` (0 nobody, 1 + agent index)."""
    return COUNTER_ITEM0 + 3 * (int(item) - 1) + int(placer)


def pot_code(count: int, cooked: int = 0) -> int:
    """Code of a pot holding ``count`` ingredients that has cooked ``cooked`` steps (full pots only)."""
    return POT0 + count if count < POT_CAPACITY else POT0 + POT_CAPACITY + cooked


@dataclass(frozen=True, eq=False)
class Tables:
    """Static arrays of one config (shapes next to each; P = padded cells, R = 2 * codes * 4 rows)."""

    layout: Layout
    pad: int
    height: int
    width: int
    padded_width: int
    num_cells: int
    num_codes: int
    cook_time: int
    init_cells: np.ndarray  # (P,) uint8 codes at reset
    starts: np.ndarray  # (2,) int64 start cells
    row: np.ndarray  # (P,) int64 kitchen row of each cell (negative / >= H in the padding)
    col: np.ndarray  # (P,) int64 kitchen column of each cell
    move: np.ndarray  # (P, 6) int64 cell after each action (blocked moves stay)
    blocked: np.ndarray  # (P, 6) bool a move into a cell that is not walkable
    new_dir: np.ndarray  # (6, 4) int64 facing after action a from facing d
    interact_delta: np.ndarray  # (6, 4) int64 flat offset of the faced cell for INTERACT, else 0
    row_base: np.ndarray  # (2, C) int64 first transition row of (agent, code)
    next_code: np.ndarray  # (R,) uint8
    next_hold: np.ndarray  # (R,) int64
    events: np.ndarray  # (R, NUM_EVENTS) uint8
    shaping: np.ndarray  # (R, 3) float32 one-hot of the shaping kind: into pot, dish pickup, soup pickup
    delivered: np.ndarray  # (R,) float32 soups delivered
    tick: np.ndarray  # (C,) uint8 code after one cooking step
    pot_full: np.ndarray  # (C,) bool
    pot_count: np.ndarray  # (C,) int64 ingredients in the pot (0 for other codes)
    pot_cooked: np.ndarray  # (C,) int64 steps cooked (0 unless full)
    item_of: np.ndarray  # (C,) int64 item on a counter (0 none / not a counter)
    pot_cells: np.ndarray  # (n_pots,) int64, row-major
    counter_cells: np.ndarray  # (n_counters,) int64, row-major
    ing_disp_cells: np.ndarray
    dish_disp_cells: np.ndarray
    serving_cells: np.ndarray

    def flat(self, r: int, c: int) -> int:
        """Flat cell index of kitchen cell (row r, column c)."""
        return (r + self.pad) * self.padded_width + (c + self.pad)


def build_tables(config: Config, pad: int) -> Tables:
    """All static tables of ``config`` with ``pad`` cells of padding (pad >= 1)."""
    layout = config.layout_obj
    h, w = layout.height, layout.width
    hp, wp = h + 2 * pad, w + 2 * pad
    num_cells = hp * wp
    flat = np.arange(num_cells, dtype=np.int64)
    row, col = flat // wp - pad, flat % wp - pad

    cells = np.zeros(num_cells, dtype=np.uint8)
    for r, line in enumerate(layout.rows):
        for c in range(w):
            kind = TILES[line[c]]
            cells[(r + pad) * wp + c + pad] = pot_code(0) if kind == "pot" else TILE_CODES[kind]

    def cells_of(code: int) -> np.ndarray:
        return np.flatnonzero(cells == code).astype(np.int64)

    move, blocked, new_dir, interact_delta = _move_tables(cells, wp)
    num_codes = POT0 + POT_CAPACITY + config.cook_time + 1
    tick, full, count, cooked, item_of = _code_tables(num_codes, config.cook_time)
    tr = _transitions(num_codes, config.cook_time)
    return Tables(
        layout=layout,
        pad=pad,
        height=h,
        width=w,
        padded_width=wp,
        num_cells=num_cells,
        num_codes=num_codes,
        cook_time=config.cook_time,
        init_cells=cells,
        starts=np.array([(r + pad) * wp + c + pad for r, c in layout.starts], dtype=np.int64),
        row=row,
        col=col,
        move=move,
        blocked=blocked,
        new_dir=new_dir,
        interact_delta=interact_delta,
        row_base=(np.arange(2 * num_codes, dtype=np.int64) * 4).reshape(2, num_codes),
        tick=tick,
        pot_full=full,
        pot_count=count,
        pot_cooked=cooked,
        item_of=item_of,
        pot_cells=cells_of(pot_code(0)),
        counter_cells=cells_of(COUNTER),
        ing_disp_cells=cells_of(ING_DISP),
        dish_disp_cells=cells_of(DISH_DISP),
        serving_cells=cells_of(SERVING),
        **tr,
    )


def _move_tables(cells: np.ndarray, wp: int) -> tuple[np.ndarray, ...]:
    """move (P, 6), blocked (P, 6), new_dir (6, 4), interact_delta (6, 4) of a padded grid of codes."""
    num_cells = len(cells)
    flat = np.arange(num_cells, dtype=np.int64)
    dflat = DIRECTIONS[:, 0] * wp + DIRECTIONS[:, 1]  # (4,) flat offsets of up, right, down, left
    target = np.clip(flat[:, None] + np.concatenate([dflat, [0, 0]])[None, :], 0, num_cells - 1)
    blocked = cells[target] != FLOOR
    blocked[:, Action.STAY :] = False
    move = np.where(blocked, flat[:, None], target)
    new_dir = np.tile(np.arange(4, dtype=np.int64), (6, 1))  # STAY and INTERACT keep the facing
    new_dir[:4] = np.arange(4)[:, None]  # a move faces its direction, moving or not
    interact_delta = np.zeros((6, 4), dtype=np.int64)
    interact_delta[Action.INTERACT] = dflat
    return move, blocked, new_dir, interact_delta


def _code_tables(num_codes: int, cook_time: int) -> tuple[np.ndarray, ...]:
    """Per-code decoders: tick (C,), full (C,), count (C,), cooked (C,), counter item (C,)."""
    codes = np.arange(num_codes, dtype=np.int64)
    full = codes >= POT0 + POT_CAPACITY
    cooked = np.where(full, codes - POT0 - POT_CAPACITY, 0)
    count = np.where(codes >= POT0, np.minimum(codes - POT0, POT_CAPACITY), 0)
    tick = np.where(full & (cooked < cook_time), codes + 1, codes).astype(np.uint8)
    on_counter = (codes >= COUNTER_ITEM0) & (codes < ING_DISP)
    item_of = np.where(on_counter, (codes - COUNTER_ITEM0) // 3 + 1, 0)
    return tick, full, count, cooked, item_of


def _transitions(num_codes: int, cook_time: int) -> dict[str, np.ndarray]:
    """The interact table: one row per (agent, code, held item); see the module docstring."""
    rows = 2 * num_codes * 4
    next_code = np.repeat(np.arange(num_codes, dtype=np.uint8), 4)
    next_code = np.tile(next_code, 2)
    next_hold = np.tile(np.arange(4, dtype=np.int64), 2 * num_codes)
    events = np.zeros((rows, NUM_EVENTS), dtype=np.uint8)
    shaping = np.zeros((rows, 3), dtype=np.float32)
    delivered = np.zeros(rows, dtype=np.float32)
    for agent in range(2):
        for code in range(num_codes):
            for hold in Item:
                r = (agent * num_codes + code) * 4 + hold
                new = _interact(agent, code, hold, cook_time)
                if new is None:
                    continue
                next_code[r], next_hold[r], evs, shape = new
                for e in evs:
                    events[r, e] = 1
                if shape is not None:
                    shaping[r, shape] = 1.0
                delivered[r] = float(DELIVERED in evs)
    return {"next_code": next_code, "next_hold": next_hold, "events": events, "shaping": shaping, "delivered": delivered}


def _interact(agent: int, code: int, hold: Item, cook_time: int) -> tuple[int, int, tuple[int, ...], int | None] | None:
    """(new code, new held item, events, shaping kind) of one interact, or None if nothing happens."""
    full_code = POT0 + POT_CAPACITY
    if code == COUNTER and hold != Item.NONE:
        return counter_code(hold, agent + 1), Item.NONE, (PLACED,), None
    if COUNTER_ITEM0 <= code < ING_DISP and hold == Item.NONE:
        item, placer = divmod(code - COUNTER_ITEM0, 3)
        item += 1
        handed = (HANDED,) if placer not in (0, agent + 1) else ()
        return COUNTER, item, (TOOK, PICKED[Item(item)], *handed), None
    if code == ING_DISP and hold == Item.NONE:
        return code, Item.INGREDIENT, (PICKED_ING,), None
    if code == DISH_DISP and hold == Item.NONE:
        return code, Item.DISH, (PICKED_DISH,), 1
    if POT0 <= code < full_code and hold == Item.INGREDIENT:
        return code + 1, Item.NONE, (INTO_POT,), 0
    if code == full_code + cook_time and hold == Item.DISH:
        return pot_code(0), Item.SOUP, (PICKED_SOUP,), 2
    if code == SERVING and hold == Item.SOUP:
        return code, Item.NONE, (DELIVERED,), None
    return None
