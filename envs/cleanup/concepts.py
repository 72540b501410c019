"""Cleanup's ground-truth concepts: what every agent's concept vector holds, and how it is computed.

Following the concept-bottleneck paper's Cleanup concepts (Grupen et al. 2022; docs/cleanup.md,
'Concepts'), in this order (the same layout for every agent; ``envs.spec`` gives the slot layouts):

- per agent ``agent_j`` (all agents, the viewer included): ``position`` (x = column, y = row, each
  normalised to [0, 1]; ``ABSENT`` = -1 while removed), ``orientation`` (categorical: up, right,
  down, left), ``in_orchard``, ``in_river`` (binary; 0 while removed), ``removed`` (binary);
- the objects, by ``Config.object_concepts``:

  - ``nearest`` (the paper's): ``apple_0`` .. ``apple_{k-1}``, the ``position`` of the k apples
    nearest to the *viewing* agent, nearest first (squared Euclidean distance, ties broken by
    row-major cell order); ``ABSENT`` for missing ones (fewer than k apples standing, or the viewer
    is removed); ``waste_0`` .. ``waste_{k-1}`` the same for waste cells. These differ between
    agents, and most of them lie outside a small window: a policy cannot know them;
  - ``regions`` (this project's, knowable from the view window): ``apples.{up,right,down,left}``,
    the share of the cells of the viewer's window cone in that direction (cells d = 1..r ahead
    and at most d to the side; north-up, like the moves) that hold an apple, and
    ``waste.{up,right,down,left}``, the share of the cells its cleaning beam sweeps when fired
    facing that way (``envs.cleanup.beams``; the part inside the window, ignoring where the beam
    would stop) that hold waste. Each is a linear function of the window;
- ``env.waste_density``: waste cells / river cells, in [0, 1];
- ``env.apples``: apples standing / orchard cells, in [0, 1].

The agent and env concepts are global: a policy knows them only with ``Config.roster`` (the
observation's roster channels, ``envs.cleanup.observe``). The k-nearest search uses rank tables per
(viewer cell, target) precomputed from the distances, masked by presence and sorted along the
target axis (``Nearest``); no loop over envs or cells.
"""

from __future__ import annotations

import numpy as np

from envs.cleanup.maps import Geometry
from envs.cleanup.observe import APPLE_CH, CHANNELS, WASTE_CH
from envs.render import DIRECTIONS
from envs.spec import ABSENT, ConceptKind, ConceptSet, ConceptSpec

ORIENTATIONS = ("up", "right", "down", "left")

AGENT_WIDTH = 6
"""Ground-truth slots per agent: position (2), orientation, in_orchard, in_river, removed."""


def concept_set(agents: tuple[str, ...], k: int, objects: str = "nearest") -> ConceptSet:
    """The concept layout of a Cleanup world with these agents and its object concepts (k nearest or regions)."""
    specs: list[ConceptSpec] = []
    for agent in agents:
        specs += [
            ConceptSpec(agent, "position", ConceptKind.POSITION, description="cell (x=col, y=row) in [0,1]; -1,-1 while removed"),
            ConceptSpec(agent, "orientation", ConceptKind.CATEGORICAL, classes=ORIENTATIONS, description="facing"),
            ConceptSpec(agent, "in_orchard", ConceptKind.BINARY, description="stands on an orchard cell"),
            ConceptSpec(agent, "in_river", ConceptKind.BINARY, description="stands on a river cell"),
            ConceptSpec(agent, "removed", ConceptKind.BINARY, description="out of the game after a penalty hit"),
        ]
    if objects == "regions":
        specs += [
            ConceptSpec("apples", d, ConceptKind.SCALAR, description=f"share of the viewer's window cone {d} (north-up) holding an apple")
            for d in ORIENTATIONS
        ]
        specs += [
            ConceptSpec("waste", d, ConceptKind.SCALAR, description=f"share of the cleaning beam's cells, fired facing {d}, holding waste")
            for d in ORIENTATIONS
        ]
    else:
        for kind, what in (("apple", "apple"), ("waste", "waste cell")):
            specs += [
                ConceptSpec(
                    f"{kind}_{i}",
                    "position",
                    ConceptKind.POSITION,
                    description=f"the viewer's {i + 1}. nearest {what}; -1,-1 if none",
                )
                for i in range(k)
            ]
    specs += [
        ConceptSpec("env", "waste_density", ConceptKind.SCALAR, description="waste cells / river cells"),
        ConceptSpec("env", "apples", ConceptKind.SCALAR, description="apples standing / orchard cells"),
    ]
    return ConceptSet(specs=tuple(specs), agents=tuple(agents))


