"""The cooking world's rules over a batched state (K envs x 2 agents), as named step phases.

Classic Overcooked dynamics (Carroll et al. 2019; the same in JaxMARL and Melting Pot;
docs/cooking.md, 'Rules'):

1. ``_move``: a move turns the agent to face its direction; it also moves it if the faced cell is
   floor. Two agents moving into one cell, or swapping cells, both stay (moving into a standing
   agent is the same case); moving into the cell the other agent leaves this step is allowed.
2. ``_interact``: INTERACT acts on the faced cell, using position and facing from before the step
   (an interacting agent does not move). Resolved in agent order: agent_0 first, and agent_1 sees
   its result. See ``envs.cooking.tables`` for the transition table.
3. ``_cook``: every full pot that is not done cooks one step (so a pot filled this step has cooked
   1 step at the end of it; the soup is ready ``cook_time`` steps after filling, counting that one).
4. ``_rewards``: each delivered soup gives ``delivery_reward`` to every agent (team reward). With
   shaping on, the agent that did the act alone gets: ingredient into a pot, a dish taken from the
   dispenser while some pot is full (cooking or done, judged after this step's interacts), a soup
   taken from a pot; all scaled by ``World.shaping_scale`` (1.0; training may anneal it to 0).
   With ``shaping_shared`` every agent gets the sum of both agents' shaping instead.
5. events (``concepts.event_specs``): the interact row's events plus failed moves.

There is no terminal state; ``envs.batched.BatchedEnv`` truncates at the horizon. Reset empties
hands, pots and counters and puts the agents on the layout's start cells facing up; with
``Config.random_start`` each agent starts instead on a random floor cell of its own region (the
two distinct), facing a random direction, drawn from the env's generator (``_random_starts``).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from envs.config import config_to_dict, replace
from envs.cooking import render
from envs.cooking.concepts import AGENTS, Concepts, event_specs
from envs.cooking.config import Action, Config
from envs.cooking.observe import Observer, state_layout
from envs.cooking.paths import floor_regions
from envs.cooking.tables import BLOCKED, COLLISION, NUM_EVENTS, Tables, build_tables
from envs.spec import EnvSpec


@dataclass(eq=False)
class State:
    """K cooking envs as arrays, all updated in place (``flat`` stays a view of ``cells``)."""

    cells: np.ndarray
    """(K, P) uint8 code of every padded cell (see ``envs.cooking.tables``)."""
    agents: np.ndarray
    """(3, K, 2) int64: ``pos`` (flat cell), ``dir`` (0 up, 1 right, 2 down, 3 left) and ``hold``
    (``Item``) of each agent; read them through the (contiguous) views below."""
    flat: np.ndarray
    """(K*P,) view of ``cells``."""
    offset: np.ndarray
    """(K, 1, 1) int64 first index of each env in ``flat`` (constant)."""
    pot_idx: np.ndarray
    """(K, n_pots) int64 pots' indices in ``flat`` (constant)."""
    counter_idx: np.ndarray
    """(K, n_counters) int64 counters' indices in ``flat`` (constant)."""
    obs_base: np.ndarray
    """(K, 2, 1, 1) int64 offsets of each view in an observation buffer (constant)."""

    @property
    def pos(self) -> np.ndarray:
        """(K, 2) view: flat cell of each agent."""
        return self.agents[0]

    @property
    def dir(self) -> np.ndarray:
        """(K, 2) view: facing of each agent."""
        return self.agents[1]

    @property
    def hold(self) -> np.ndarray:
        """(K, 2) view: held item of each agent."""
        return self.agents[2]

    @property
    def num_envs(self) -> int:
        return self.cells.shape[0]


