"""Cleanup's ground-truth concepts: what every agent's concept vector holds, and how it is computed.

Following the concept-bottleneck paper's Cleanup concepts (Grupen et al. 2022; REFERENCE §2), in
this order (the same layout for every agent; ``envs.spec`` gives the slot layouts):

- per agent ``agent_j`` (all agents, the viewer included): ``position`` (x = column, y = row, each
  normalised to [0, 1]; ``ABSENT`` = -1 while removed), ``orientation`` (categorical: up, right,
  down, left), ``in_orchard``, ``in_river`` (binary; 0 while removed), ``removed`` (binary);
- ``apple_0`` .. ``apple_{k-1}``: ``position`` of the k apples nearest to the *viewing* agent, nearest
  first (squared Euclidean distance, ties broken by row-major cell order); ``ABSENT`` for missing
  ones (fewer than k apples standing, or the viewer is removed). These differ between agents;
- ``waste_0`` .. ``waste_{k-1}``: the same for waste cells;
- ``env.waste_density``: waste cells / river cells, in [0, 1];
- ``env.apples``: apples standing / orchard cells, in [0, 1].

The k-nearest search uses rank tables per (viewer cell, target) precomputed from the distances,
masked by presence and sorted along the target axis (``Nearest``); no loop over envs or cells.
"""

from __future__ import annotations

import numpy as np

from envs.cleanup.maps import Geometry
from envs.cleanup.observe import APPLE_CH, CHANNELS, WASTE_CH
from envs.spec import ABSENT, ConceptKind, ConceptSet, ConceptSpec

ORIENTATIONS = ("up", "right", "down", "left")
AGENT_WIDTH = 6
"""Ground-truth slots per agent: position (2), orientation, in_orchard, in_river, removed."""


def concept_set(agents: tuple[str, ...], k: int) -> ConceptSet:
    """The concept layout of a Cleanup world with these agents and k nearest apples / waste cells."""
    specs: list[ConceptSpec] = []
    for agent in agents:
        specs += [
            ConceptSpec(agent, "position", ConceptKind.POSITION, description="cell (x=col, y=row) in [0,1]; -1,-1 while removed"),
            ConceptSpec(agent, "orientation", ConceptKind.CATEGORICAL, classes=ORIENTATIONS, description="facing"),
            ConceptSpec(agent, "in_orchard", ConceptKind.BINARY, description="stands on an orchard cell"),
            ConceptSpec(agent, "in_river", ConceptKind.BINARY, description="stands on a river cell"),
            ConceptSpec(agent, "removed", ConceptKind.BINARY, description="out of the game after a penalty hit"),
        ]
    for kind, what in (("apple", "apple"), ("waste", "waste cell")):
        specs += [
            ConceptSpec(f"{kind}_{i}", "position", ConceptKind.POSITION, description=f"the viewer's {i + 1}. nearest {what}; -1,-1 if none")
            for i in range(k)
        ]
    specs += [
        ConceptSpec("env", "waste_density", ConceptKind.SCALAR, description="waste cells / river cells"),
        ConceptSpec("env", "apples", ConceptKind.SCALAR, description="apples standing / orchard cells"),
    ]
    return ConceptSet(specs=tuple(specs), agents=tuple(agents))


