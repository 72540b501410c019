"""Cleanup observations: a one-hot canvas of the world per env, and each agent's window cut from it.

The canvas (K, Hp * Wp, C) uint8 is part of the state: it *is* where apples and waste live, and it
also shows every agent in play in the channel of its facing. Its grid is the map padded with wall
cells (``Geometry.pad`` >= the view radius), so a window never leaves the array.

An agent's observation is the (2r+1) x (2r+1) x C window of the canvas centred on its cell,
**north-up** (not rotated to its facing): moves are absolute, and the agent reads its own facing
from the agent channel at the centre. Cells beyond the map read as wall. An agent out of the game
(removed by a penalty beam) sees all zeros. Channels (one-hot, 0/1):

``wall`` · ``apple`` · ``waste`` · ``river`` (cells where waste can appear, clean or not) ·
``orchard`` (cells where apples can grow) · ``agent_up`` ``agent_right`` ``agent_down``
``agent_left`` (an agent in play facing that way; the viewer itself at the centre).

With ``Config.roster`` a last channel, ``roster``, holds a vector packed into the window's cells in
row-major order (``ObservationLayout.vector``; the cells after its last value hold 0), so that the
global concepts are knowable (the concept-bottleneck paper gives its agents their own position and orientation as
vector inputs; the roster gives every agent's, as a team radio would). Per agent ``agent_j``:
``agent_j.col`` and ``agent_j.row`` (map cell + 1; 0 while removed), ``agent_j.up`` ..
``agent_j.left`` (its facing, one-hot), ``agent_j.in_river``, ``agent_j.in_orchard`` and
``agent_j.removed`` (0/1); then ``waste_density`` and ``apples`` (waste cells / river cells and
apples / orchard cells, x 255, rounded). Every agent and env concept is a linear function of it.
A removed agent's window is zeros, its roster is not. 9 values per agent and 2 gauges must fit in
the window's cells: 5 agents need ``view_radius`` >= 3, 10 agents >= 5.

Windows are cut with one fancy index into a strided view of the canvas (a block copy per agent),
so the cost is one memory pass over the output.

The global state (``World.global_state``, PettingZoo's ``state()``; ``state_layout``) is the canvas
over the map, without its padding: (H, W, 9 + N) uint8, one-hot, the 9 channels of the agents'
windows (so an agent in play shows in the channel of its facing), then one channel per agent,
``agent_0`` .. ``agent_{N-1}``, set at that agent's cell while it is in play, so agents are told
apart. It holds walls, river, orchard, every apple and waste cell, and each agent's cell and
facing; an agent out of the game (removed by a penalty beam) is in no channel. It leaves out the
steps left of a removal and of the beams' cooldowns.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from envs.cleanup.maps import Geometry
from envs.spec import ObservationLayout

CHANNELS = ("wall", "apple", "waste", "river", "orchard", "agent_up", "agent_right", "agent_down", "agent_left")
"""Observation channel names, in order."""
WALL_CH, APPLE_CH, WASTE_CH, RIVER_CH, ORCHARD_CH, AGENT_CH = 0, 1, 2, 3, 4, 5
"""Channel indices; an agent facing ``f`` (0 up .. 3 left) is drawn in channel ``AGENT_CH + f``."""
AGENT_CHANNELS = slice(AGENT_CH, AGENT_CH + 4)


def static_canvas(geo: Geometry) -> np.ndarray:
    """(Hp * Wp, C) uint8: the channels that never change (wall, river, orchard); items and agents empty."""
    canvas = np.zeros((geo.cells, len(CHANNELS)), dtype=np.uint8)
    canvas[:, WALL_CH] = geo.wall
    canvas[:, RIVER_CH] = geo.in_river
    canvas[:, ORCHARD_CH] = geo.in_orchard
    return canvas


class ViewCutter:
    """Cuts each agent's view window out of the canvas."""

    def __init__(self, geo: Geometry, radius: int) -> None:
        if geo.pad < radius:
            raise ValueError(f"padding {geo.pad} is smaller than the view radius {radius}")
        self.size = 2 * radius + 1
        self.wp = geo.wp
        self.cells = geo.cells
        self.corner = radius * geo.wp + radius
        """Flat offset from a cell to the top-left corner of the window centred on it."""
        self.starts = self.cells - (self.size - 1) * (self.wp + 1)
        """Number of valid top-left corners in the flat grid."""

    def __call__(self, canvas: np.ndarray, env: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """Windows (*pos.shape, S, S, C) uint8 of the agents at padded cells ``pos`` in envs ``env``.

        ``canvas`` is (K, Hp * Wp, C) and C-contiguous; ``env`` broadcasts against ``pos``.
        """
        k, _, c = canvas.shape
        s0, s1, s2 = canvas.strides
        view = as_strided(
            canvas,
            shape=(k, self.starts, self.size, self.size, c),
            strides=(s0, s1, self.wp * s1, s1, s2),
            writeable=False,
        )
        return view[env, pos - self.corner]


class Roster:
    """The roster (module docstring): (K, V) uint8, the same for every viewer of an env."""

    FIELDS = ("col", "row", "up", "right", "down", "left", "in_river", "in_orchard", "removed")

    def __init__(self, geo: Geometry, agents: tuple[str, ...]) -> None:
        h, w = geo.cmap.height, geo.cmap.width
        self.names = (*(f"{a}.{f}" for a in agents for f in self.FIELDS), "waste_density", "apples")
        self.highs = ((w, h) + (1,) * (len(self.FIELDS) - 2)) * len(agents) + (255, 255)
        rows, cols = geo.row_col(np.arange(geo.cells))
        table = np.zeros((geo.cells, len(self.FIELDS)), dtype=np.uint8)  # per cell: the fields but facing
        on_map = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w) & ~geo.wall
        table[on_map, 0], table[on_map, 1] = cols[on_map] + 1, rows[on_map] + 1
        table[:, 6], table[:, 7] = geo.in_river, geo.in_orchard
        table[geo.nowhere, 8] = 1
        self.table = table
        self.river, self.orchard = geo.river, geo.orchard

    def __call__(self, canvas: np.ndarray, pos: np.ndarray, facing: np.ndarray) -> np.ndarray:
        k = len(pos)
        out = np.take(self.table, pos, axis=0)  # (K, N, 9); ``nowhere`` says removed
        np.put_along_axis(out, facing[..., None] + 2, 1, axis=-1)
        pairs = ((self.river, WASTE_CH), (self.orchard, APPLE_CH))
        gauges = [canvas[:, cells, ch].mean(axis=1) if len(cells) else np.zeros(k) for cells, ch in pairs]
        return np.concatenate([out.reshape(k, -1), np.rint(np.stack(gauges, axis=1) * 255).astype(np.uint8)], axis=1)