class World:
    """The cooking rules of one ``Config`` (implements ``envs.batched.World``)."""

    def __init__(self, config: Config | None = None) -> None:
        self.config = config = config or Config()
        pad = config.view_size // 2 if config.obs_mode == "egocentric" else 0
        self.tables: Tables = build_tables(config, max(pad, 1))
        self.observer = Observer(self.tables, config)
        self.state_observer = self.observer if config.obs_mode == "global" else Observer(self.tables, replace(config, obs_mode="global"))
        self.state_layout = state_layout(self.state_observer)
        self.concept_maker = Concepts(self.tables, config)
        self.horizon = config.horizon
        self.spec = EnvSpec(
            env_id="cooking",
            agents=AGENTS,
            action_names=tuple(a.name.lower() for a in Action),
            observation=self.observer.layout,
            concepts=self.concept_maker.spec,
            events=event_specs(config.ingredient),
            config=config_to_dict(config),
            team_reward="mean",
            grid=(self.tables.layout.height, self.tables.layout.width),
        )
        tb = self.tables
        static = ("move", "blocked", "new_dir", "interact_delta", "row_base", "next_code", "next_hold", "tick", "pot_full", "pot_cells")
        self._py = SimpleNamespace(**{k: getattr(tb, k).tolist() for k in static})  # the tables as lists, for K = 1
        self._py.has_event = tb.events.any(axis=1).tolist()
        self._delivery = tb.delivered * np.float32(config.delivery_reward)  # (R,) team reward of a row
        self._py.delivery = self._delivery.tolist()
        self.shaping_scale = 1.0
        floor_cells, region = floor_regions(tb)
        start_region = region[np.searchsorted(floor_cells, tb.starts)]  # (2,)
        self._start_cells = tuple(floor_cells[region == r] for r in start_region)  # each agent's region, (n_i,) flat cells
        self._shared_start = bool(start_region[0] == start_region[1])

    @property
    def shaping_scale(self) -> float:
        """Multiplier of the shaping rewards (no effect when ``config.shaping`` is off); set it to anneal."""
        return self._shaping_scale

    @shaping_scale.setter
    def shaping_scale(self, value: float) -> None:
        self._shaping_scale = float(value)
        cfg, shaping = self.config, self.tables.shaping
        scale = float(value) if cfg.shaping else 0.0
        self._shaping_on = scale != 0.0
        # (R,) shaping of a row: always paid (into pot, soup pickup) / paid while some pot is full (dish)
        self._shape_fixed = (shaping[:, 0] * cfg.shaping_ingredient_in_pot + shaping[:, 2] * cfg.shaping_soup_pickup) * scale
        self._shape_dish = shaping[:, 1] * (cfg.shaping_dish_pickup * scale)
        self._py.shape_fixed, self._py.shape_dish = self._shape_fixed.tolist(), self._shape_dish.tolist()

    # ---- state -------------------------------------------------------------------------------

    def init_state(self, num_envs: int) -> State:
        tb = self.tables
        cells = np.zeros((num_envs, tb.num_cells), dtype=np.uint8)
        offset = np.arange(num_envs, dtype=np.int64)[:, None] * tb.num_cells
        agents = np.zeros((3, num_envs, 2), dtype=np.int64)
        agents[0] = tb.starts
        return State(
            cells=cells,
            agents=agents,
            flat=cells.reshape(-1),
            offset=offset[:, :, None],
            pot_idx=offset + tb.pot_cells,
            counter_idx=offset + tb.counter_cells,
            obs_base=self.observer.buffer_base(num_envs),
        )

    def reset(self, state: State, mask: np.ndarray, rng: np.random.Generator) -> None:
        state.cells[mask] = self.tables.init_cells
        state.hold[mask] = 0
        if self.config.random_start:
            state.pos[mask], state.dir[mask] = self._random_starts(int(np.count_nonzero(mask)), rng)
        else:
            state.pos[mask] = self.tables.starts
            state.dir[mask] = Action.UP

    def _random_starts(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Start cells (n, 2) and facings (n, 2) for n resets: uniform over each agent's region, distinct."""
        cells0, cells1 = self._start_cells
        i0 = rng.integers(0, len(cells0), n)
        if self._shared_start:  # draw agent_1 among the other cells of the same region
            i1 = rng.integers(0, len(cells1) - 1, n)
            i1 += i1 >= i0
        else:
            i1 = rng.integers(0, len(cells1), n)
        return np.stack([cells0[i0], cells1[i1]], axis=1), rng.integers(0, 4, (n, 2))

    # ---- step phases -------------------------------------------------------------------------

    def step(self, state: State, actions: np.ndarray, rng: np.random.Generator, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if state.num_envs == 1:
            return self._step_single(state, actions)
        targets = state.pos + self.tables.interact_delta[actions, state.dir] + state.offset[:, :, 0]  # (K, 2) faced cells
        blocked, collided = self._move(state, actions)
        rows = self._interact(state, targets)
        self._cook(state)
        rewards = self._rewards(state, rows)
        events = self.tables.events[rows]  # (K, 2, E)
        events[:, :, BLOCKED] = blocked
        events[:, :, COLLISION] = collided
        return rewards, events, np.zeros(state.num_envs, dtype=bool)

    def _move(self, state: State, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Turn and move both agents; returns blocked (K, 2) and collided (K, 2) bool."""
        tb = self.tables
        old = state.pos
        want = tb.move[old, actions]  # (K, 2) target after walls
        blocked = tb.blocked[old, actions]
        state.dir[:] = tb.new_dir[actions, state.dir]
        w0, w1 = want[:, 0], want[:, 1]
        conflict = (w0 == w1) | ((w0 == old[:, 1]) & (w1 == old[:, 0]))
        conflict = conflict[:, None]  # (K, 1)
        collided = conflict & (want != old)
        state.pos[:] = np.where(conflict, old, want)
        return blocked, collided

    def _interact(self, state: State, targets: np.ndarray) -> np.ndarray:
        """Apply each agent's interact in agent order; returns transition rows (K, 2).

        A non-interacting agent's target is its own (floor) cell, whose rows change nothing.
        """
        tb, flat, hold = self.tables, state.flat, state.hold
        rows = np.empty_like(targets)
        for i in range(2):
            target = targets[:, i]
            row = tb.row_base[i][flat[target]] + hold[:, i]
            flat[target] = tb.next_code[row]
            hold[:, i] = tb.next_hold[row]
            rows[:, i] = row
        return rows

    def _cook(self, state: State) -> None:
        state.flat[state.pot_idx] = self.tables.tick[state.flat[state.pot_idx]]

    def _rewards(self, state: State, rows: np.ndarray) -> np.ndarray:
        """(K, 2) float32: the team's delivery reward to both, shaping to the actor."""
        delivered = self._delivery[rows]  # (K, 2)
        team = delivered[:, 0] + delivered[:, 1]
        if not self._shaping_on:
            return np.repeat(team[:, None], 2, axis=1)
        any_full = self.tables.pot_full[state.flat[state.pot_idx]].any(axis=1)  # (K,)
        shaped = self._shape_fixed[rows] + self._shape_dish[rows] * any_full[:, None]  # (K, 2)
        if self.config.shaping_shared:
            shaped = np.repeat(shaped.sum(axis=1, keepdims=True), 2, axis=1)
        return (shaped + team[:, None]).astype(np.float32, copy=False)

    def _step_single(self, state: State, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``step`` for K = 1 on Python ints: the same table lookups, phase for phase.

        At K = 1 numpy's per-call overhead (~1 us a call) would dominate; this path reads the same
        tables as lists. The rule scenarios (``tests/envs/cooking``) run on both paths and a random
        rollout on every layout checks that they agree step for step.
        """
        py, flat, agents = self._py, state.flat, state.agents
        ((a0, a1),), (((p0, p1),), ((d0, d1),), ((h0, h1),)) = actions.tolist(), agents.tolist()
        t0, t1 = p0 + py.interact_delta[a0][d0], p1 + py.interact_delta[a1][d1]
        # move
        w0, w1 = py.move[p0][a0], py.move[p1][a1]
        c0 = c1 = False
        if w0 == w1 or (w0 == p1 and w1 == p0):
            c0, c1, w0, w1 = w0 != p0, w1 != p1, p0, p1
        agents[0, 0, 0], agents[0, 0, 1] = w0, w1
        agents[1, 0, 0], agents[1, 0, 1] = py.new_dir[a0][d0], py.new_dir[a1][d1]
        # interact, agent_0 first
        r0 = py.row_base[0][flat[t0]] + h0
        flat[t0] = py.next_code[r0]
        r1 = py.row_base[1][flat[t1]] + h1
        flat[t1] = py.next_code[r1]
        agents[2, 0, 0], agents[2, 0, 1] = py.next_hold[r0], py.next_hold[r1]
        # cook
        for cell in py.pot_cells:
            flat[cell] = py.tick[flat[cell]]
        # rewards and events
        rewards = np.zeros((1, 2), dtype=np.float32)
        team = py.delivery[r0] + py.delivery[r1]
        s0 = s1 = 0.0
        if self._shaping_on:
            full = any(py.pot_full[flat[cell]] for cell in py.pot_cells)
            s0 = py.shape_fixed[r0] + py.shape_dish[r0] * full
            s1 = py.shape_fixed[r1] + py.shape_dish[r1] * full
            if self.config.shaping_shared:
                s0 = s1 = s0 + s1
        if team or s0 or s1:
            rewards[0, 0], rewards[0, 1] = team + s0, team + s1
        events = np.zeros((1, 2, NUM_EVENTS), dtype=np.uint8)
        if py.has_event[r0] or py.has_event[r1]:
            events[0] = self.tables.events.take((r0, r1), 0)
        b0, b1 = py.blocked[p0][a0], py.blocked[p1][a1]
        if b0 or b1 or c0 or c1:
            events[0, 0, BLOCKED], events[0, 1, BLOCKED], events[0, 0, COLLISION], events[0, 1, COLLISION] = b0, b1, c0, c1
        return rewards, events, np.zeros(1, dtype=bool)

    # ---- views -------------------------------------------------------------------------------

    def observe(self, state: State) -> np.ndarray:
        """(K, 2, Vh, Vw, C) uint8; see ``envs.cooking.observe``."""
        if state.num_envs == 1:
            (pos,), (dirs,), (hold,) = state.agents.tolist()
            return self.observer.observe_single(state.flat, pos, dirs, hold)
        return self.observer.observe(state.flat, state.pos, state.dir, state.hold, state.offset, state.obs_base)

    def global_state(self, state: State) -> np.ndarray:
        """(K, H, W, C) uint8: the global state, agent_0's global view (``envs.cooking.observe``, ``state_layout``)."""
        so = self.state_observer
        return so.observe(state.flat, state.pos, state.dir, state.hold, state.offset, so.buffer_base(state.num_envs))[:, 0]

    def concepts(self, state: State) -> np.ndarray:
        """(K, 2, D) float32; see ``envs.cooking.concepts``."""
        if state.num_envs == 1:
            (pos,), (dirs,), (hold,) = state.agents.tolist()
            return self.concept_maker.compute_single(state.flat, pos, dirs, hold)
        return self.concept_maker.compute(state.flat, state.pos, state.dir, state.hold, state.pot_idx, state.counter_idx)

    def render_rgb(self, state: State, index: int) -> np.ndarray:
        return render.rgb(self.tables, state.cells[index], state.pos[index], state.dir[index], state.hold[index], self.config.ingredient)

    def render_ascii(self, state: State, index: int) -> str:
        return render.ascii(self.tables, self.config.ingredient, state.cells[index], state.pos[index], state.dir[index], state.hold[index])
