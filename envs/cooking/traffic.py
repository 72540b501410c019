"""Routes of the scripted cooks and the rules by which two of them give way, for all K envs at once.

A planning agent (``planner``, ``ingredient``, ``dish``; see ``envs.cooking.scripted``) has each
step a destination: the access cell of the target it will interact with, or its post (where it
waits). ``route`` and ``to_post`` turn that into a first action along a shortest path
(``envs.cooking.paths``), twice: the *direct* route (around an idle teammate, which never moves,
else ignoring the teammate) and the *detour* (around the teammate's current cell, whatever it is).
An agent is *patient* when it has nothing to do now: it waits at its post, or holds a dish for a
pot that is still cooking. All other planning agents are *active*.

``resolve`` fixes the actions, deterministically (no coin tosses):

1. Route choice. Next to another planning agent an agent takes the detour when it is no longer
   than the direct route. Next to a ``random`` agent it takes the detour when its direct move would
   enter the random agent's cell and the detour is at most ``DETOUR_SLACK`` steps longer (else it
   tries the move; it succeeds if the random agent steps away). An ``idle`` teammate is an obstacle
   already avoided by the direct route (and by the choice of targets).
2. Two planning agents, judged from the cells their moves would enter:
   - *head-on* (each would enter the other's cell): one yields. The yielder is the patient one if
     exactly one is patient, else agent_0 (the lower index); if it cannot yield, the other does;
     if neither can, both wait. Yielding means taking the detour when one exists, else stepping
     aside: walking, around the other, to the nearest floor cell on none of the other's shortest
     paths to its destination.
   - *one cell wanted by both*: the patient one waits, else agent_0 waits.
   - *into a standing agent*: a patient obstacle steps aside when it can. Otherwise the mover
     takes its detour, however long round a patient agent and at most ``DETOUR_SLACK`` steps
     longer round an active one (busy for a step: turning to its target or interacting), or waits.
3. No two moves into one cell remain: of such a pair a planning agent waits (agent_0 if both plan).

Two planning agents therefore never lock each other in a corridor: the yielder backs off into a
side cell or out of the corridor while the other passes, and the same agent keeps yielding until
the conflict is over. Posts (``envs.cooking.scripted``) lie off the way of an active teammate, so
a patient agent caught in a dead end walks out towards its post while the active one, which
cannot go round, backs off (the head-on rule). Idle and random agents never give way (an idle
agent on the only access to a station blocks it for good: the lazy teammate).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs.cooking.config import Action
from envs.cooking.paths import INF, Paths

DETOUR_SLACK = 4
"""Extra steps a planning agent accepts to walk round a standing teammate instead of waiting for it."""

STAY, INTERACT = int(Action.STAY), int(Action.INTERACT)


@dataclass(frozen=True)
class Route:
    """First action towards a destination for K envs (arrays (K,))."""

    action: np.ndarray
    """(K,) int64 move towards the destination; at the destination turn to the target, then INTERACT (STAY at a post)."""
    cost: np.ndarray
    """(K,) int32 steps to the destination (INF: not reachable)."""
    dest: np.ndarray
    """(K,) int64 floor index of the destination."""
    target: np.ndarray
    """(K,) int64 index of the chosen target in ``Paths.targets`` (meaningless where ``has_target`` is false)."""
    has_target: np.ndarray
    """(K,) bool a wanted target is reachable; else the destination is the post."""


@dataclass(frozen=True)
class Plan:
    """What one planning agent wants this step: its direct route, its detour, and whether it is patient."""

    direct: Route
    detour: Route
    patient: np.ndarray
    """(K,) bool nothing to do now (waiting at the post, or holding a dish for a pot still cooking)."""
    post: np.ndarray
    """(K,) int64 floor index of its post (where it waits when it has nothing to do)."""

    @property
    def detour_cost(self) -> np.ndarray:
        """(K,) cost of the detour, INF where it does not lead to the same kind of destination (target / post)."""
        return np.where(self.detour.has_target == self.direct.has_target, self.detour.cost, INF)


def route(paths: Paths, goal: np.ndarray, me: np.ndarray, avoid: np.ndarray, facing: np.ndarray) -> Route:
    """Route to the nearest target in ``goal`` (K, T) bool avoiding floor cell ``avoid`` (K,); STAY where none.

    ``me`` (K,) floor index, ``avoid`` (K,) floor index or F (nothing), ``facing`` (K,) current facing.
    Where no target is reachable the destination is ``me``: ``to_post`` sends the agent to its post.
    """
    rows = np.arange(len(me))
    cost_t = np.where(goal, paths.cost[avoid, me], INF)  # (K, T)
    target = cost_t.argmin(axis=1)
    best = cost_t[rows, target].astype(np.int32)
    has = best < INF
    dest = np.where(has, paths.access[avoid, me, target], me).astype(np.int64)
    face = paths.facing[dest, target]
    at_target = np.where(facing == face, INTERACT, face)
    action = np.where(dest == me, np.where(has, at_target, STAY), paths.next_move[avoid, me, dest]).astype(np.int64)
    return Route(action=action, cost=np.where(has, best, INF), dest=dest, target=target, has_target=has)


def to_post(r: Route, paths: Paths, post: np.ndarray, me: np.ndarray, avoid: np.ndarray) -> Route:
    """``r`` where it has a target, else the way to ``post`` (K,) floor index, avoiding ``avoid`` (K,)."""
    has = r.has_target
    action = np.where(has, r.action, paths.next_move[avoid, me, post]).astype(np.int64)
    cost = np.where(has, r.cost, paths.dist[avoid, me, post])
    return Route(action=action, cost=cost, dest=np.where(has, r.dest, post), target=r.target, has_target=has)


def on_way(paths: Paths, start: np.ndarray, dest: np.ndarray) -> np.ndarray:
    """(K, F) bool: cells on some shortest path from ``start`` to ``dest`` (K,) floor indices, agents ignored."""
    free = paths.dist[-1].astype(np.int32)  # (F, F)
    return free[start] + free[:, dest].T == free[start, dest][:, None]


def resolve(
    actions: np.ndarray,
    plans: list[Plan | None],
    kinds: tuple[str, str],
    pos: np.ndarray,
    floor: np.ndarray,
    move: np.ndarray,
    paths: Paths,
) -> None:
    """Fix the (K, 2) actions in place by the rules of the module docstring.

    ``plans[i]`` is None for a non-planning agent, whose action in ``actions`` is kept; ``kinds``
    ("plan", "idle" or "random") per agent; ``pos`` (K, 2) flat cells, ``floor`` (K, 2) floor
    indices; ``move`` (P, 6) the cell after each action (``Tables.move``).
    """
    dest = floor.copy()
    for i, plan in enumerate(plans):
        if plan is None:
            continue
        j = 1 - i
        direct, detour, detour_cost = plan.direct, plan.detour, plan.detour_cost
        if kinds[j] == "plan":
            take = detour_cost <= direct.cost
        elif kinds[j] == "random":
            take = (move[pos[:, i], direct.action] == pos[:, j]) & (detour_cost <= direct.cost + DETOUR_SLACK)
        else:
            take = np.zeros(len(actions), dtype=bool)
        actions[:, i] = np.where(take, detour.action, direct.action)
        dest[:, i] = np.where(take, detour.dest, direct.dest)
    if plans[0] is not None and plans[1] is not None:
        _give_way(actions, dest, plans, pos, floor, move, paths)
    nxt = move[pos, actions]  # (K, 2)
    clash = np.flatnonzero((nxt[:, 0] == nxt[:, 1]) & (nxt != pos).all(axis=1))
    if len(clash) and (plans[0] is not None or plans[1] is not None):
        actions[clash, 0 if plans[0] is not None else 1] = STAY


def _give_way(
    actions: np.ndarray, dest: np.ndarray, plans: list[Plan], pos: np.ndarray, floor: np.ndarray, move: np.ndarray, paths: Paths
) -> None:
    """Rule 2 of the module docstring for two planning agents, in place on ``actions`` (K, 2)."""
    rows = np.arange(len(actions))
    nxt = move[pos, actions]  # (K, 2) cell each would enter
    stays = nxt == pos
    head_on = (nxt[:, 0] == pos[:, 1]) & (nxt[:, 1] == pos[:, 0])
    same = (nxt[:, 0] == nxt[:, 1]) & ~stays.any(axis=1)
    into = (nxt == pos[:, ::-1]) & stays[:, ::-1]  # (K, 2) agent i would enter the standing teammate's cell
    if not (head_on.any() or same.any() or into.any()):
        return
    patient = np.stack([p.patient for p in plans], axis=1)  # (K, 2)
    detour_ok = np.stack([p.detour_cost < INF for p in plans], axis=1)
    detour_act = np.stack([p.detour.action for p in plans], axis=1)
    aside = [step_aside(paths, floor[:, i], floor[:, 1 - i], dest[:, 1 - i]) for i in range(2)]
    aside_act = np.stack([a for a, _ in aside], axis=1)  # (K, 2)
    aside_ok = np.stack([ok for _, ok in aside], axis=1)
    first = np.where(patient[:, 0] != patient[:, 1], patient[:, 1].astype(np.int64), 0)  # (K,) preferred yielder
    can_yield = detour_ok | aside_ok
    yielder = np.where(can_yield[rows, first], first, 1 - first)
    yield_act = np.where(detour_ok, detour_act, aside_act)
    out = actions.copy()
    k = np.flatnonzero(head_on & can_yield.any(axis=1))
    out[k, yielder[k]] = yield_act[k, yielder[k]]
    out[head_on & ~can_yield.any(axis=1)] = STAY
    k = np.flatnonzero(same)
    out[k, first[k]] = STAY
    for i in range(2):
        j = 1 - i
        blocked = into[:, i]
        clears = blocked & patient[:, j] & aside_ok[:, j]
        out[clears, j] = aside_act[clears, j]
        rest = blocked & ~clears
        plan = plans[i]
        slack = np.where(patient[:, j], INF, DETOUR_SLACK)  # round a patient agent however long, round a busy one if short
        go_round = rest & (plan.detour_cost < INF) & (plan.detour_cost <= plan.direct.cost + slack)
        out[:, i] = np.where(go_round, plan.detour.action, np.where(rest, STAY, out[:, i]))
    actions[:] = out


def step_aside(paths: Paths, me: np.ndarray, other: np.ndarray, other_dest: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First move (K,) towards the nearest cell off the other's shortest paths, walking round it, and whether one exists.

    ``me``, ``other``, ``other_dest`` (K,) floor indices. A cell is off the other's way when it is
    not its cell and lies on no shortest path from its cell to ``other_dest`` (agents ignored).
    """
    rows = np.arange(len(me))
    off_way = ~on_way(paths, other, other_dest)
    off_way[rows, other] = False
    d = np.where(off_way, paths.dist[other, me], INF)  # (K, F) steps to each such cell, round the other
    cell = d.argmin(axis=1)
    return paths.next_move[other, me, cell].astype(np.int64), d[rows, cell] < INF
