"""Shortest-path tables of one kitchen for the scripted agents (computed once per team).

Floor cells are numbered 0..F-1 (row-major). Paths avoid the other agent: every table has a
leading axis x over the other agent's floor cell (x = F means "no agent in the way"), so a
scripted agent finds the shortest path around its teammate with one lookup instead of a search.

Targets are the cells one can interact with (counters, pots, dispensers, serving cells) that have
a floor neighbour. An agent uses target t from an access cell (a floor neighbour of t) facing t.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import shortest_path

from envs.cooking.config import Action
from envs.cooking.tables import FLOOR, OUTSIDE, Tables
from envs.render import DIRECTIONS

INF = 1_000_000
"""Cost of an unreachable goal."""


@dataclass(frozen=True, eq=False)
class Paths:
    """Navigation tables (F floor cells, T targets, x in 0..F where F = nobody in the way)."""

    floor_of: np.ndarray  # (P,) int64 floor index of a cell, -1 if not floor
    targets: np.ndarray  # (T,) int64 cells of the targets
    next_move: np.ndarray  # (F+1, F, F) int64 first action from f towards floor g avoiding x (STAY if none)
    cost: np.ndarray  # (F+1, F, T) int64 steps from f to the nearest access cell of t, avoiding x (INF if none)
    access: np.ndarray  # (F+1, F, T) int64 floor cell of the best access
    facing: np.ndarray  # (F, T) int64 direction from an access cell to t (-1 if not adjacent)
    component: np.ndarray  # (F,) int64 connected region of the floor (agents ignored)
    reach: np.ndarray  # (n_components, T) bool target usable from a region


def build_paths(tables: Tables) -> Paths:
    """All tables for one kitchen (F^3 entries; a few ms for the classic layouts)."""
    codes = tables.init_cells
    floor_cells = np.flatnonzero(codes == FLOOR)
    num_floor = len(floor_cells)
    floor_of = np.full(tables.num_cells, -1, dtype=np.int64)
    floor_of[floor_cells] = np.arange(num_floor)
    deltas = DIRECTIONS[:, 0] * tables.padded_width + DIRECTIONS[:, 1]  # (4,) flat offsets: up, right, down, left
    neighbours = floor_of[np.clip(floor_cells[:, None] + deltas[None, :], 0, tables.num_cells - 1)]  # (F, 4)

    # targets: interactable cells with a floor neighbour; facing[f, t] = direction from f to t
    interactable = np.flatnonzero((codes != FLOOR) & (codes != OUTSIDE))
    adjacent = floor_of[np.clip(interactable[:, None] - deltas[None, :], 0, tables.num_cells - 1)] >= 0  # (n, 4)
    targets = interactable[adjacent.any(axis=1)]
    facing = np.full((num_floor, len(targets)), -1, dtype=np.int64)
    for d in range(4):
        faced = floor_cells + deltas[d]  # (F,)
        facing[faced[:, None] == targets[None, :]] = d

    dist = _distances(neighbours)  # (F+1, F, F)
    next_move = _first_moves(dist, neighbours)
    # cost of target t from f avoiding x: min over its access cells a of dist[x, f, a]
    access = np.zeros((num_floor + 1, num_floor, len(targets)), dtype=np.int64)
    cost = np.zeros_like(access)
    for x in range(num_floor + 1):
        access_dist = np.where(facing[None, :, :] >= 0, dist[x, :, :, None], INF)  # (F, F_access, T)
        access[x] = access_dist.argmin(axis=1)
        cost[x] = np.take_along_axis(access_dist, access[x][:, None, :], axis=1)[:, 0, :]

    # regions: floor cells that reach each other, labelled by the first floor cell they reach
    component = np.unique((dist[-1] < INF).argmax(axis=1), return_inverse=True)[1]
    reach = np.zeros((component.max() + 1, len(targets)), dtype=bool)
    for c in range(reach.shape[0]):
        reach[c] = (facing[component == c] >= 0).any(axis=0)
    return Paths(
        floor_of=floor_of,
        targets=targets,
        next_move=next_move,
        cost=cost,
        access=access,
        facing=facing,
        component=component.astype(np.int64),
        reach=reach,
    )


def _distances(neighbours: np.ndarray) -> np.ndarray:
    """(F+1, F, F) BFS distances with floor cell x removed (x = F: nothing removed); INF if none."""
    num_floor = neighbours.shape[0]
    out = np.full((num_floor + 1, num_floor, num_floor), INF, dtype=np.int64)
    src, dirs = np.nonzero(neighbours >= 0)
    dst = neighbours[src, dirs]
    for x in range(num_floor + 1):
        keep = (src != x) & (dst != x)
        graph = csr_matrix((np.ones(int(keep.sum())), (src[keep], dst[keep])), shape=(num_floor, num_floor))
        d = shortest_path(graph, unweighted=True, directed=True)
        out[x] = np.where(np.isfinite(d), d, INF).astype(np.int64)
    return out


def _first_moves(dist: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """(F+1, F, F) first move from f on a shortest path to g avoiding x; STAY when f == g or none."""
    num_floor = neighbours.shape[0]
    moves = np.full(dist.shape, int(Action.STAY), dtype=np.int64)
    best = np.full(dist.shape, INF, dtype=np.int64)
    for d in range(4):
        nb = neighbours[:, d]  # (F,)
        ok = nb >= 0
        via = np.full(dist.shape, INF, dtype=np.int64)
        via[:, ok, :] = dist[:, nb[ok], :] + 1
        excluded = np.zeros((num_floor + 1, num_floor), dtype=bool)
        excluded[np.arange(num_floor), :] = nb[None, :] == np.arange(num_floor)[:, None]  # the move enters x
        via[excluded] = INF
        better = (via < best) & (via < INF)
        moves[better] = d
        best = np.minimum(best, via)
    moves[:, np.arange(num_floor), np.arange(num_floor)] = Action.STAY
    return moves