class Nearest:
    """The k present targets nearest to each agent, for several groups of targets (apples, waste) at once.

    Each group g (orchard cells, river cells) gets ``width_g = max(n_g, k)`` slots; with fewer than k
    targets, dummy slots on the ``nowhere`` cell (never present) fill it. Per viewer cell p, the
    table ``rank[p, s]`` holds the place of slot s in p's distance order within its group, offset
    so that every rank of group g is above every rank of the groups before it, with one sentinel
    rank per group (``offset_g + width_g``) for absent targets. Masking absent slots to their
    sentinel and sorting a row puts each group's present slots first, nearest first, then its
    sentinels: group g's k nearest sit at sorted places ``start_g .. start_g + k`` where ``start_g``
    is the number of slots before the group. ``xy[p * R + rank]`` decodes a rank (ABSENT for a
    sentinel). A viewer on ``nowhere`` (removed) gets only sentinels.
    """

    def __init__(self, geo: Geometry, groups: list[np.ndarray], k: int) -> None:
        self.k = k
        self.sizes = [len(g) for g in groups]
        widths = [max(n, k) for n in self.sizes]
        self.span = sum(widths) + len(groups)  # ranks 0 .. span - 1, sentinels included
        # uint32, not uint16: numpy's 16-bit sort is ~7x slower than its 32-bit one on AVX2-only CPUs (on AVX-512
        # ones it is ~1.7x faster): the 32-bit sort is the one with no bad case
        if self.span >= np.iinfo(np.uint32).max:
            raise ValueError(f"too many targets ({self.span}) for the uint32 rank tables")
        cells, ranks, absent, picks = [], [], [], []
        xy = np.full((geo.cells, self.span, 2), ABSENT, dtype=np.float32)
        offset = start = 0
        for targets, n, width in zip(groups, self.sizes, widths, strict=True):
            dist = geo.sq_dist(targets) * width + np.arange(n)[None, :]  # (cells, n): ties by target order
            dist = np.concatenate([dist, np.full((geo.cells, width - n), np.iinfo(np.int64).max)], axis=1)
            order = np.argsort(dist, axis=1, kind="stable")  # (cells, width): slot in each place
            rank = np.empty_like(order)
            np.put_along_axis(rank, order, np.arange(width)[None, :], axis=1)
            rank[geo.nowhere] = width
            ranks.append(rank + offset)
            where = np.append(geo.xy[targets], np.full((width - n + 1, 2), ABSENT, dtype=np.float32), axis=0)
            xy[:, offset : offset + width] = where[order]
            cells.append(np.append(targets, np.full(width - n, geo.nowhere)))
            absent.append(np.full(width, offset + width))
            picks.append(np.arange(start, start + k))
            offset, start = offset + width + 1, start + width
        self.cells = np.concatenate(cells)
        """(slots,) padded cell of every slot, group after group."""
        self.rank = np.concatenate(ranks, axis=1).astype(np.uint32)  # (cells, slots)
        self.absent = np.concatenate(absent).astype(np.uint32)  # (slots,) the sentinel rank of each slot
        self.pick = np.concatenate(picks)  # (groups * k,) sorted places holding each group's k nearest
        self.xy = xy.reshape(-1, 2)

    def __call__(self, present: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """(K, N, groups * k, 2) float32 positions; ``present`` (K, slots) uint8 0/1 over ``cells``, ``pos`` (K, N)."""
        k_envs, n = pos.shape
        ranks = np.take(self.rank, pos, axis=0)  # (K, N, slots)
        floor = (present ^ 1) * self.absent  # (K, slots) uint32: the sentinel where absent, 0 where present
        # broadcasting over N costs a loop per row: repeat instead when there are many rows
        floor = np.repeat(floor, n, axis=0).reshape(ranks.shape) if k_envs > 4 else floor[:, None, :]
        np.maximum(ranks, floor, out=ranks)
        ranks.sort(axis=-1)
        return np.take(self.xy, pos[..., None] * self.span + ranks[..., self.pick], axis=0)


class Regions:
    """Per viewer, the share of apples in its four window cones and of waste in its four beam footprints.

    Both are weighted sums over the (2r+1)^2 - 1 window cells around the viewer: one gather of the
    apple and waste channels at fixed flat offsets, one matrix product each.
    """

    def __init__(self, geo: Geometry, radius: int, rays: np.ndarray) -> None:
        dy, dx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
        keep = (dy != 0) | (dx != 0)
        dy, dx = dy[keep], dx[keep]
        self.offsets = (dy * geo.wp + dx).astype(np.int64)  # (M,) flat offsets of the window cells
        cone = np.zeros((len(self.offsets), 4), dtype=np.float32)
        for d, (fy, fx) in enumerate(DIRECTIONS[:4]):
            ahead, side = dy * fy + dx * fx, np.abs(dy * fx - dx * fy)
            cone[:, d] = (ahead >= 1) & (side <= ahead)
        footprint = np.zeros_like(cone)
        for d in range(4):
            footprint[:, d] = np.isin(self.offsets, rays[d].ravel())
        self.weights = np.stack([cone / cone.sum(0), footprint / np.maximum(footprint.sum(0), 1)])  # (2, M, 4)

    def __call__(self, canvas: np.ndarray, env: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """(K, N, 8) float32: apple shares (up, right, down, left), then waste shares."""
        cells = canvas[env[..., None], pos[..., None] + self.offsets, APPLE_CH : WASTE_CH + 1]  # (K, N, M, 2)
        cells = cells.astype(np.float32)
        return np.concatenate([cells[..., 0] @ self.weights[0], cells[..., 1] @ self.weights[1]], axis=-1)


class ConceptTables:
    """Precomputed tables and the per-step computation of the (K, N, D) ground-truth concepts."""

    def __init__(self, geo: Geometry, num_agents: int, k: int, removal: bool, regions: Regions | None = None) -> None:
        self.num_agents, self.k, self.removal = num_agents, k, removal
        self.nearest = Nearest(geo, [geo.orchard, geo.river], k)
        self.regions = regions
        self.dim = num_agents * AGENT_WIDTH + (8 if regions else 4 * k) + 2
        cell = np.zeros((geo.cells, AGENT_WIDTH), dtype=np.float32)  # per cell: x, y, -, in_orchard, in_river, -
        cell[:, 0:2] = geo.xy
        cell[:, 3] = geo.in_orchard
        cell[:, 4] = geo.in_river
        cell[geo.nowhere, 0:2] = ABSENT
        self.cell = cell
        channels = np.repeat([APPLE_CH, WASTE_CH], [max(len(geo.orchard), k), max(len(geo.river), k)])
        self.items = self.nearest.cells * len(CHANNELS) + channels
        """Flat (cell * C + channel) canvas index of every apple slot, then every waste slot."""
        n_apples, n_river = self.nearest.sizes
        self.count = np.zeros((len(self.items), 2), dtype=np.float32)  # present @ count = (waste cells, apples)
        self.count[len(self.items) - max(n_river, k) :][:n_river, 0] = 1.0
        self.count[:n_apples, 1] = 1.0
        self.size = np.array([max(n_river, 1), max(n_apples, 1)], dtype=np.float32)

    def __call__(self, canvas: np.ndarray, pos: np.ndarray, facing: np.ndarray, removed: np.ndarray) -> np.ndarray:
        """Concepts (K, N, D) float32 from the canvas (K, cells, C) and the agents' arrays (K, N)."""
        k_envs, n = pos.shape
        present = np.take(canvas.reshape(k_envs, -1), self.items, axis=1)  # (K, apple slots + waste slots) 0/1
        agent = np.take(self.cell, pos, axis=0)  # (K, N, 6)
        agent[..., 2] = facing
        if self.removal:
            agent[..., 5] = removed > 0
        out = np.empty((k_envs, n, self.dim), dtype=np.float32)
        a = n * AGENT_WIDTH
        out[:, :, :a] = agent.reshape(k_envs, 1, a)
        if self.regions is None:
            out[:, :, a:-2] = self.nearest(present, pos).reshape(k_envs, n, 4 * self.k)
        else:
            out[:, :, a:-2] = self.regions(canvas, np.arange(k_envs)[:, None], pos)
        out[:, :, -2:] = ((present @ self.count) / self.size)[:, None, :]
        return out
