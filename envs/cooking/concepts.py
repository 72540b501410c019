"""Ground-truth concepts and per-step events of the cooking world.

Concepts follow the concept-bottleneck paper's list (Grupen et al. 2022; docs/cooking.md,
'Concepts'). Every agent's vector is the same (none is relative to the viewer). In order:

- ``agent_i.position`` (x = column / (W-1), y = row / (H-1)), ``agent_i.orientation`` (4 classes:
  up, right, down, left), ``agent_i.holding_{ing}`` / ``holding_dish`` / ``holding_soup`` (binary),
  for agent_0 then agent_1;
- ``pot_j.count`` (4 classes: 0..3 ingredients; 3 while cooking and when done) and
  ``pot_j.progress`` (scalar: steps cooked / cook_time, 0 unless full); j counts pots row-major;
- positions of up to 3 loose items of each kind lying on counters: ``counter_{ing}_m``,
  ``counter_dish_m``, ``counter_soup_m`` (m = 0..2, the first ones in row-major order of the
  counters); ``envs.spec.ABSENT`` in both coordinates when there are fewer;
- positions of the fixed objects: ``{ing}_dispenser_j``, ``dish_dispenser_j``, ``pot_j``,
  ``serving_j`` (row-major order).

Events (``event_specs``) are uint8 counts per step and agent: the interact events go to the agent
that interacted, ``blocked_move`` and ``collision`` to the agent whose move failed.
"""

from __future__ import annotations

import numpy as np

from envs.cooking.config import POT_CAPACITY, Config, item_names
from envs.cooking.tables import NUM_EVENTS, Tables
from envs.spec import ABSENT, ConceptKind, ConceptSet, ConceptSpec, EventSpec

AGENTS = ("agent_0", "agent_1")
LOOSE_PER_KIND = 3
"""Loose items of each kind whose positions are concepts."""
_CACHE = 1 << 16
"""Entries of each K = 1 cache before it is cleared."""


def event_specs(ingredient: str) -> tuple[EventSpec, ...]:
    """The 10 event columns, in the order of ``envs.cooking.tables`` (PICKED_ING .. COLLISION)."""
    ing = ingredient
    specs = (
        EventSpec(f"picked_{ing}", f"took an {ing} into empty hands (from a dispenser or a counter)"),
        EventSpec("picked_dish", "took an empty dish into empty hands (from the dispenser or a counter)"),
        EventSpec("picked_soup", "took a soup: a dish onto a cooked pot, or a soup from a counter"),
        EventSpec(f"put_{ing}_in_pot", f"put an {ing} into a pot that was not full"),
        EventSpec("delivered", "delivered a soup at a serving cell"),
        EventSpec("placed_on_counter", "put the held item down on an empty counter"),
        EventSpec("took_from_counter", "took an item from a counter"),
        EventSpec("handed_over", "took from a counter an item that the other agent put down"),
        EventSpec("blocked_move", "a move into a cell that is not floor (the agent only turned)"),
        EventSpec("collision", "a move cancelled by the other agent (same target, swap, or into it)"),
    )
    assert len(specs) == NUM_EVENTS
    return specs


