"""Shortest-path tables of one kitchen for the scripted agents (computed once per team).

Floor cells are numbered 0..F-1 (row-major). Paths may avoid one agent: the distance, first-move,
cost and access tables have a leading axis x over a floor cell taken out of the graph (x = F
means "nothing taken out"), so a scripted agent finds the shortest path around a teammate that
stands at x with one lookup instead of a search (the precomputed form of a breadth-first search
with one cell masked; F is at most a few dozen in every named layout, ``MAX_FLOOR`` in any).

Targets are the cells one can interact with (counters, pots, dispensers, serving cells) that have
a floor neighbour. An agent uses target t from an access cell (a floor neighbour of t) facing t.
Parking cells are floor cells that give access to nothing but counters: an agent that waits there
does not stand in front of a pot, a dispenser or a serving cell.

Regions are the connected parts of the floor (agents ignored), e.g. the two rooms of
forced_coordination; ``floor_regions`` is shared with ``envs.cooking.world`` (random starts).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components, shortest_path

from envs.cooking.config import Action
from envs.cooking.tables import COUNTER, FLOOR, OUTSIDE, Tables
from envs.render import DIRECTIONS

INF = 10_000
"""Distance to an unreachable cell or target (fits int16; two of them still fit int32 sums)."""

MAX_FLOOR = 300
"""Most floor cells a kitchen may have for scripted agents: the tables hold (F+1) x F x F entries."""


@dataclass(frozen=True, eq=False)
class Paths:
    """Navigation tables (F floor cells, T targets, x in 0..F where F = nobody in the way)."""

    floor_cells: np.ndarray  # (F,) int64 flat cell of each floor index
    floor_of: np.ndarray  # (P,) int64 floor index of a cell, -1 if not floor
    targets: np.ndarray  # (T,) int64 cells of the targets
    dist: np.ndarray  # (F+1, F, F) int16 steps from f to g avoiding x (INF if none; from x itself: INF)
    next_move: np.ndarray  # (F+1, F, F) int8 first action from f towards g avoiding x (STAY if f == g or none)
    cost: np.ndarray  # (F+1, F, T) int16 steps from f to the nearest access cell of t, avoiding x (INF if none)
    access: np.ndarray  # (F+1, F, T) int16 floor index of that access cell
    facing: np.ndarray  # (F, T) int8 direction from floor f to target t (-1 if not adjacent)
    component: np.ndarray  # (F,) int64 region of each floor cell (agents ignored)
    reach: np.ndarray  # (n_regions, T) bool target usable from a region
    parking: np.ndarray  # (F,) bool the cell gives access to counters only (every cell of a region without one)
    cut: np.ndarray  # (F,) bool an agent standing there cuts other floor cells of its region from each other

    @property
    def num_floor(self) -> int:
        return len(self.floor_cells)


def floor_regions(tables: Tables) -> tuple[np.ndarray, np.ndarray]:
    """Floor cells (F,) int64 flat and their region label (F,) int64 (connected parts of the floor)."""
    floor_cells, neighbours = _floor_graph(tables)
    src, d = np.nonzero(neighbours >= 0)
    graph = csr_matrix((np.ones(src.size), (src, neighbours[src, d])), shape=(len(floor_cells),) * 2)
    return floor_cells, connected_components(graph, directed=False)[1].astype(np.int64)


def build_paths(tables: Tables) -> Paths:
    """All tables for one kitchen (a few ms for the named layouts)."""
    codes = tables.init_cells
    floor_cells, neighbours = _floor_graph(tables)
    num_floor = len(floor_cells)
    if num_floor > MAX_FLOOR:
        raise ValueError(f"scripted cooking agents support kitchens of at most {MAX_FLOOR} floor cells; this one has {num_floor}")
    floor_of = np.full(tables.num_cells, -1, dtype=np.int64)
    floor_of[floor_cells] = np.arange(num_floor)
    deltas = DIRECTIONS[:, 0] * tables.padded_width + DIRECTIONS[:, 1]  # (4,) flat offsets: up, right, down, left

    # targets: interactable cells with a floor neighbour; facing[f, t] = direction from f to t
    interactable = np.flatnonzero((codes != FLOOR) & (codes != OUTSIDE))
    adjacent = floor_of[np.clip(interactable[:, None] - deltas[None, :], 0, tables.num_cells - 1)] >= 0  # (n, 4)
    targets = interactable[adjacent.any(axis=1)]
    facing = np.full((num_floor, len(targets)), -1, dtype=np.int8)
    for d in range(4):
        faced = floor_cells + deltas[d]  # (F,)
        facing[faced[:, None] == targets[None, :]] = d

    dist = _distances(neighbours)  # (F+1, F, F)
    next_move = _first_moves(dist, neighbours)
    # cost of target t from f avoiding x: min over its access cells a of dist[x, f, a]
    access = np.zeros((num_floor + 1, num_floor, len(targets)), dtype=np.int16)
    cost = np.zeros_like(access)
    is_access = facing >= 0  # (F_access, T)
    for x in range(num_floor + 1):
        access_dist = np.where(is_access[None, :, :], dist[x, :, :, None], INF)  # (F, F_access, T)
        access[x] = access_dist.argmin(axis=1)
        cost[x] = np.take_along_axis(access_dist, access[x][:, None, :].astype(np.int64), axis=1)[:, 0, :]

    component = floor_regions(tables)[1]
    reach = np.zeros((component.max() + 1, len(targets)), dtype=bool)
    for c in range(reach.shape[0]):
        reach[c] = is_access[component == c].any(axis=0)
    stations = codes[targets] != COUNTER  # (T,) pots, dispensers, serving cells
    parking = ~(is_access & stations[None, :]).any(axis=1)  # (F,)
    for c in range(reach.shape[0]):
        if not parking[component == c].any():
            parking[component == c] = True
    lost = (dist[:-1] >= INF) & (dist[-1] < INF)[None]  # (x, F, F) pairs linked only through x
    xs = np.arange(num_floor)
    lost[xs, xs, :] = lost[xs, :, xs] = False  # (paths from or to x itself do not count)
    cut = lost.any(axis=(1, 2))
    return Paths(
        floor_cells=floor_cells,
        floor_of=floor_of,
        targets=targets,
        dist=dist,
        next_move=next_move,
        cost=cost,
        access=access,
        facing=facing,
        component=component,
        reach=reach,
        parking=parking,
        cut=cut,
    )


def _floor_graph(tables: Tables) -> tuple[np.ndarray, np.ndarray]:
    """Floor cells (F,) flat, and the floor index of each one's neighbour up/right/down/left (F, 4), -1 if none."""
    floor_cells = np.flatnonzero(tables.init_cells == FLOOR)
    floor_of = np.full(tables.num_cells, -1, dtype=np.int64)
    floor_of[floor_cells] = np.arange(len(floor_cells))
    deltas = DIRECTIONS[:, 0] * tables.padded_width + DIRECTIONS[:, 1]
    return floor_cells, floor_of[np.clip(floor_cells[:, None] + deltas[None, :], 0, tables.num_cells - 1)]


