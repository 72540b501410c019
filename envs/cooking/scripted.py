"""Scripted cooking agents with known behaviour, acting for all K envs at once with array code.

They read the state (``env.state``: privileged, exact) and keep no memory between steps. Each
step an agent of a planning role (planner, ingredient, dish) picks a *goal* (the targets it wants
to interact with now, from what it holds and what the kitchen needs), walks a shortest path to
the nearest one, turns to it and interacts; with no goal it walks to its *post* and waits there.
Walking and giving way to the teammate are ``envs.cooking.traffic`` (deterministic rules: an agent
walks round a teammate in its way when it can, and two planning agents never lock each other).
Agent_0 decides first; agent_1 counts what agent_0 sets out to fetch.

Terms. A *region* is a connected part of the floor (agents ignored). *Pot-side* counters are those
an agent in a region with a pot reaches. A region without a pot (a serving cell) *hands over*:
onto an empty counter that a region with a pot (serving cell) also reaches (forced_coordination,
coordination_required). *Needed ingredients* = free places in the pots minus ingredients held by
agents in regions with a pot; *needed dishes* = full pots (cooking or done) minus dishes held
likewise; a fetch from a dispenser counts also the items lying on pot-side counters. A target is
*reachable* by a shortest path; beside an idle teammate, by one that walks round it.

Roles (``ROLES``), each policy exactly (first matching rule):

- ``planner``, the whole job. Holding a soup: to a serving cell (no serving cell in its region:
  onto a hand-over counter). Holding a dish: to a full pot (waiting there while it cooks), else
  onto the nearest empty counter (a hand-over counter if its region has no pot). Holding an
  ingredient: into a pot that is not full, else onto the nearest empty counter (hand over
  likewise). Empty hands: a soup lying on a counter (if it can serve); else, while dishes are
  needed and a full pot is reachable (or it hands over), the nearest dish on a pot-side counter
  or at a dispenser (the dispenser only while the counters do not cover the need); else
  ingredients likewise (with a pot that is not full); else it waits at its post.
- ``ingredient``, ingredient-only (never takes a dish or a soup). Empty hands: the nearest
  ingredient at a dispenser, always, or on a pot-side counter while ingredients are needed and a
  pot that is not full is reachable. Holding an ingredient: into a pot that is not full; else
  onto an empty pot-side (hand-over) counter while fewer than ``STOCK`` ingredients lie on
  pot-side counters; else it waits at its post holding it. So beside an idle partner it fills
  every pot it reaches, stocks ``STOCK`` more and waits ready.
- ``dish``, dish-and-serve-only (never takes an ingredient). Holding a soup: as the planner.
  Holding a dish: to a full pot (waiting there while it cooks); else, in a region without a pot,
  onto a hand-over counter while fewer dishes than pots lie on pot-side counters; else it waits
  at its post holding the dish. Empty hands: a soup lying on a counter (if it can serve), else
  the nearest dish at a dispenser or on a pot-side counter, always: it keeps a dish ready.
- ``idle``: always STAY. ``random``: uniform random actions (from the team's generator).

A planning agent holding an item outside its role (possible only through exploration noise)
puts it on the nearest empty counter. *Patient* (it gives way first, ``envs.cooking.traffic``):
an agent with no goal, or holding a dish for a pot still cooking. *Post*: the reachable floor
cell, other than the teammate's cell, agent_0's post and any cell on the way of a teammate that
has a target, that ranks best: alone in its region, the cell nearest a pot (a hand-over counter
in a region without a pot); sharing the region, first parking cells (``envs.cooking.paths``: they
give access to no pot, dispenser or serving cell) that cut nothing, then cells that cut nothing,
then parking cells, then the rest, each nearest a pot likewise; ties by distance. With nothing
allowed it waits where it stands.

Exploration noise (``make_team(..., epsilon=...)``, one probability or one per agent): each step,
with that probability, an agent's scripted action is replaced by a uniform random one (default 0;
it applies to every role, idle included). With epsilon 0 the planning roles are deterministic;
the team's seed only drives ``random`` agents and the noise.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from envs.batched import BatchedEnv, PolicyOutput, StepOutput
from envs.config import ConfigError, check_choice
from envs.cooking import traffic
from envs.cooking.config import POT_CAPACITY, Action, Item
from envs.cooking.paths import INF, Paths, build_paths
from envs.cooking.tables import COUNTER, DISH_DISP, ING_DISP, POT0, SERVING
from envs.cooking.world import World

ROLES = ("planner", "ingredient", "dish", "idle", "random")
"""Scripted roles, in the order documented above."""

PLANNING = ("planner", "ingredient", "dish")
"""Roles that plan (pick goals, walk shortest paths, give way)."""

NONE, INGREDIENT, DISH, SOUP = (int(item) for item in Item)

STOCK = POT_CAPACITY
"""Ingredients an ``ingredient`` agent keeps lying on pot-side counters beyond what the pots take."""


class ScriptedTeam:
    """One role per agent; ``act`` returns (K, 2) actions (implements ``envs.batched.BatchedPolicy``)."""

    def __init__(self, roles: Sequence[str], world: World, seed: int | None = None, epsilon: float | Sequence[float] = 0.0) -> None:
        roles = tuple(roles)
        if len(roles) != 2:
            raise ValueError(f"the cooking world has 2 agents; got {len(roles)} roles")
        for role in roles:
            check_choice("scripted role", role, ROLES)
        self.roles = roles
        self.kinds = tuple("plan" if r in PLANNING else r for r in roles)
        self.epsilon = _check_epsilon(epsilon)
        self.world = world
        self.rng = np.random.default_rng(seed)
        tb = world.tables
        self.paths: Paths = build_paths(tb)
        p = self.paths
        code = np.arange(tb.num_codes)
        pot = code >= POT0
        self.masks = {  # (codes,) bool: what a target cell with this code offers
            "serving": code == SERVING,
            "empty_counter": code == COUNTER,
            "ing_disp": code == ING_DISP,
            "dish_disp": code == DISH_DISP,
            "ing_counter": tb.item_of == Item.INGREDIENT,
            "dish_counter": tb.item_of == Item.DISH,
            "soup_counter": tb.item_of == Item.SOUP,
            "pot_open": pot & ~tb.pot_full,
            "pot_full": tb.pot_full,
            "pot_cooking": tb.pot_full & (tb.pot_cooked < tb.cook_time),
        }
        self.free_places = np.where(pot & ~tb.pot_full, POT_CAPACITY - tb.pot_count, 0)  # (codes,)
        statics = tb.init_cells[p.targets]  # (T,) codes at reset: which targets are pots / serving cells
        reach = p.reach  # (regions, T)
        self.can_pot = (reach & (statics >= POT0)).any(axis=1)  # (regions,)
        self.can_serve = (reach & (statics == SERVING)).any(axis=1)
        self.pot_side = (reach & self.can_pot[:, None]).any(axis=0)  # (T,) targets a pot-side agent reaches
        others = ~np.eye(len(reach), dtype=bool)  # (regions, T): counters shared with another region that uses the item
        self.hand_to_pot = reach & ((others & self.can_pot[None, :]) @ reach)
        self.hand_to_serve = reach & ((others & self.can_serve[None, :]) @ reach)
        self.num_pots = len(tb.pot_cells)
        self.post_rank = self._post_ranks(statics)  # (2, F)

    def _post_ranks(self, statics: np.ndarray) -> np.ndarray:
        """(2, F) int64 rank of each floor cell as a post (lower is better; the distance to it is added).

        Row 0, alone in a region: the nearest to a pot of the region (to a hand-over counter in a
        region without a pot). Row 1, sharing the region with the teammate: first cells that are
        parking cells and cut nothing (an agent waiting there leaves a way round it), then cells that
        cut nothing, then parking cells, then the rest; within each, the nearest to a pot likewise.
        """
        p = self.paths
        region = p.component  # (F,)
        home = np.where(self.can_pot[region][:, None], (statics >= POT0)[None, :], self.hand_to_pot[region] | self.hand_to_serve[region])
        score = np.where(home, p.cost[-1], INF).min(axis=1).astype(np.int32)  # (F,) steps to the nearest home station
        score = np.where(score < INF, score, 0)
        tier = np.where(p.cut, 2, 0) + np.where(p.parking, 0, 1)  # 0 parking & no cut, 1 no cut, 2 parking & cut, 3 neither
        return np.stack([score, tier * INF + score]).astype(np.int64) * 4 * INF

    def reset(self, env: BatchedEnv, mask: np.ndarray) -> None:
        """Scripted agents keep no memory between steps."""

    def act(self, env: BatchedEnv, out: StepOutput) -> PolicyOutput:
        state = env.state
        num_envs = state.num_envs
        p = self.paths
        codes = state.cells[:, p.targets]  # (K, T)
        floor = p.floor_of[state.pos]  # (K, 2)
        have = {name: table[codes] for name, table in self.masks.items()}  # (K, T) each
        needs = self._needs(codes, have, state.hold, self.can_pot[p.component[floor]])
        actions = np.full((num_envs, 2), int(Action.STAY), dtype=np.int64)
        planning = [i for i, role in enumerate(self.roles) if role in PLANNING]
        for i, role in enumerate(self.roles):
            if role == "random":
                actions[:, i] = self.rng.integers(0, len(Action), num_envs)
        avoid = {i: self._obstacle(i, floor) for i in planning}
        goals = {
            i: self._goal(self.roles[i], have, needs, p.component[floor[:, i]], p.cost[avoid[i], floor[:, i]] < INF, state.hold[:, i])
            for i in planning
        }
        direct = {i: traffic.route(p, goals[i], floor[:, i], avoid[i], state.dir[:, i]) for i in planning}
        plans: list[traffic.Plan | None] = [None, None]
        taken = np.full(num_envs, -1, dtype=np.int64)  # agent_0's post, which agent_1 leaves free
        for i in planning:
            teammate = direct.get(1 - i)
            post = self._post(i, floor, avoid[i], taken, teammate)
            taken = np.where(direct[i].has_target, -1, post)
            plans[i] = self._plan(i, goals[i], direct[i], post, floor, avoid[i], state.hold[:, i], state.dir[:, i], have)
        traffic.resolve(actions, plans, self.kinds, state.pos, floor, self.world.tables.move, p)
        if self.epsilon.any():
            noisy = self.rng.random((num_envs, 2)) < self.epsilon
            actions = np.where(noisy, self.rng.integers(0, len(Action), (num_envs, 2)), actions)
        return PolicyOutput(actions=actions)

    def _needs(self, codes: np.ndarray, have: dict[str, np.ndarray], hold: np.ndarray, pot_side: np.ndarray) -> dict[str, np.ndarray]:
        """(K,) counts: ingredients / dishes the pots can use (``*_any``), beyond pot-side counters (``*_new``), stocks.

        ``hold`` (K, 2) held items; ``pot_side`` (K, 2) bool the agent's region has a pot (only its items are on their way).
        """
        stock_ing = (have["ing_counter"] & self.pot_side).sum(axis=1)
        stock_dish = (have["dish_counter"] & self.pot_side).sum(axis=1)
        want_ing = self.free_places[codes].sum(axis=1) - ((hold == INGREDIENT) & pot_side).sum(axis=1)
        want_dish = have["pot_full"].sum(axis=1) - ((hold == DISH) & pot_side).sum(axis=1)
        return {
            "ing_any": want_ing,
            "ing_new": want_ing - stock_ing,
            "dish_any": want_dish,
            "dish_new": want_dish - stock_dish,
            "stock_ing": stock_ing,
            "stock_dish": stock_dish,
        }

    def _obstacle(self, i: int, floor: np.ndarray) -> np.ndarray:
        """(K,) floor cell agent i's direct routes avoid: an idle teammate's (it never moves), else F (none)."""
        if self.roles[1 - i] == "idle":
            return floor[:, 1 - i]
        return np.full(len(floor), self.paths.num_floor, dtype=np.int64)

    def _plan(
        self,
        i: int,
        goal: np.ndarray,
        direct: traffic.Route,
        post: np.ndarray,
        floor: np.ndarray,
        avoid: np.ndarray,
        hold: np.ndarray,
        facing: np.ndarray,
        have: dict,
    ) -> traffic.Plan:
        """Agent i's routes (direct, and round its teammate) to its goal or its post, and its patience."""
        p = self.paths
        me, other = floor[:, i], floor[:, 1 - i]
        direct = traffic.to_post(direct, p, post, me, avoid)
        detour = traffic.to_post(traffic.route(p, goal, me, other, facing), p, post, me, other)
        at_cooking = have["pot_cooking"][np.arange(len(me)), direct.target] & (hold == DISH)
        patient = ~direct.has_target | at_cooking
        return traffic.Plan(direct=direct, detour=detour, patient=patient, post=post)

    def _goal(self, role: str, have: dict, needs: dict, region: np.ndarray, reach: np.ndarray, hold: np.ndarray) -> np.ndarray:
        """(K, T) bool: the targets the agent wants to interact with now (may be none: it goes to its post).

        Updates ``needs`` with what the agent sets out to fetch, so that agent_1 does not fetch it too.
        """
        can_pot, can_serve = self.can_pot[region][:, None], self.can_serve[region][:, None]  # (K, 1)
        empty = have["empty_counter"]
        hand_over = empty & np.where(can_pot, self.pot_side, self.hand_to_pot[region])  # stock / hand-over counters
        full, open_pot = have["pot_full"], have["pot_open"]
        use_full, use_open = (full & reach).any(axis=1, keepdims=True), (open_pot & reach).any(axis=1, keepdims=True)  # (K, 1)
        wanted = {name: (needs[name] > 0)[:, None] for name in ("ing_any", "ing_new", "dish_any", "dish_new")}
        with_soup = np.where(can_serve, have["serving"], empty & self.hand_to_serve[region])
        if role == "planner":
            with_ing = np.where(can_pot, np.where(use_open, open_pot, empty), hand_over)
            with_dish = np.where(can_pot, np.where(use_full, full, empty), hand_over)
            dish = (have["dish_disp"] & wanted["dish_new"]) | (have["dish_counter"] & can_pot & wanted["dish_any"])
            dish &= use_full | ~can_pot  # worth fetching
            ing = (have["ing_disp"] & wanted["ing_new"]) | (have["ing_counter"] & can_pot & wanted["ing_any"])
            ing &= use_open | ~can_pot
            soup = have["soup_counter"] & can_serve
        elif role == "ingredient":
            with_ing = np.where(use_open, open_pot, hand_over & (needs["stock_ing"] < STOCK)[:, None])
            with_dish = with_soup = empty
            ing = have["ing_disp"] | (have["ing_counter"] & can_pot & wanted["ing_any"] & use_open)
            dish = soup = np.zeros_like(empty)
        else:  # dish
            with_ing = empty
            spare = (needs["stock_dish"] < self.num_pots)[:, None]
            with_dish = np.where(use_full, full, ~can_pot & hand_over & spare)  # a pot, else (no pot) hand over
            dish = have["dish_disp"] | (have["dish_counter"] & can_pot)
            soup, ing = have["soup_counter"] & can_serve, np.zeros_like(empty)
        get_soup = (soup & reach).any(axis=1, keepdims=True)  # (K, 1) soup first, then a dish, then an ingredient
        get_dish = ~get_soup & (dish & reach).any(axis=1, keepdims=True)
        get_ing = ~get_soup & ~get_dish & (ing & reach).any(axis=1, keepdims=True)
        empty_handed = (get_soup & soup) | (get_dish & dish) | (get_ing & ing)
        free = hold == NONE
        for name, got in (("dish", get_dish[:, 0]), ("ing", get_ing[:, 0])):
            for kind in ("any", "new"):
                needs[f"{name}_{kind}"] = needs[f"{name}_{kind}"] - (free & got)
        h = hold[:, None]
        return np.where(h == NONE, empty_handed, np.where(h == INGREDIENT, with_ing, np.where(h == DISH, with_dish, with_soup)))

    def _post(self, i: int, floor: np.ndarray, avoid: np.ndarray, taken: np.ndarray, teammate: traffic.Route | None) -> np.ndarray:
        """(K,) floor index where agent i waits (see the module docstring for the order of preference).

        Never the teammate's cell, ``taken`` (agent_0's post) or a cell on the way of a teammate that
        has a target (``teammate``: its direct route); the agent's own cell if nothing else is left.
        """
        p = self.paths
        me, other = floor[:, i], floor[:, 1 - i]
        cells = np.arange(p.num_floor)
        d = p.dist[avoid, me].astype(np.int32)  # (K, F)
        ok = (d < INF) & (cells != other[:, None]) & (cells != taken[:, None])
        if teammate is not None:
            ok &= ~(traffic.on_way(p, other, teammate.dest) & teammate.has_target[:, None])
        shared = p.component[me] == p.component[other]  # (K,) the teammate may be in the way
        key = np.where(ok, self.post_rank[shared.astype(np.int64)] + d, np.iinfo(np.int64).max)
        return np.where(ok.any(axis=1), key.argmin(axis=1), me)


def _check_epsilon(epsilon: float | Sequence[float]) -> np.ndarray:
    """(2,) float64 per-agent exploration noise; a ConfigError names the field and the allowed values."""
    values = [epsilon, epsilon] if isinstance(epsilon, int | float) and not isinstance(epsilon, bool) else epsilon
    try:
        out = np.array(list(values), dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"epsilon={epsilon!r} must be a number in [0, 1] or one per agent (2 numbers)") from None
    if out.shape != (2,) or not np.isfinite(out).all() or (out < 0).any() or (out > 1).any():
        raise ConfigError(f"epsilon={epsilon!r} is not allowed; give a probability in [0, 1], or one per agent (2 of them)")
    return out


def make_team(roles: Sequence[str], world: World, seed: int | None = None, epsilon: float | Sequence[float] = 0.0) -> ScriptedTeam:
    """A scripted team for ``world``: one role per agent (see ``ROLES``), with optional exploration noise."""
    return ScriptedTeam(roles, world, seed, epsilon)