class Concepts:
    """The concept spec of one config and the batched ground-truth computation.

    The vector is laid out dynamic part first (agents, pots, loose items), fixed positions last.
    """

    def __init__(self, tables: Tables, config: Config) -> None:
        self.tables = tables
        ing = config.ingredient
        items = item_names(ing)
        h, w = tables.height, tables.width
        sx, sy = 1.0 / max(w - 1, 1), 1.0 / max(h - 1, 1)
        # (P, 2) normalised x, y of every cell
        self.cell_xy = np.stack([tables.col * sx, tables.row * sy], axis=1).astype(np.float32)
        specs: list[ConceptSpec] = []
        for agent in AGENTS:
            specs.append(ConceptSpec(agent, "position", ConceptKind.POSITION, description="x = column / (W-1), y = row / (H-1)"))
            specs.append(ConceptSpec(agent, "orientation", ConceptKind.CATEGORICAL, classes=("up", "right", "down", "left")))
            specs += [ConceptSpec(agent, f"holding_{it}", ConceptKind.BINARY, description=f"1 while holding: {it}") for it in items]
        self.agent_dim = sum(s.gt_width for s in specs) // len(AGENTS)  # 6 slots per agent
        for j in range(len(tables.pot_cells)):
            specs.append(ConceptSpec(f"pot_{j}", "count", ConceptKind.CATEGORICAL, classes=tuple(map(str, range(POT_CAPACITY + 1)))))
            specs.append(ConceptSpec(f"pot_{j}", "progress", ConceptKind.SCALAR, 0.0, 1.0, description="steps cooked / cook_time"))
        self.loose_start = sum(s.gt_width for s in specs)
        for it in items:
            for m in range(LOOSE_PER_KIND):
                specs.append(
                    ConceptSpec(f"counter_{it}_{m}", "position", ConceptKind.POSITION, description=f"loose {it} number {m}; ABSENT if none")
                )
        self.dynamic_dim = sum(s.gt_width for s in specs)
        static_xy = []
        for name, cells in (
            (f"{ing}_dispenser", tables.ing_disp_cells),
            ("dish_dispenser", tables.dish_disp_cells),
            ("pot", tables.pot_cells),
            ("serving", tables.serving_cells),
        ):
            for j, cell in enumerate(cells):
                specs.append(ConceptSpec(f"{name}_{j}", "position", ConceptKind.POSITION, description="fixed"))
                static_xy.append(self.cell_xy[cell])
        self.spec = ConceptSet(specs=tuple(specs), agents=AGENTS)
        self.template = np.full((1, 2, self.spec.gt_dim), ABSENT, dtype=np.float32)  # (1, 2, D) static parts filled in
        self.template[..., self.dynamic_dim :] = np.concatenate(static_xy)
        # (P, 4, 4, 6) agent block of a cell, facing and held item
        agent = np.zeros((tables.num_cells, 4, 4, 6), dtype=np.float32)
        agent[..., 0:2] = self.cell_xy[:, None, None, :]
        agent[..., 2] = np.arange(4, dtype=np.float32)[None, :, None]
        agent[:, :, 1:, 3:] = np.eye(3, dtype=np.float32)[None, None]
        self.agent_table = agent
        self.agent_rows = agent.reshape(-1, 6)  # indexed by (cell * 4 + facing) * 4 + item
        # (codes, 2) pot block of a code
        self.pot_table = np.stack([tables.pot_count, tables.pot_cooked / tables.cook_time], axis=1).astype(np.float32)
        # loose items: (codes,) item on a counter, (3, 1) the item kinds, (n_counters, 2) counters' positions
        self.item_of = tables.item_of.astype(np.uint8)
        self.item_kinds = np.arange(1, 4, dtype=np.uint8)[:, None]
        self.counter_xy = self.cell_xy[tables.counter_cells]
        self._object_cells = np.concatenate([tables.pot_cells, tables.counter_cells])  # (n_pots + n_counters,)
        self._agent_blocks: dict[tuple[int, ...], np.ndarray] = {}
        self._object_blocks: dict[bytes, np.ndarray] = {}

    def compute(
        self, cells_flat: np.ndarray, pos: np.ndarray, dirs: np.ndarray, hold: np.ndarray, pot_idx: np.ndarray, counter_idx: np.ndarray
    ) -> np.ndarray:
        """Concepts (K, 2, D) float32; ``pot_idx`` / ``counter_idx`` (K, n) index ``cells_flat``."""
        num_envs, dim = pos.shape[0], self.template.shape[-1]
        out = np.empty((num_envs, 2, dim), dtype=np.float32)
        out[:] = self.template
        out[:, :, : 2 * self.agent_dim] = self.agent_rows[(pos * 4 + dirs) * 4 + hold].reshape(num_envs, 1, -1)
        out[:, :, 2 * self.agent_dim : self.loose_start] = self.pot_table[cells_flat[pot_idx]].reshape(num_envs, 1, -1)
        kinds = self.item_of[cells_flat[counter_idx]][:, None, :] == self.item_kinds  # (K, 3, n_counters)
        k, kind, c = np.nonzero(kinds)  # sorted by env, kind, counter
        if len(k):
            group = k * 3 + kind
            rank = np.arange(len(group)) - np.searchsorted(group, group)  # 0 for the first item of its kind, ...
            keep = rank < LOOSE_PER_KIND
            k, kind, c, rank = k[keep], kind[keep], c[keep], rank[keep]
            col = k * (2 * dim) + self.loose_start + 2 * (kind * LOOSE_PER_KIND + rank)  # in agent_0's row
            xy = self.counter_xy[c]
            flat = out.reshape(-1)
            flat[col], flat[col + 1] = xy[:, 0], xy[:, 1]
            out[:, 1, self.loose_start :] = out[:, 0, self.loose_start :]
        return out

    def compute_single(self, cells_flat: np.ndarray, pos: list[int], dirs: list[int], hold: list[int]) -> np.ndarray:
        """``compute`` for K = 1 with the agents as Python ints.

        The agents' block and the objects' block (pots and loose items, a function of the pots' and
        counters' codes) are cached in bounded dicts, so a step is a handful of numpy calls.
        """
        agents = self._agent_blocks.get((pos[0], dirs[0], hold[0], pos[1], dirs[1], hold[1]))
        if agents is None:
            agents = self._agent_block(pos, dirs, hold)
        codes = cells_flat.take(self._object_cells).tobytes()
        objects = self._object_blocks.get(codes)
        if objects is None:
            objects = self._object_block(codes)
        out = self.template.copy()
        out[0, :, : 2 * self.agent_dim] = agents
        out[0, :, 2 * self.agent_dim : self.dynamic_dim] = objects
        return out

    def _agent_block(self, pos: list[int], dirs: list[int], hold: list[int]) -> np.ndarray:
        if len(self._agent_blocks) >= _CACHE:
            self._agent_blocks.clear()
        block = self.agent_table[pos, dirs, hold].ravel()
        self._agent_blocks[(pos[0], dirs[0], hold[0], pos[1], dirs[1], hold[1])] = block
        return block

    def _object_block(self, codes: bytes) -> np.ndarray:
        if len(self._object_blocks) >= _CACHE:
            self._object_blocks.clear()
        values = np.frombuffer(codes, dtype=np.uint8)
        num_pots = len(self.tables.pot_cells)
        loose = np.full((3, LOOSE_PER_KIND, 2), ABSENT, dtype=np.float32)
        seen = [0, 0, 0]
        for m, code in enumerate(values[num_pots:].tolist()):
            kind = int(self.item_of[code]) - 1
            if kind >= 0 and seen[kind] < LOOSE_PER_KIND:
                loose[kind, seen[kind]] = self.counter_xy[m]
                seen[kind] += 1
        block = np.concatenate([self.pot_table[values[:num_pots]].ravel(), loose.ravel()])
        self._object_blocks[codes] = block
        return block