def _distances(neighbours: np.ndarray) -> np.ndarray:
    """(F+1, F, F) int16 BFS distances with floor cell x removed (x = F: nothing removed); INF if none."""
    num_floor = neighbours.shape[0]
    out = np.full((num_floor + 1, num_floor, num_floor), INF, dtype=np.int16)
    src, dirs = np.nonzero(neighbours >= 0)
    dst = neighbours[src, dirs]
    for x in range(num_floor + 1):
        keep = (src != x) & (dst != x)
        graph = csr_matrix((np.ones(int(keep.sum())), (src[keep], dst[keep])), shape=(num_floor, num_floor))
        d = shortest_path(graph, unweighted=True, directed=True)
        out[x] = np.where(np.isfinite(d), d, INF)
        if x < num_floor:
            out[x, x, :] = INF  # an agent never stands where its teammate stands
    return out


def _first_moves(dist: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """(F+1, F, F) int8 first move from f on a shortest path to g avoiding x; STAY when f == g or none.

    Of equally short first moves the first in UP, RIGHT, DOWN, LEFT order is taken.
    """
    num_floor = neighbours.shape[0]
    moves = np.full(dist.shape, int(Action.STAY), dtype=np.int8)
    for x in range(num_floor + 1):
        here = dist[x]  # (F, F)
        todo = (here > 0) & (here < INF)
        for d in range(4):
            nb = neighbours[:, d]  # (F,)
            ok = (nb >= 0) & (nb != x)
            on_path = np.zeros((num_floor, num_floor), dtype=bool)
            on_path[ok] = dist[x, nb[ok], :] == here[ok] - 1
            moves[x][todo & on_path] = d
            todo &= ~on_path
    return moves
