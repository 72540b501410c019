"""Scripted Cleanup agents with known behaviour, acting for all K envs at once.

They read the privileged state (``env.state``: the canvas, positions, facings) and walk along
shortest paths: walking distances between all walkable cells (ignoring other agents) are computed
once per world with ``scipy.sparse.csgraph`` (``Navigator``); every query is an array lookup for
all agents at once. Roles (``ROLES``):

- ``cleaner``: cleans the river. If its cleaning beam, fired now, would remove waste, it fires; else
  if it would for another facing, it turns towards that facing; else it walks towards the nearest
  waste cell (other than the one under it, which its beam cannot reach). With no such waste it steps
  off the waste it stands on, if any, or else walks to the nearest river cell and stays. Never fines.
- ``harvester``: eats apples. It walks towards the nearest standing apple (walking distance). When no
  apple stands anywhere, it walks to the nearest orchard cell and then wanders with uniformly random
  moves (stepping out of the orchard sends it back). Never turns, cleans or fines.
- ``free_rider``: harvests only what comes to it. Outside the orchard it walks to the nearest orchard
  cell; inside, it steps towards the nearest apple if one is within ``FREE_RIDER_REACH`` moves and
  otherwise stays put. Never turns, cleans or fines.
- ``punisher``: fines agents that do not clean. An agent is a *slacker* once it has gone
  ``PATIENCE`` steps of the episode without cleaning (nobody is one before step ``PATIENCE``). If its
  penalty beam would hit a slacker now, it fires (at most once every ``PUNISH_EVERY`` steps); else if
  it would for another facing, it turns; otherwise it harvests like a harvester. Never cleans.
- ``idle``: always STAY (an agent that contributes nothing; the knock-out of ``marl.study``'s ``idle``
  probe, and the filler of the trained seats in a mixed team, ``marl.seats``).
- ``random``: uniform over the 9 actions.

An agent (other than ``random`` and ``idle``) whose move failed last step (blocked by another agent) moves at
random this step, so two agents never lock each other forever. The team's own generator (seeded by
``make_team``) draws these random moves. ``population("2 cleaners + 3 harvesters")`` gives a roles
list for a mixed population.
"""

from __future__ import annotations

import re

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import shortest_path

from envs.batched import BatchedEnv, PolicyOutput, StepOutput
from envs.cleanup.beams import trace
from envs.cleanup.maps import Geometry
from envs.cleanup.observe import APPLE_CH, WASTE_CH
from envs.cleanup.world import CLEANED, FIRE_CLEAN, FIRE_PENALTY, STAY, Action, World
from envs.config import check_choice
from envs.render import DIRECTIONS

ROLES = ("cleaner", "harvester", "free_rider", "punisher", "idle", "random")
"""Scripted roles (see the module docstring)."""
FREE_RIDER_REACH = 3
"""Moves a free rider walks for an apple."""
PATIENCE = 100
"""Steps without cleaning after which the punisher treats an agent as a slacker."""
PUNISH_EVERY = 5
"""Fewest steps between two penalty beams of one punisher."""


def population(spec: str) -> list[str]:
    """Roles from text like ``"2 cleaners + 3 harvesters"`` or ``"cleaner, 2 free riders"`` (in that order)."""
    roles: list[str] = []
    for part in re.split(r"[+,]", spec):
        part = part.strip().lower()
        if not part:
            continue
        match = re.fullmatch(r"(?:(\d+)\s*(?:x\s*)?)?([a-z_\- ]+?)", part)
        if match is None:
            raise ValueError(f"cannot read {part!r} in {spec!r}; write e.g. '2 cleaners + 3 harvesters'")
        count = int(match.group(1) or 1)
        name = re.sub(r"[\s\-]+", "_", match.group(2))
        if name not in ROLES and name.endswith("s") and name[:-1] in ROLES:
            name = name[:-1]
        check_choice("scripted role", name, ROLES)
        roles += [name] * count
    if not roles:
        raise ValueError(f"no roles in {spec!r}")
    return roles


FAR = np.iinfo(np.int16).max
"""Distance to an unreachable cell (and from the parking cell of removed agents)."""