class Nearest:
    """The k targets (orchard or river cells) nearest to each agent among those present.

    Tables, per viewer cell p: ``rank[p, t]`` the place of target t in p's distance order and
    ``order[p, r]`` the target in place r. Masking absent targets to the sentinel rank and sorting
    the (uint16) ranks gives the k nearest present targets in order; the sentinel maps to ABSENT.
    With fewer than k targets, dummy targets on the ``nowhere`` cell (never present) fill the list;
    a viewer on ``nowhere`` (removed) sees only the sentinel.
    """

    def __init__(self, geo: Geometry, targets: np.ndarray, k: int) -> None:
        self.n, self.k = len(targets), k
        width = max(self.n, k)
        if width >= np.iinfo(np.uint16).max:
            raise ValueError(f"too many targets ({width}) for the uint16 rank tables")
        self.cells = np.concatenate([targets, np.full(width - self.n, geo.nowhere, dtype=np.int64)])
        """(width,) padded cells of the targets, dummies last."""
        dist = geo.sq_dist(targets) * width + np.arange(self.n)[None, :]  # (cells, n): ties by target index
        dist = np.concatenate([dist, np.full((geo.cells, width - self.n), np.iinfo(np.int64).max)], axis=1)
        order = np.argsort(dist, axis=1, kind="stable")  # (cells, width)
        self.rank = np.empty_like(order, dtype=np.uint16)
        np.put_along_axis(self.rank, order, np.arange(width, dtype=np.uint16)[None, :], axis=1)
        self.rank[geo.nowhere] = width
        self.width = width
        xy = np.full((width + 1, 2), ABSENT, dtype=np.float32)  # per target, and the sentinel (ABSENT)
        xy[: self.n] = geo.xy[targets]
        order = np.concatenate([order, np.full((geo.cells, 1), width)], axis=1)  # (cells, width + 1)
        self.xy_by_rank = xy[order].reshape(-1, 2)
        """(cells * (width + 1), 2): position of the target in place r from cell p, at row p * (width + 1) + r."""
        self.mask = np.array([width, 0], dtype=np.uint16)
        """Indexed by presence (0/1): the rank floor of an absent (sentinel) and a present target."""

    def __call__(self, present: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """(K, N, k, 2) float32 positions; ``present`` (K, width) uint8 0/1 over ``cells``, ``pos`` (K, N)."""
        if not present.any():
            return np.full((*pos.shape, self.k, 2), ABSENT, dtype=np.float32)
        k_envs, n = pos.shape
        ranks = np.take(self.rank, pos, axis=0)  # (K, N, width)
        floor = np.take(self.mask, present)  # (K, width)
        # broadcasting over N costs a loop per row: repeat instead when there are many rows
        floor = np.repeat(floor, n, axis=0).reshape(ranks.shape) if k_envs > 4 else floor[:, None, :]
        np.maximum(ranks, floor, out=ranks)
        ranks.sort(axis=-1)
        return np.take(self.xy_by_rank, pos[..., None] * (self.width + 1) + ranks[..., : self.k], axis=0)


class ConceptTables:
    """Precomputed tables and the per-step computation of the (K, N, D) ground-truth concepts."""

    def __init__(self, geo: Geometry, num_agents: int, k: int, removal: bool) -> None:
        self.num_agents, self.k, self.removal = num_agents, k, removal
        self.apples = Nearest(geo, geo.orchard, k)
        self.waste = Nearest(geo, geo.river, k)
        self.dim = num_agents * AGENT_WIDTH + 4 * k + 2
        cell = np.zeros((geo.cells, AGENT_WIDTH), dtype=np.float32)  # per cell: x, y, -, in_orchard, in_river, -
        cell[:, 0:2] = geo.xy
        cell[:, 3] = geo.in_orchard
        cell[:, 4] = geo.in_river
        cell[geo.nowhere, 0:2] = ABSENT
        self.cell = cell
        channels = len(CHANNELS)
        self.items = np.concatenate([self.apples.cells * channels + APPLE_CH, self.waste.cells * channels + WASTE_CH])
        """Flat (cell * C + channel) canvas index of every apple slot, then every waste slot."""
        wa = self.apples.width
        self.count = np.zeros((len(self.items), 2), dtype=np.float32)  # present @ count = (waste cells, apples)
        self.count[wa : wa + self.waste.n, 0] = 1.0
        self.count[: self.apples.n, 1] = 1.0
        self.size = np.array([max(self.waste.n, 1), max(self.apples.n, 1)], dtype=np.float32)

    def __call__(self, canvas: np.ndarray, pos: np.ndarray, facing: np.ndarray, removed: np.ndarray) -> np.ndarray:
        """Concepts (K, N, D) float32 from the canvas (K, cells, C) and the agents' arrays (K, N)."""
        k_envs, n = pos.shape
        present = np.take(canvas.reshape(k_envs, -1), self.items, axis=1)  # (K, apple slots + waste slots) 0/1
        wa = self.apples.width
        agent = np.take(self.cell, pos, axis=0)  # (K, N, 6)
        agent[..., 2] = facing
        if self.removal:
            agent[..., 5] = removed > 0
        out = np.empty((k_envs, n, self.dim), dtype=np.float32)
        a, k2 = n * AGENT_WIDTH, 2 * self.k
        out[:, :, :a] = agent.reshape(k_envs, 1, a)
        out[:, :, a : a + k2] = self.apples(present[:, :wa], pos).reshape(k_envs, n, k2)
        out[:, :, a + k2 : a + 2 * k2] = self.waste(present[:, wa:], pos).reshape(k_envs, n, k2)
        out[:, :, -2:] = ((present @ self.count) / self.size)[:, None, :]
        return out
