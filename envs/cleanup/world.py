"""The Cleanup rules as phases over a state of arrays with a leading env axis K.

A step (``World.step``) runs these phases in order, every agent at once:

1. ``turn``: TURN_LEFT / TURN_RIGHT rotate the facing (counter-)clockwise. Nothing else turns.
2. ``move``: UP / RIGHT / DOWN / LEFT are *absolute* moves (``envs.render.DIRECTIONS``) that keep
   the facing. A move into a wall fails. Several agents moving into one cell: one of them, drawn
   at random, moves, the others stay (as in the classic code). Moving into the cell of an agent
   that stays, or two agents swapping cells, fails; moving into a cell its agent leaves succeeds.
3. ``eat``: an agent on an apple eats it (+``apple_reward``).
4. ``beams``: FIRE_PENALTY and FIRE_CLEAN, traced simultaneously on the state after moves (see
   ``envs.cleanup.beams`` for the geometry and stopping rules). The firer of a penalty beam loses
   ``penalty_cost``; each agent hit loses ``penalty_fine`` per beam that hits it. Cleaning removes
   waste (+``clean_reward`` per cell). A beam fired during its cooldown does nothing.
5. ``grow``: with waste density d (waste cells / river cells) after cleaning, each orchard cell
   without an apple and without an agent grows one with probability
   ``apple_growth * clip((depletion - d) / (depletion - restoration), 0, 1)`` (0 once d >=
   depletion). Then, from step ``waste_start_step`` on, with probability ``waste_spawn_prob`` one
   waste cell appears on a clean river cell chosen uniformly (paused while d >= depletion if
   ``waste_pauses_at_depletion``; the classic code's loop makes this nearly one per step, we use
   the stated single draw; docs/cleanup.md, 'Waste and apples').
6. ``removal`` (when ``removal_steps`` > 0): an agent hit at step t is out of the game during
   steps t+1 .. t+R (its actions are ignored, it is not on the map, sees zeros) and is back at the
   end of step t+R on a free spawn point drawn at random, with a random facing. While out it is
   parked on ``geo.nowhere``, a wall cell below the map that no window or beam reaches, so the
   phases need no masks for it.

Actions are ``Action``: UP, RIGHT, DOWN, LEFT, TURN_LEFT, TURN_RIGHT, STAY, FIRE_PENALTY, FIRE_CLEAN.
Events are ``Event`` counts per agent and step. Randomness comes only from the generator passed
to ``reset`` and ``step``. Branches are lookup tables (``World._tables``) and masks; the only
Python loops run over agents (at most 10) in the rare move-conflict and respawn paths.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import IntEnum

import numpy as np

from envs.cleanup import render
from envs.cleanup.beams import ray_offsets, trace
from envs.cleanup.concepts import ConceptTables, Regions, concept_set
from envs.cleanup.config import Config
from envs.cleanup.maps import APPLE, WASTE, Geometry, parse_map
from envs.cleanup.observe import (
    APPLE_CH,
    CHANNELS,
    WALL_CH,
    WASTE_CH,
    Roster,
    ViewCutter,
    global_state,
    paint_agents,
    state_layout,
    static_canvas,
)
from envs.config import ConfigError, config_to_dict
from envs.render import DIRECTIONS
from envs.spec import EnvSpec, EventSpec, ObservationLayout


class Action(IntEnum):
    """The 9 actions; moves are absolute and index ``envs.render.DIRECTIONS``."""

    UP = 0
    RIGHT = 1
    DOWN = 2
    LEFT = 3
    TURN_LEFT = 4
    TURN_RIGHT = 5
    STAY = 6
    FIRE_PENALTY = 7
    FIRE_CLEAN = 8


class Event(IntEnum):
    """Per-step, per-agent event counts (the columns of ``events``)."""

    ATE_APPLE = 0
    CLEANED = 1
    FIRED_PENALTY = 2
    HIT_BY_PENALTY = 3
    PENALTY_HITS = 4
    FIRED_CLEAN = 5
    ENTERED_RIVER = 6
    ENTERED_ORCHARD = 7


EVENTS = (
    EventSpec("ate_apple", "ate an apple (0/1)"),
    EventSpec("cleaned", "waste cells removed by its cleaning beam"),
    EventSpec("fired_penalty", "fired the penalty beam (0/1; not during its cooldown)"),
    EventSpec("hit_by_penalty", "penalty beams that hit it"),
    EventSpec("penalty_hits", "agents its penalty beam hit"),
    EventSpec("fired_clean", "fired the cleaning beam (0/1; not during its cooldown)"),
    EventSpec("entered_river", "moved from a non-river cell onto a river cell"),
    EventSpec("entered_orchard", "moved from a non-orchard cell onto an orchard cell"),
)


STAY, FIRE_PENALTY, FIRE_CLEAN = int(Action.STAY), int(Action.FIRE_PENALTY), int(Action.FIRE_CLEAN)
ATE, CLEANED, FIRED_PEN, HIT_BY, PEN_HITS, FIRED_CLN, ENTERED = 0, 1, 2, 3, 4, 5, slice(6, 8)
_TURN = np.array([0, 0, 0, 0, -1, 1, 0, 0, 0])
"""Facing change of each action."""


@dataclass
class State:
    """The arrays of K Cleanup envs (N agents each)."""

    canvas: np.ndarray
    """(K, Hp * Wp, C) uint8 — the one-hot world (walls, apples, waste, river, orchard, agents); see ``observe``."""
    pos: np.ndarray
    """(K, N) int64 — padded flat cell of each agent (``geo.nowhere`` while removed)."""
    facing: np.ndarray
    """(K, N) int64 — 0 up, 1 right, 2 down, 3 left."""
    removed: np.ndarray
    """(K, N) int32 — steps left out of the game (0: in play)."""
    penalty_timer: np.ndarray
    """(K, N) int32 — steps until the penalty beam can fire again (0: ready)."""
    clean_timer: np.ndarray
    """(K, N) int32 — steps until the cleaning beam can fire again (0: ready)."""

    def copy(self) -> State:
        return State(**{f.name: np.copy(getattr(self, f.name)) for f in fields(self)})


class World:
    """Cleanup rules for one config (implements ``envs.batched.World``)."""

    def __init__(self, config: Config | None = None) -> None:
        self.config = cfg = config or Config()
        self.horizon = cfg.horizon
        self.cmap = parse_map(cfg.map)
        self.num_agents = n = cfg.num_agents
        pad = max(cfg.view_radius, cfg.beam_length, cfg.beam_width // 2, 1)
        self.geo = geo = Geometry(self.cmap, pad, extra=pad + 1)  # windows and rays from `nowhere` stay in the array
        self.windows = ViewCutter(geo, cfg.view_radius)
        self.rays = ray_offsets(cfg.beam_length, cfg.beam_width, geo.wp)  # (4, W, L)
        self.static = static_canvas(geo)
        self._tables(geo)
        regions = Regions(geo, cfg.view_radius, self.rays) if cfg.object_concepts == "regions" else None
        self.concept_tables = ConceptTables(geo, n, cfg.nearest_k, removal=cfg.removal_steps > 0, regions=regions)
        self.reward_weights = np.zeros(len(Event), dtype=np.float32)
        self.reward_weights[[ATE, CLEANED, FIRED_PEN, HIT_BY]] = (cfg.apple_reward, cfg.clean_reward, -cfg.penalty_cost, -cfg.penalty_fine)
        self.offdiag = ~np.eye(n, dtype=bool)
        agents = tuple(f"agent_{i}" for i in range(n))
        self.roster = Roster(geo, agents) if cfg.roster else None
        self.spec = EnvSpec(
            env_id="cleanup",
            agents=agents,
            action_names=tuple(a.name for a in Action),
            observation=self._layout(),
            concepts=concept_set(agents, cfg.nearest_k, cfg.object_concepts),
            events=EVENTS,
            config=config_to_dict(cfg),
            grid=(self.cmap.height, self.cmap.width),
        )
        self.state_layout = state_layout(geo, agents)

    def _layout(self) -> ObservationLayout:
        size, roster = 2 * self.config.view_radius + 1, self.roster
        channels = CHANNELS + (("roster",) if roster else ())
        if roster and len(roster.names) > size * size:
            raise ConfigError(
                f"the roster of {self.num_agents} agents needs {len(roster.names)} cells of the window; "
                f"view_radius={self.config.view_radius} has {size * size}: raise view_radius"
            )
        return ObservationLayout(
            mode="egocentric",
            shape=(size, size, len(channels)),
            channels=channels,
            high=255 if roster else 1,
            channel_high=(1,) * len(CHANNELS) + (max(roster.highs),) if roster else (),
            vector=roster.names if roster else (),
            vector_high=roster.highs if roster else (),
            description=f"north-up (not rotated) {size}x{size} window centred on the agent; beyond the map reads as wall; "
            "agents in the channel of their facing (the viewer at the centre); the window is all zeros while removed"
            + ("; the last channel packs the roster, row-major (envs.cleanup.observe)" if roster else ""),
        )

    def _tables(self, geo: Geometry) -> None:
        """Lookup tables that turn the rules' branches into gathers."""
        cfg, n_river = self.config, len(geo.river)
        self.move_offset = np.zeros(len(Action), dtype=np.int64)  # (9,) flat offset of each action (0 unless a move)
        self.move_offset[:4] = DIRECTIONS[:, 0] * geo.wp + DIRECTIONS[:, 1]
        self.fired_event = np.zeros(len(Action), dtype=np.int64)  # event column of each firing action
        self.fired_event[[FIRE_PENALTY, FIRE_CLEAN]] = FIRED_PEN, FIRED_CLN
        self.turn = (np.arange(4)[:, None] + _TURN[None, :]) % 4  # (4, 9) new facing per (facing, action)
        self.cell_type = (geo.in_river + 2 * geo.in_orchard).astype(np.int64)  # (cells,) 0 other, 1 river, 2 orchard
        self.enter = np.zeros((3, 3, 2), dtype=np.uint8)  # (old type, new type) -> entered_river, entered_orchard
        self.enter[[0, 2], 1, 0] = 1
        self.enter[[0, 1], 2, 1] = 1
        self.under = np.full(geo.cells, len(geo.orchard), dtype=np.int64)  # orchard index of a cell, or a dummy column
        self.under[geo.orchard] = np.arange(len(geo.orchard))
        density = np.arange(n_river + 1) / max(n_river, 1)
        span = cfg.depletion_threshold - cfg.restoration_threshold
        self.grow_p = (cfg.apple_growth * np.clip((cfg.depletion_threshold - density) / span, 0.0, 1.0)).astype(np.float32)
        self.waste_ok = np.arange(n_river + 1) < n_river  # per waste count: may waste appear?
        if cfg.waste_pauses_at_depletion:
            self.waste_ok &= density < cfg.depletion_threshold
        self.map_waste = (self.cmap.chars.ravel()[_inner(geo, geo.river)] == WASTE) & cfg.waste_from_map  # (nR,)
        self.map_apples = self.cmap.chars.ravel()[_inner(geo, geo.orchard)] == APPLE  # (nB,)
        self._envs: dict[int, np.ndarray] = {}
        self._slots: dict[int, np.ndarray] = {}

    def env_index(self, k: int) -> np.ndarray:
        """(K, 1) int64 env indices, cached per K (broadcasts against (K, N))."""
        if k not in self._envs:
            self._envs[k] = np.arange(k, dtype=np.int64)[:, None]
        return self._envs[k]

    def apple_slots(self, k: int) -> np.ndarray:
        """(K, nB + 1) int64, cached per K: flat canvas index of the apple channel of every orchard cell.

        The last column points at the wall channel of ``nowhere``, where writing 1 changes nothing.
        """
        if k not in self._slots:
            geo, c = self.geo, len(CHANNELS)
            cells = np.append(geo.orchard * c + APPLE_CH, geo.nowhere * c + WALL_CH)
            self._slots[k] = np.arange(k, dtype=np.int64)[:, None] * geo.cells * c + cells[None, :]
        return self._slots[k]

    # ------------------------------------------------------------------ state
    def init_state(self, num_envs: int) -> State:
        k, n = num_envs, self.num_agents
        zeros = lambda dtype: np.zeros((k, n), dtype=dtype)  # noqa: E731
        return State(
            canvas=np.zeros((k, self.geo.cells, len(CHANNELS)), dtype=np.uint8),
            pos=np.full((k, n), self.geo.nowhere, dtype=np.int64),
            facing=zeros(np.int64),
            removed=zeros(np.int32),
            penalty_timer=zeros(np.int32),
            clean_timer=zeros(np.int32),
        )

    def reset(self, state: State, mask: np.ndarray, rng: np.random.Generator) -> None:
        rows = np.flatnonzero(mask)
        if rows.size == 0:
            return
        m, n, geo, cfg = rows.size, self.num_agents, self.geo, self.config
        state.canvas[rows] = self.static
        waste = np.broadcast_to(self.map_waste, (m, len(geo.river)))
        if cfg.initial_waste > 0:
            waste = waste | (rng.random((m, len(geo.river))) < cfg.initial_waste)
        apples = np.broadcast_to(self.map_apples, (m, len(geo.orchard)))
        if cfg.initial_apples > 0:
            apples = apples | (rng.random((m, len(geo.orchard))) < cfg.initial_apples)
        state.canvas[rows[:, None], geo.river[None, :], WASTE_CH] = waste
        state.canvas[rows[:, None], geo.orchard[None, :], APPLE_CH] = apples
        order = np.argsort(rng.random((m, len(geo.spawns))), axis=1)[:, :n]
        state.pos[rows] = geo.spawns[order]
        state.facing[rows] = rng.integers(0, 4, size=(m, n))
        for timer in (state.removed, state.penalty_timer, state.clean_timer):
            timer[rows] = 0
        paint_agents(state.canvas, rows[:, None], state.pos[rows], state.facing[rows], 1)

    # ------------------------------------------------------------------- step
    def step(self, state: State, actions: np.ndarray, rng: np.random.Generator, t: np.ndarray):
        """One step of all K envs in place; returns rewards (K, N) float32, events (K, N, E) uint8, terminated (K,)."""
        k, n = actions.shape
        env = self.env_index(k)
        events = np.zeros((k, n, len(Event)), dtype=np.uint8)
        if self.config.removal_steps:
            actions = np.where(state.removed > 0, STAY, actions)  # the removed do nothing
        paint_agents(state.canvas, env, state.pos, None, 0)
        state.facing = self.turn[state.facing, actions]
        self._move(state, actions, env, rng, events)
        paint_agents(state.canvas, env, state.pos, state.facing, 1)
        self._eat(state, env, events)
        self._beams(state, actions, events)
        self._grow(state, env, rng, t)
        if self.config.removal_steps:
            self._removal(state, env, rng, events)
        rewards = events @ self.reward_weights  # (K, N) float32
        return rewards, events, np.zeros(k, dtype=bool)

    def _move(self, state: State, actions: np.ndarray, env: np.ndarray, rng: np.random.Generator, events: np.ndarray) -> None:
        old = state.pos
        target = old + self.move_offset[actions]
        target = np.where(self.geo.wall[target], old, target)
        moving = target != old
        if not np.count_nonzero(moving):
            return
        clash = ((target[:, :, None] == target[:, None, :]) | (target[:, :, None] == old[:, None, :])) & self.offdiag
        if np.count_nonzero(clash):  # some agent moves into a cell another agent holds or wants: the exact rules, on those envs only
            rows = np.flatnonzero(clash.any(axis=(1, 2)))
            target[rows] = np.where(self._resolve(moving[rows], target[rows], old[rows], rng), target[rows], old[rows])
        events[..., ENTERED] = self.enter[self.cell_type[old], self.cell_type[target]]
        state.pos = target

    def _resolve(self, moving: np.ndarray, target: np.ndarray, old: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Which moves succeed when moves clash (see the module docstring); returns ``moving`` (K, N)."""
        rival = (target[:, :, None] == target[:, None, :]) & moving[:, :, None] & moving[:, None, :] & self.offdiag
        if rival.any():  # one random winner per contested cell
            priority = rng.random(moving.shape)
            moving = moving & ~(rival & (priority[:, None, :] > priority[:, :, None])).any(axis=-1)
        into = (target[:, :, None] == old[:, None, :]) & self.offdiag & moving[:, :, None]  # i moves into j's cell
        moving = moving & ~(into & into.transpose(0, 2, 1)).any(axis=-1)  # swaps fail
        for _ in range(self.num_agents):  # into the cell of an agent that stays fails, transitively
            blocked = moving & (into & ~moving[:, None, :]).any(axis=-1)
            if not blocked.any():
                break
            moving = moving & ~blocked
        return moving

    def _eat(self, state: State, env: np.ndarray, events: np.ndarray) -> None:
        here = state.canvas[env, state.pos, APPLE_CH]  # (K, N) 0/1
        if np.count_nonzero(here):
            state.canvas[env, state.pos, APPLE_CH] = 0
            events[..., ATE] = here

    def _beams(self, state: State, actions: np.ndarray, events: np.ndarray) -> None:
        cfg = self.config
        fire = actions >= FIRE_PENALTY
        cooling = cfg.penalty_cooldown or cfg.clean_cooldown
        if cooling:
            fire &= np.where(actions == FIRE_PENALTY, state.penalty_timer, state.clean_timer) == 0
            timers = ((FIRE_PENALTY, state.penalty_timer, cfg.penalty_cooldown), (FIRE_CLEAN, state.clean_timer, cfg.clean_cooldown))
            for action, timer, cooldown in timers:
                timer[...] = np.where(fire & (actions == action), cooldown, np.maximum(timer - 1, 0))
        if not np.count_nonzero(fire):
            return
        kf, nf = np.nonzero(fire)
        action = actions[kf, nf]
        clean = action.reshape(-1, 1, 1) == FIRE_CLEAN  # (M, 1, 1)
        cells, reached, agent, waste = trace(state.canvas, kf, state.pos[kf, nf], state.facing[kf, nf], self.rays, clean)
        events[kf, nf, self.fired_event[action]] = 1
        hit = reached & agent & ~clean  # (M, W, L)
        per_firer = hit[0].size
        if np.count_nonzero(hit):
            events[kf, nf, PEN_HITS] = hit.sum(axis=(1, 2))
            at = np.flatnonzero(hit)
            shooter_env = kf[at // per_firer]
            victim = np.argmax(state.pos[shooter_env] == cells.ravel()[at][:, None], axis=1)
            np.add.at(events[..., HIT_BY], (shooter_env, victim), 1)
        cleaned = reached & waste & clean
        if np.count_nonzero(cleaned):
            events[kf, nf, CLEANED] = cleaned.sum(axis=(1, 2))
            at = np.flatnonzero(cleaned)
            state.canvas[kf[at // per_firer], cells.ravel()[at], WASTE_CH] = 0

    def _grow(self, state: State, env: np.ndarray, rng: np.random.Generator, t: np.ndarray) -> None:
        cfg, geo = self.config, self.geo
        k = len(t)
        waste = state.canvas[:, geo.river, WASTE_CH]  # (K, nR)
        count = waste.sum(axis=1)
        p = self.grow_p[count]  # (K,)
        if np.count_nonzero(p):
            grow = rng.random((k, len(geo.orchard) + 1), dtype=np.float32) < p[:, None]  # last column: not an orchard cell
            grow[env, self.under[state.pos]] = False  # nothing grows under an agent
            state.canvas.reshape(-1)[self.apple_slots(k)[grow]] = 1
        if len(geo.river) and cfg.waste_spawn_prob > 0:
            ok = self.waste_ok[count]
            if cfg.waste_start_step:
                ok &= t >= cfg.waste_start_step
            if np.count_nonzero(ok):
                u = rng.random(k)  # u < prob: waste appears, and u / prob (uniform in [0, 1)) picks the cell
                rows = np.flatnonzero(ok & (u < cfg.waste_spawn_prob))
                if rows.size:
                    clean = waste[rows] == 0  # (M, nR)
                    free = clean.sum(axis=1)
                    pick = np.minimum((u[rows] / cfg.waste_spawn_prob * free).astype(np.int64), free - 1)
                    cell = np.argmax(np.cumsum(clean, axis=1) > pick[:, None], axis=1)
                    state.canvas[rows, geo.river[cell], WASTE_CH] = 1

    def _removal(self, state: State, env: np.ndarray, rng: np.random.Generator, events: np.ndarray) -> None:
        back = state.removed == 1
        np.subtract(state.removed, 1, out=state.removed, where=state.removed > 0)
        hit = events[..., HIT_BY] > 0
        if np.count_nonzero(hit):
            kh = np.nonzero(hit)[0]
            paint_agents(state.canvas, kh, state.pos[hit], None, 0)
            state.pos[hit] = self.geo.nowhere
            state.removed[hit] = self.config.removal_steps
        if np.count_nonzero(back):
            self._respawn(state, back, rng)

    def _respawn(self, state: State, back: np.ndarray, rng: np.random.Generator) -> None:
        """Put agents where ``back`` (K, N) is true on free spawn points; where none is free, retry next step."""
        spawns = self.geo.spawns
        for j in range(self.num_agents):  # agents one at a time so two never take one spawn point
            rows = np.flatnonzero(back[:, j])
            if rows.size == 0:
                continue
            taken = (state.pos[rows][:, :, None] == spawns[None, None, :]).any(axis=1)  # (M, nP)
            score = np.where(taken, -1.0, rng.random((rows.size, len(spawns))))
            choice = np.argmax(score, axis=1)
            ok = score[np.arange(rows.size), choice] >= 0
            state.removed[rows[~ok], j] = 1
            rows, choice = rows[ok], choice[ok]
            state.pos[rows, j] = spawns[choice]
            state.facing[rows, j] = rng.integers(0, 4, size=rows.size)
            paint_agents(state.canvas, rows, state.pos[rows, j], state.facing[rows, j], 1)

    # ------------------------------------------------------------- read-outs
    def apples(self, state: State) -> np.ndarray:
        """(K, nB) bool: an apple stands on each orchard cell (``geo.orchard`` order)."""
        return state.canvas[:, self.geo.orchard, APPLE_CH].astype(bool)

    def waste(self, state: State) -> np.ndarray:
        """(K, nR) bool: waste lies on each river cell (``geo.river`` order)."""
        return state.canvas[:, self.geo.river, WASTE_CH].astype(bool)

    def observe(self, state: State) -> np.ndarray:
        obs = self.windows(state.canvas, self.env_index(len(state.pos)), state.pos)
        if self.config.removal_steps:
            out = state.removed > 0
            if np.count_nonzero(out):
                obs[out] = 0
        if self.roster is None:
            return obs
        roster = self.roster(state.canvas, state.pos, state.facing)  # (K, V)
        k, n, h, w, c = obs.shape
        full = np.zeros((k, n, h, w, c + 1), dtype=np.uint8)
        full[..., :c] = obs
        full[..., c].reshape(k, n, h * w)[:, :, : roster.shape[1]] = roster[:, None, :]
        return full

    def global_state(self, state: State) -> np.ndarray:
        """(K, H, W, 9 + N) uint8: the global state (``envs.cleanup.observe``, ``state_layout``)."""
        return global_state(state.canvas, state.pos, self.geo)

    def concepts(self, state: State) -> np.ndarray:
        return self.concept_tables(state.canvas, state.pos, state.facing, state.removed)

    def render_rgb(self, state: State, index: int) -> np.ndarray:
        return render.rgb(self.geo, self._scene(state, index))

    def render_ascii(self, state: State, index: int) -> str:
        return render.ascii(self.geo, self._scene(state, index))

    def _scene(self, state: State, index: int) -> render.Scene:
        """The arrays of env ``index`` a frame shows."""
        apples, waste = self.apples(state)[index], self.waste(state)[index]
        return render.Scene(apples, waste, state.pos[index], state.facing[index], state.removed[index])

    # ------------------------------------------------------------- scenarios
    def place_agents(self, state: State, index: int, placements: dict[int, tuple[int, int, int]]) -> None:
        """Put agents of env ``index`` on map cells, back in play: ``{agent: (row, col, facing)}``; for scenarios and tests.

        Agents not named keep their cell (or stay removed); no two agents may end on one cell.
        """
        pos, facing, removed = state.pos[index].copy(), state.facing[index].copy(), state.removed[index].copy()
        for agent, (row, col, face) in placements.items():
            pos[agent], facing[agent], removed[agent] = self.geo.index(row, col), int(face) % 4, 0
        on_map = pos[removed == 0]
        if self.geo.wall[on_map].any() or len(set(on_map.tolist())) < on_map.size:
            raise ValueError(f"placements {placements} put an agent on a wall or two agents on one cell")
        paint_agents(state.canvas, index, state.pos[index], None, 0)
        state.pos[index], state.facing[index], state.removed[index] = np.where(removed == 0, pos, self.geo.nowhere), facing, removed
        paint_agents(state.canvas, index, state.pos[index], state.facing[index], 1)

    def set_item(self, state: State, index: int, row: int, col: int, item: str, present: bool = True) -> None:
        """Put (or take away) an ``apple`` on an orchard cell or ``waste`` on a river cell; for scenarios and tests."""
        p = self.geo.index(row, col)
        cells = {"apple": (self.geo.in_orchard, APPLE_CH, "an orchard"), "waste": (self.geo.in_river, WASTE_CH, "a river")}
        if item not in cells:
            raise ValueError(f"item={item!r} is not allowed; choose one of: apple, waste")
        allowed, channel, where = cells[item]
        if not allowed[p]:
            raise ValueError(f"cell ({row}, {col}) is not {where} cell; {item} cannot be there")
        state.canvas[index, p, channel] = int(present)


def _inner(geo: Geometry, p: np.ndarray) -> np.ndarray:
    """Row-major index in the unpadded map of padded cells ``p``."""
    r, c = geo.row_col(p)
    return r * geo.cmap.width + c
