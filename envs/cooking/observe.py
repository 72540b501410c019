"""Observations of the cooking world: uint8 grids (H, W, C) with named channels.

Two modes (``Config.obs_mode``):
- ``egocentric``: a ``view_size`` x ``view_size`` window centred on the observing agent, in the
  kitchen's orientation (not rotated); cells beyond the kitchen have the ``outside`` channel set.
- ``global``: the whole kitchen (H x W), the same for both agents except the self/other channels.

Channels, in order (``{ing}`` is the config's ingredient, e.g. ``onion``):

====  ========================  ==========================================================
 0    counter                   1 on counters (with or without an item)
 1    pot                       1 on pots
 2    {ing}_dispenser           1 on ingredient dispensers
 3    dish_dispenser            1 on dish dispensers
 4    serving                   1 on serving cells
 5    outside                   1 beyond the kitchen (egocentric windows only)
 6    self                      1 where the observing agent stands
 7-10 self_facing_{dir}         1 at the observing agent for its facing (up, right, down, left)
11    other                     1 where the other agent stands (if in view)
12-15 other_facing_{dir}        1 at the other agent for its facing
16    {ing}                     1 where an ingredient lies on a counter or is held by an agent
17    dish                      same for an empty dish
18    soup                      same for a soup on a dish
19    pot_count                 ingredients in the pot, 0..3 (3 while cooking and when done)
20    pot_cooked                steps the full pot has cooked, 0..cook_time
21    pot_ready                 1 when the soup is done (pot_cooked == cook_time)
====  ========================  ==========================================================

So an agent's own orientation (channels 7-10 at its cell) and inventory (channels 16-18 at its
cell) are always in its view. Values are integers in [0, max(3, cook_time)], the space's high.

Computation: every cell code maps to its channels through one lookup table, so a view is two
gathers (window cells → codes → channel rows), then at most 6 writes per agent pair for the
agents' channels (out-of-view writes go to a spare byte past the end of the buffer).

The global state (``World.global_state``, PettingZoo's ``state()``; ``state_layout``) is the
``global`` view above as agent_0 sees it, whatever the config's ``obs_mode``: (H, W, 22) uint8 over
the whole kitchen, the same channels with ``self*`` renamed ``agent_0*`` and ``other*`` renamed
``agent_1*`` (``outside`` is always 0). It holds every cell's tile, counter item and pot state, and
each agent's cell, facing and held item (the item channels at its cell); it leaves out only who put
a counter item down, which decides the hand-over event and nothing else.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from envs.cooking.config import POT_CAPACITY, Config, Item, item_names
from envs.cooking.tables import (
    COUNTER,
    COUNTER_ITEM0,
    DISH_DISP,
    ING_DISP,
    OUTSIDE,
    POT0,
    SERVING,
    Tables,
)
from envs.spec import ObservationLayout

DIR_NAMES = ("up", "right", "down", "left")
SELF, SELF_FACING, OTHER, OTHER_FACING, ITEM0, POT_COUNT, POT_COOKED, POT_READY = 6, 7, 11, 12, 16, 19, 20, 21
_FAR = 1 << 40
"""Offset that puts a write beyond the observation buffer (np.put clips it onto the spare byte)."""
_CACHE = 1 << 16
"""Entries of the K = 1 cache before it is cleared."""


def channel_names(ingredient: str) -> tuple[str, ...]:
    """The 22 channel names, in order (see the module docstring)."""
    return (
        "counter",
        "pot",
        f"{ingredient}_dispenser",
        "dish_dispenser",
        "serving",
        "outside",
        "self",
        *(f"self_facing_{d}" for d in DIR_NAMES),
        "other",
        *(f"other_facing_{d}" for d in DIR_NAMES),
        *item_names(ingredient),
        "pot_count",
        "pot_cooked",
        "pot_ready",
    )


def state_layout(observer: Observer) -> ObservationLayout:
    """The layout of the global state (module docstring) from a ``global``-mode ``observer``."""
    if observer.egocentric:
        raise ValueError("the global state is the global view; got an egocentric Observer")
    channels = tuple(_as_agent(c) for c in observer.channels)
    description = "The global state" + __doc__.split("The global state")[1].rstrip()
    return dataclasses.replace(observer.layout, channels=channels, description=description)


def _as_agent(channel: str) -> str:
    """A view's channel named by agent: ``self*`` is agent_0's, ``other*`` agent_1's."""
    for role, agent in (("self", "agent_0"), ("other", "agent_1")):
        if channel.startswith(role):
            return agent + channel.removeprefix(role)
    return channel


