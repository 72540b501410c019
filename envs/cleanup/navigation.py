"""Shortest paths on a Cleanup map for scripted agents: all-pairs walking distances and the next move.

Distances count moves between walkable cells (everything but walls), ignoring other agents; they are
computed once per world with ``scipy.sparse.csgraph`` (breadth-first search on the grid graph). All
queries are array lookups, for M agents at once.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import shortest_path

from envs.cleanup.maps import Geometry
from envs.render import DIRECTIONS

FAR = np.iinfo(np.int16).max
"""Distance to an unreachable cell (and from the parking cell of removed agents)."""


class Navigator:
    """Walking distances between the walkable cells of one map, and moves along shortest paths."""

    def __init__(self, geo: Geometry) -> None:
        self.geo = geo
        walk = np.flatnonzero(~geo.wall)  # padded cells one can stand on
        self.num = n = len(walk)
        self.node = np.full(geo.cells, n, dtype=np.int64)  # padded cell -> node (n: not walkable / nowhere)
        self.node[walk] = np.arange(n)
        steps = DIRECTIONS[:, 0] * geo.wp + DIRECTIONS[:, 1]
        self.neighbour = self.node[walk[:, None] + steps[None, :]]  # (n, 4): node after each move, n if blocked
        src, d = np.nonzero(self.neighbour < n)
        graph = csr_matrix((np.ones(src.size), (src, self.neighbour[src, d])), shape=(n, n))
        dist = shortest_path(graph, method="D", unweighted=True)
        dist = np.where(np.isfinite(dist), dist, FAR).astype(np.int16)
        self.dist = np.full((n + 1, n + 1), FAR, dtype=np.int16)  # row/column n: nowhere
        self.dist[:n, :n] = dist
        self.neighbour = np.vstack([self.neighbour, np.full((1, 4), n)])

    def distance(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """Moves from padded cells ``src`` to padded cells ``dst`` (broadcast), ``FAR`` if unreachable."""
        return self.dist[self.node[src], self.node[dst]]

    def nearest(self, src: np.ndarray, targets: np.ndarray, present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For M agents at ``src`` (M,): the nearest present target and its distance.

        ``targets`` (T,) padded cells, ``present`` (M, T) bool. Returns (target index (M,), distance (M,)),
        distance ``FAR`` where none is present or reachable.
        """
        d = np.where(present, self.dist[self.node[src][:, None], self.node[targets][None, :]], FAR)
        best = np.argmin(d, axis=1) if d.shape[1] else np.zeros(len(src), dtype=np.int64)
        dist = d[np.arange(len(src)), best] if d.shape[1] else np.full(len(src), FAR)
        return best, dist

    def step_toward(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """Move action (0..3) starting a shortest path from ``src`` to ``dst`` (M,); -1 if there or unreachable.

        Ties between equally short first moves go to the first in UP, RIGHT, DOWN, LEFT order.
        """
        here, goal = self.node[src], self.node[dst]
        after = self.dist[self.neighbour[here], goal[:, None]]  # (M, 4)
        best = np.argmin(after, axis=1)
        closer = after[np.arange(len(src)), best] < self.dist[here, goal]
        return np.where(closer, best, -1)