def state_layout(geo: Geometry, agents: tuple[str, ...]) -> ObservationLayout:
    """The layout of the global state (module docstring): (H, W, 9 + N) one-hot channels."""
    channels = (*CHANNELS, *agents)
    description = "The global state" + __doc__.split("The global state")[1].rstrip()
    return ObservationLayout(
        mode="global", shape=(geo.cmap.height, geo.cmap.width, len(channels)), channels=channels, description=description
    )


def global_state(canvas: np.ndarray, pos: np.ndarray, geo: Geometry) -> np.ndarray:
    """(K, H, W, 9 + N) uint8: the global state (module docstring) from the canvas (K, Hp * Wp, C) and
    the agents' padded cells ``pos`` (K, N); agents parked on ``geo.nowhere`` (removed) are left out."""
    (k, n), (h, w), pad, c = pos.shape, (geo.cmap.height, geo.cmap.width), geo.pad, len(CHANNELS)
    out = np.zeros((k, h, w, c + n), dtype=np.uint8)
    out[..., :c] = canvas.reshape(k, geo.hp, geo.wp, c)[:, pad : pad + h, pad : pad + w]
    rows, cols = geo.row_col(pos)
    env, agent = np.nonzero(rows < h)  # (M,) each: the agents on the map
    out[env, rows[env, agent], cols[env, agent], c + agent] = 1
    return out


def paint_agents(canvas: np.ndarray, env: np.ndarray, pos: np.ndarray, facing: np.ndarray | None, value: int) -> None:
    """Draw (value 1, in the channel of ``facing``) or erase (value 0, all agent channels) agents at ``pos``, in place."""
    if value:
        canvas[env, pos, AGENT_CH + facing] = 1
    else:
        canvas[env, pos, AGENT_CHANNELS] = 0