class Observer:
    """Static tables for one config's observations, and the batched ``observe``."""

    def __init__(self, tables: Tables, config: Config) -> None:
        self.tables = tables
        self.channels = channel_names(config.ingredient)
        self.num_channels = len(self.channels)
        self.egocentric = config.obs_mode == "egocentric"
        if self.egocentric:
            self.view_shape = (config.view_size, config.view_size)
        else:
            self.view_shape = (tables.height, tables.width)
        self.view_cells = self.view_shape[0] * self.view_shape[1]
        self.high = max(POT_CAPACITY, tables.cook_time)
        self.layout = ObservationLayout(
            mode=config.obs_mode,
            shape=(*self.view_shape, self.num_channels),
            channels=self.channels,
            high=self.high,
            description=__doc__.split("Computation:")[0].strip(),
            channel_high=tuple(
                POT_CAPACITY if i == POT_COUNT else tables.cook_time if i == POT_COOKED else 1 for i in range(self.num_channels)
            ),
        )
        self.lut = self._code_channels()  # (codes, C) uint8
        codes = len(self.lut)
        self.lut2 = np.concatenate([np.repeat(self.lut, codes, axis=0), np.tile(self.lut, (codes, 1))], axis=1)  # (codes^2, 2C)
        self.window, self.rel = self._windows()  # (P, V) int64, (P, P) int64
        # (V,) the window of an agent on cell p is p + window_around (egocentric), or window_around (global)
        self.window_around = self.window[0] if not self.egocentric else self.window[tables.starts[0]] - tables.starts[0]
        self.agent_channels = self._agent_channels()  # (2 roles, 4 dirs, 4 items, 3) int64
        self.pair_channels, self.pair_rel = self._pair_tables()  # (256, 2, 2, 3), (P, P, 2, 2)
        self._size = self.view_cells * self.num_channels
        self._single: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]] = {}

    def _code_channels(self) -> np.ndarray:
        tb = self.tables
        lut = np.zeros((tb.num_codes, self.num_channels), dtype=np.uint8)
        lut[OUTSIDE, 5] = 1
        lut[COUNTER:ING_DISP, 0] = 1
        for code in range(COUNTER_ITEM0, ING_DISP):
            lut[code, ITEM0 + tb.item_of[code] - 1] = 1
        lut[ING_DISP, 2] = lut[DISH_DISP, 3] = lut[SERVING, 4] = 1
        lut[POT0:, 1] = 1
        lut[POT0:, POT_COUNT] = tb.pot_count[POT0:]
        lut[POT0:, POT_COOKED] = tb.pot_cooked[POT0:]
        lut[POT0:, POT_READY] = tb.pot_full[POT0:] & (tb.pot_cooked[POT0:] == tb.cook_time)
        return lut

    def _windows(self) -> tuple[np.ndarray, np.ndarray]:
        """Window cells of an agent standing on each cell, and where agent j appears in i's view."""
        tb = self.tables
        vh, vw = self.view_shape
        cells = np.arange(tb.num_cells, dtype=np.int64)
        if self.egocentric:
            radius = vh // 2
            dr, dc = np.mgrid[-radius : radius + 1, -radius : radius + 1]
            window = np.clip(cells[:, None] + (dr * tb.padded_width + dc).ravel()[None, :], 0, tb.num_cells - 1)
            rr = tb.row[None, :] - tb.row[:, None] + radius  # (P_i, P_j) row of j in i's window
            cc = tb.col[None, :] - tb.col[:, None] + radius
        else:
            inside = (tb.row >= 0) & (tb.row < tb.height) & (tb.col >= 0) & (tb.col < tb.width)
            window = np.broadcast_to(np.flatnonzero(inside), (tb.num_cells, self.view_cells)).copy()
            rr = np.broadcast_to(tb.row[None, :], (tb.num_cells, tb.num_cells))
            cc = np.broadcast_to(tb.col[None, :], (tb.num_cells, tb.num_cells))
        visible = (rr >= 0) & (rr < vh) & (cc >= 0) & (cc < vw)
        rel = np.where(visible, (rr * vw + cc) * self.num_channels, _FAR)
        return window, rel

    def _agent_channels(self) -> np.ndarray:
        """Channels written for an agent seen as self (role 0) or other (role 1), by facing and item."""
        table = np.zeros((2, 4, 4, 3), dtype=np.int64)
        for role, (presence, facing) in enumerate(((SELF, SELF_FACING), (OTHER, OTHER_FACING))):
            for d in range(4):
                for item in Item:
                    table[role, d, item] = (presence, facing + d, presence if item == Item.NONE else ITEM0 + item - 1)
        return table

    def _pair_tables(self) -> tuple[np.ndarray, np.ndarray]:
        """The agents' writes by both agents at once, indexed [viewer, agent]: channels by the pair of
        (facing * 4 + item) codes, and window offsets by the pair of cells."""
        ch = self.agent_channels.reshape(2, 16, 3)  # role, facing * 4 + item, write
        channels = np.empty((16, 16, 2, 2, 3), dtype=np.int64)
        channels[:, :, 0, 0], channels[:, :, 1, 1] = ch[0][:, None], ch[0][None, :]
        channels[:, :, 0, 1], channels[:, :, 1, 0] = ch[1][None, :], ch[1][:, None]
        diag = np.diagonal(self.rel)
        rel = np.empty((*self.rel.shape, 2, 2), dtype=np.int64)
        rel[:, :, 0, 0], rel[:, :, 1, 1] = diag[:, None], diag[None, :]
        rel[:, :, 0, 1], rel[:, :, 1, 0] = self.rel, self.rel.T
        return channels.reshape(256, 2, 2, 3), rel

    def buffer_base(self, num_envs: int) -> np.ndarray:
        """(K, 2, 1, 1) int64 offset of each (env, agent) view in the flat observation buffer."""
        return (np.arange(num_envs * 2, dtype=np.int64) * self._size).reshape(num_envs, 2, 1, 1)

    def observe_single(self, cells_flat: np.ndarray, pos: list[int], dirs: list[int], hold: list[int]) -> np.ndarray:
        """``observe`` for K = 1 with the agents as Python ints: two numpy calls on cached indices.

        The window cells and the agents' writes depend only on the agents (cells, facings, items),
        so they are cached by those (a bounded dict); the cell codes are read fresh every call.
        """
        key = (pos[0], pos[1], dirs[0] * 4 + hold[0], dirs[1] * 4 + hold[1])
        entry = self._single.get(key)
        if entry is None:
            entry = self._single_entry(*key)
        window, puts = entry
        obs = self.lut.take(cells_flat[window], 0)  # (1, 2, Vh, Vw, C)
        obs.put(puts, 1)
        return obs

    def _single_entry(self, p0: int, p1: int, code0: int, code1: int) -> tuple[np.ndarray, np.ndarray]:
        if len(self._single) >= _CACHE:
            self._single.clear()
        window = self.window[[p0, p1]].reshape(1, 2, *self.view_shape)
        puts = self.pair_channels[code0 * 16 + code1] + self.pair_rel[p0, p1, :, :, None] + self.buffer_base(1)[0]
        entry = self._single[(p0, p1, code0, code1)] = (window, puts[puts < _FAR])
        return entry

    def observe(
        self, cells_flat: np.ndarray, pos: np.ndarray, dirs: np.ndarray, hold: np.ndarray, offset: np.ndarray, base: np.ndarray
    ) -> np.ndarray:
        """Views (K, 2, Vh, Vw, C) uint8 from the flat cell codes (K*P,), positions, facings, items.

        ``offset`` (K, 1, 1) is each env's first cell in ``cells_flat``; ``base`` from ``buffer_base``.
        """
        num_envs = pos.shape[0]
        first = pos + offset[:, :, 0] if self.egocentric else np.broadcast_to(offset[:, :, 0], pos.shape)  # (K, 2)
        codes = cells_flat[first[:, :, None] + self.window_around]  # (K, 2, V) codes in each agent's window
        buf = np.empty(num_envs * 2 * self._size + 1, dtype=np.uint8)
        obs = buf[:-1].reshape(num_envs, 2, self.view_cells, self.num_channels)
        # two neighbouring cells at a time (K * 2 * V is even): half as many rows to copy
        pairs = codes.reshape(-1, 2)
        np.take(
            self.lut2, pairs[:, 0] * np.int64(len(self.lut)) + pairs[:, 1], axis=0, out=obs.reshape(-1, 2 * self.num_channels), mode="clip"
        )
        code = dirs * 4 + hold  # (K, 2)
        put = self.pair_channels[code[:, 0] * 16 + code[:, 1]]  # (K, 2, 2, 3) viewer, agent, write
        put += self.pair_rel[pos[:, 0], pos[:, 1], :, :, None]
        put += base
        np.put(buf, put, 1, mode="clip")
        return obs.reshape(num_envs, 2, *self.view_shape, self.num_channels)