class Navigator:
    """Walking distances between the walkable cells of one map, and moves along shortest paths."""

    def __init__(self, geo: Geometry) -> None:
        self.geo = geo
        walk = np.flatnonzero(~geo.wall)  # padded cells one can stand on
        n = len(walk)
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


def make_team(roles: list[str], world: World, seed: int | None = None) -> ScriptedTeam:
    """A ``envs.batched.BatchedPolicy`` playing ``roles`` (one per agent) in ``world``."""
    return ScriptedTeam(roles, world, seed)


class ScriptedTeam:
    """Scripted agents for every agent slot of a Cleanup BatchedEnv (see the module docstring)."""

    def __init__(self, roles: list[str], world: World, seed: int | None = None) -> None:
        roles = list(roles)
        if len(roles) != world.num_agents:
            raise ValueError(f"{len(roles)} roles for {world.num_agents} agents")
        for role in roles:
            check_choice("scripted role", role, ROLES)
        self.roles = tuple(roles)
        self.world = world
        self.rng = np.random.default_rng(seed)
        self.nav = Navigator(world.geo)
        self.groups = {role: np.array([i for i, r in enumerate(roles) if r == role]) for role in ROLES if role in roles}
        self.steered = np.array([r != "random" for r in roles])  # agents that unstick themselves
        self._k = -1

    def _ensure(self, k: int) -> None:
        if k != self._k:
            n = self.world.num_agents
            self._k = k
            self.last_pos = np.full((k, n), -1, dtype=np.int64)
            self.last_move = np.zeros((k, n), dtype=bool)
            self.since_clean = np.zeros((k, n), dtype=np.int64)
            self.since_fire = np.full((k, n), PUNISH_EVERY, dtype=np.int64)

    def reset(self, env: BatchedEnv, mask: np.ndarray) -> None:
        self._ensure(env.num_envs)
        for tracker, value in ((self.last_pos, -1), (self.last_move, False), (self.since_clean, 0), (self.since_fire, PUNISH_EVERY)):
            tracker[mask] = value

    def act(self, env: BatchedEnv, out: StepOutput) -> PolicyOutput:
        self._ensure(env.num_envs)
        new = out.t == 0
        if new.any():
            self.reset(env, new)
        self.since_clean = np.where(out.events[..., CLEANED] > 0, 0, self.since_clean + 1)
        self.since_fire += 1
        state = env.state
        actions = np.full(state.pos.shape, STAY, dtype=np.int64)
        for role, agents in self.groups.items():
            actions[:, agents] = getattr(self, f"_{role}")(state, agents)
        stuck = self.last_move & (state.pos == self.last_pos) & (actions < 4) & self.steered
        actions[stuck] = self.rng.integers(0, 4, size=int(stuck.sum()))
        self.last_pos = state.pos.copy()
        self.last_move = actions < 4
        self.since_fire[actions == FIRE_PENALTY] = 0
        return PolicyOutput(actions=actions)

    # ------------------------------------------------------------------ roles
    @staticmethod
    def _idle(state, agents: np.ndarray) -> np.ndarray:
        return np.full((len(state.pos), len(agents)), STAY, dtype=np.int64)

    def _random(self, state, agents: np.ndarray) -> np.ndarray:
        return self.rng.integers(0, len(Action), size=(len(state.pos), len(agents)))

    def _harvester(self, state, agents: np.ndarray) -> np.ndarray:
        geo = self.world.geo
        env, pos, _ = self._locate(state, agents)
        act, dist = self._walk(pos, geo.orchard, state.canvas[env[:, None], geo.orchard[None, :], APPLE_CH].astype(bool))
        none = dist >= FAR
        if none.any():  # no apple: to the orchard, then wander
            home, _ = self._walk(pos[none], geo.orchard)
            act[none] = np.where(home >= 0, home, self.rng.integers(0, 4, size=none.sum()))
        return np.where(act >= 0, act, STAY).reshape(len(state.pos), len(agents))

    def _free_rider(self, state, agents: np.ndarray) -> np.ndarray:
        geo = self.world.geo
        env, pos, _ = self._locate(state, agents)
        act, dist = self._walk(pos, geo.orchard, state.canvas[env[:, None], geo.orchard[None, :], APPLE_CH].astype(bool))
        act[dist > FREE_RIDER_REACH] = -1
        outside = ~geo.in_orchard[pos]
        if outside.any():
            act[outside] = self._walk(pos[outside], geo.orchard)[0]
        return np.where(act >= 0, act, STAY).reshape(len(state.pos), len(agents))

    def _cleaner(self, state, agents: np.ndarray) -> np.ndarray:
        geo = self.world.geo
        env, pos, facing = self._locate(state, agents)
        gain = self._beam_value(state, env, pos, clean=True)  # (M, 4) waste each facing would clean
        waste = state.canvas[env[:, None], geo.river[None, :], WASTE_CH].astype(bool)
        under = geo.river[None, :] == pos[:, None]  # its beam never reaches its own cell
        act, dist = self._walk(pos, geo.river, waste & ~under)
        none = dist >= FAR
        if none.any():  # no other waste: step off waste it stands on, else go to the river and wait
            act[none] = self._walk(pos[none], geo.river)[0]
            off = none & (waste & under).any(axis=1)
            act[off] = self.rng.integers(0, 4, size=off.sum())
        act = np.where(act >= 0, act, STAY)
        return self._aim(act, gain, facing, FIRE_CLEAN).reshape(len(state.pos), len(agents))

    def _punisher(self, state, agents: np.ndarray) -> np.ndarray:
        env, pos, facing = self._locate(state, agents)
        slacker = self.since_clean >= PATIENCE  # (K, N)
        gain = self._beam_value(state, env, pos, clean=False, slacker=slacker)  # (M, 4) slackers hit
        ready = (self.since_fire[:, agents].ravel() >= PUNISH_EVERY) & (state.penalty_timer[:, agents].ravel() == 0)
        act = self._harvester(state, agents).ravel()
        return self._aim(act, np.where(ready[:, None], gain, 0), facing, FIRE_PENALTY).reshape(len(state.pos), len(agents))

    # ---------------------------------------------------------------- helpers
    @staticmethod
    def _locate(state, agents: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Env, cell and facing (M,) of these agents in every env, M = K * len(agents), env-major."""
        env = np.repeat(np.arange(len(state.pos)), len(agents))
        return env, state.pos[:, agents].ravel(), state.facing[:, agents].ravel()

    def _walk(self, pos: np.ndarray, targets: np.ndarray, present: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """First move (-1: there, or none) towards the nearest present target (all if ``present`` is None), and its distance."""
        if present is None:
            present = np.ones((len(pos), len(targets)), dtype=bool)
        target, dist = self.nav.nearest(pos, targets, present)
        return self.nav.step_toward(pos, targets[target]), dist

    @staticmethod
    def _aim(act: np.ndarray, gain: np.ndarray, facing: np.ndarray, fire: int) -> np.ndarray:
        """Fire if the current facing gains, else turn towards a facing that gains, else ``act``."""
        m = np.arange(len(act))
        best = np.argmax(gain, axis=1)
        turn = np.where((best - facing) % 4 == 3, int(Action.TURN_LEFT), int(Action.TURN_RIGHT))
        act = np.where(gain[m, best] > 0, turn, act)
        return np.where(gain[m, facing] > 0, fire, act)

    def _beam_value(self, state, env: np.ndarray, pos: np.ndarray, clean: bool, slacker: np.ndarray | None = None) -> np.ndarray:
        """(M, 4): for each agent and facing, waste cells its cleaning beam would clean or slackers its penalty beam would hit."""
        m = len(pos)
        env4, pos4 = np.repeat(env, 4), np.repeat(pos, 4)
        facing4 = np.tile(np.arange(4), m)
        flag = np.full((m * 4, 1, 1), clean)
        cells, reached, agent, waste = trace(state.canvas, env4, pos4, facing4, self.world.rays, flag)
        if clean:
            return (reached & waste).sum(axis=(1, 2)).reshape(m, 4)
        hit = reached & agent
        r, w, i = np.nonzero(hit)
        victim = np.argmax(state.pos[env4[r]] == cells[r, w, i][:, None], axis=1)
        value = np.zeros(m * 4, dtype=np.int64)
        np.add.at(value, r, slacker[env4[r], victim].astype(np.int64))
        return value.reshape(m, 4)
