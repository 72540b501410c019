"""Scripted cooking agents with known behaviour, acting for all K envs at once with array code.

Roles (``ROLES``):

- ``planner``: the whole job. Each step it picks a subgoal from what it holds and the kitchen
  (serve a soup; carry a dish to a full pot; put an ingredient into a pot that is not full; with
  empty hands fetch a loose soup, else a dish when the full pots outnumber the dishes on their
  way, else an ingredient when the pots' free places outnumber the ingredients on their way), then
  walks a shortest path to the nearest cell for it and interacts. An item it cannot use now (all
  pots full) goes onto the nearest empty counter; an item it cannot use at all (no pot or serving
  cell in its part of the kitchen) goes onto a counter that the other part reaches: this is how it
  hands over on forced_coordination and coordination_required. Agent_0 decides first and agent_1
  counts agent_0's choice.
- ``ingredient``: the planner restricted to ingredients (fetches them into pots or onto counters;
  never takes dishes or soups).
- ``dish``: the planner restricted to dishes and soups (fetch a dish, take the soup, serve).
- ``idle``: always STAY.
- ``random``: uniform random actions.

Giving way (``ScriptedTeam._give_way``): a planner takes the path around its teammate when it is as
short as the direct one, when the teammate stays put, or when both want each other's cell and it
loses a coin toss; with no way around it waits, moving at random now and then (``JITTER``), and a
planner with nothing to do steps aside for a blocked teammate. Of two moves into one cell a random
one waits. ``idle`` and ``random`` agents never give way: an idle agent on the only access to a
station blocks it for good (the lazy teammate). Agents read the state (``env.state``): they are
privileged, with no memory between steps beyond their random stream. Shortest paths come from
precomputed tables (``envs.cooking.paths``), so a step is array code over all K envs.
"""

from __future__ import annotations

import numpy as np

from envs.batched import BatchedEnv, PolicyOutput, StepOutput
from envs.cooking.config import POT_CAPACITY, Action, Item
from envs.cooking.paths import INF, Paths, build_paths
from envs.cooking.tables import COUNTER, DISH_DISP, ING_DISP, POT0, SERVING
from envs.cooking.world import World

ROLES = ("planner", "ingredient", "dish", "idle", "random")
"""Scripted roles, in the order documented above."""

TAKES = {
    "planner": (Item.INGREDIENT, Item.DISH, Item.SOUP),
    "ingredient": (Item.INGREDIENT,),
    "dish": (Item.DISH, Item.SOUP),
    "idle": (),
    "random": (),
}
"""Items each role may take into empty hands."""

JITTER = 0.25
"""Probability of a random move for a planner whose teammate blocks every way to its goal."""


class ScriptedTeam:
    """One role per agent; ``act`` returns (K, 2) actions (implements ``envs.batched.BatchedPolicy``)."""

    def __init__(self, roles: list[str] | tuple[str, ...], world: World, seed: int | None = None) -> None:
        if len(roles) != 2:
            raise ValueError(f"the cooking world has 2 agents; got {len(roles)} roles")
        unknown = [r for r in roles if r not in ROLES]
        if unknown:
            raise ValueError(f"unknown scripted role(s) {unknown}; choose from: {', '.join(ROLES)}")
        self.roles = tuple(roles)
        self.planning = np.array([r not in ("idle", "random") for r in roles])  # (2,) roles that plan and give way
        self.world = world
        self.rng = np.random.default_rng(seed)
        tb = world.tables
        self.paths: Paths = build_paths(tb)
        code = np.arange(tb.num_codes)
        item = tb.item_of
        pot = code >= POT0
        self.kinds = {  # (codes,) bool: what a target cell with this code offers
            "serving": code == SERVING,
            "empty_counter": code == COUNTER,
            "ing_disp": code == ING_DISP,
            "dish_disp": code == DISH_DISP,
            "ing_counter": item == Item.INGREDIENT,
            "dish_counter": item == Item.DISH,
            "soup_counter": item == Item.SOUP,
            "pot_open": pot & ~tb.pot_full,
            "pot_full": tb.pot_full,
        }
        self.free_places = np.where(pot & ~tb.pot_full, POT_CAPACITY - tb.pot_count, 0)  # (codes,)
        statics = tb.init_cells[self.paths.targets]  # (T,) codes at reset: which targets are pots / serving cells
        reach = self.paths.reach  # (regions, T)
        self.can_pot = (reach & (statics >= POT0)).any(axis=1)  # (regions,)
        self.can_serve = (reach & (statics == SERVING)).any(axis=1)
        self.pot_side = (reach & self.can_pot[:, None]).any(axis=0)  # (T,) counters a pot-side agent reaches
        # (regions, T): counters reachable from this region and from another one that can use the item
        others = ~np.eye(len(reach), dtype=bool)
        self.hand_to_pot = reach & ((others & self.can_pot[None, :]) @ reach)
        self.hand_to_serve = reach & ((others & self.can_serve[None, :]) @ reach)

    def reset(self, env: BatchedEnv, mask: np.ndarray) -> None:
        """Scripted agents keep no memory between steps."""

    def act(self, env: BatchedEnv, out: StepOutput) -> PolicyOutput:
        state = env.state
        num_envs = state.num_envs
        codes = state.cells[:, self.paths.targets]  # (K, T)
        floor = self.paths.floor_of[state.pos]  # (K, 2)
        hold = state.hold
        # how many more ingredients / dishes the pots can use: "any" counts those held, "new" also those
        # lying on pot-side counters (fetch a new one from a dispenser only if those are not enough)
        k = self.kinds
        want_ing = self.free_places[codes].sum(axis=1) - (hold == Item.INGREDIENT).sum(axis=1)
        want_dish = k["pot_full"][codes].sum(axis=1) - (hold == Item.DISH).sum(axis=1)
        wanted = {
            "ing_any": want_ing,
            "ing_new": want_ing - (k["ing_counter"][codes] & self.pot_side).sum(axis=1),
            "dish_any": want_dish,
            "dish_new": want_dish - (k["dish_counter"][codes] & self.pot_side).sum(axis=1),
        }
        actions = np.full((num_envs, 2), int(Action.STAY), dtype=np.int64)
        detour = np.full((num_envs, 2), int(Action.STAY), dtype=np.int64)
        cost = np.full((num_envs, 2, 2), INF, dtype=np.int64)  # (K, agent, direct / detour)
        nobody = len(self.paths.component)
        for i, role in enumerate(self.roles):
            if role == "random":
                actions[:, i] = self.rng.integers(0, len(Action), num_envs)
            elif role != "idle":
                goal = self._goal(i, role, codes, floor, hold, wanted)
                actions[:, i], cost[:, i, 0] = self._plan(goal, floor[:, i], np.full(num_envs, nobody), state.dir[:, i])
                detour[:, i], cost[:, i, 1] = self._plan(goal, floor[:, i], floor[:, 1 - i], state.dir[:, i])
        self._give_way(actions, detour, cost, state.pos)
        return PolicyOutput(actions=actions)

    def _goal(self, i: int, role: str, codes: np.ndarray, floor: np.ndarray, hold: np.ndarray, wanted: dict[str, np.ndarray]) -> np.ndarray:
        """(K, T) bool: the targets agent i wants to interact with now (may be none).

        Updates ``wanted`` with what agent i sets out to fetch, so that agent_1 does not fetch it too.
        """
        k = self.kinds
        region = self.paths.component[floor[:, i]]  # (K,)
        reach = self.paths.reach[region]  # (K, T)
        can_pot, can_serve = self.can_pot[region][:, None], self.can_serve[region][:, None]
        empty = k["empty_counter"][codes]
        to_pot, to_serve = empty & self.hand_to_pot[region], empty & self.hand_to_serve[region]

        def usable(mask: np.ndarray) -> np.ndarray:  # (K, 1) some target of the mask is reachable
            return (mask & reach).any(axis=1, keepdims=True)

        full = k["pot_full"][codes]
        with_dish = np.where(can_pot, np.where(usable(full), full, empty), to_pot)
        open_pot = k["pot_open"][codes]
        with_ing = np.where(can_pot, np.where(usable(open_pot), open_pot, empty), to_pot)
        with_soup = np.where(can_serve, k["serving"][codes], to_serve)

        takes = TAKES[role]
        soup = k["soup_counter"][codes] & can_serve & (Item.SOUP in takes)
        dish = (k["dish_disp"][codes] & (wanted["dish_new"] > 0)[:, None]) | (
            k["dish_counter"][codes] & can_pot & (wanted["dish_any"] > 0)[:, None]
        )
        dish &= Item.DISH in takes
        ing = (k["ing_disp"][codes] & (wanted["ing_new"] > 0)[:, None]) | (
            k["ing_counter"][codes] & can_pot & (wanted["ing_any"] > 0)[:, None]
        )
        ing &= Item.INGREDIENT in takes
        get_soup = usable(soup)
        get_dish = ~get_soup & usable(dish)
        get_ing = ~get_soup & ~get_dish & usable(ing)
        empty_handed = np.where(get_soup, soup, np.where(get_dish, dish, get_ing & ing))
        idle = hold[:, i] == Item.NONE
        for name, got in (("dish", get_dish[:, 0]), ("ing", get_ing[:, 0])):
            wanted[f"{name}_any"] = wanted[f"{name}_any"] - (idle & got)
            wanted[f"{name}_new"] = wanted[f"{name}_new"] - (idle & got)
        choices = np.stack([empty_handed, with_ing, with_dish, with_soup])  # (4 items, K, T)
        return choices[hold[:, i], np.arange(len(codes))]

    def _give_way(self, actions: np.ndarray, detour: np.ndarray, cost: np.ndarray, pos: np.ndarray) -> None:
        """Resolve the two agents' plans, in place (K, 2); ``cost`` (K, 2, 2) of the direct / detour plan.

        An agent takes the path around its teammate when it is as short as the direct one, when the
        teammate stays where it is this step, or when both want each other's cell and it loses a coin
        toss. With no way around it waits (moving at random now and then), and a teammate with
        nothing to do steps aside. Of two moves into one cell, a random one waits.
        """
        num_envs = len(actions)
        move = self.world.tables.move
        has_goal, can_detour = cost[:, :, 0] < INF, cost[:, :, 1] < INF
        nxt = move[pos, actions]  # (K, 2) cell each would enter (walls only)
        stays, into = nxt == pos, nxt == pos[:, ::-1]
        coin = self.rng.integers(0, 2, num_envs)
        loser = np.stack([coin == 0, coin == 1], axis=1)
        yields = stays[:, ::-1] | (into[:, ::-1] & loser)
        go_around = has_goal & can_detour & ((cost[:, :, 1] <= cost[:, :, 0]) | yields)
        actions[:] = np.where(go_around, detour, actions)
        blocked = has_goal & ~go_around & into & yields
        random_move = self._random_free_moves(pos)
        jitter = blocked & (self.rng.random((num_envs, 2)) < JITTER)
        step_aside = ~has_goal & blocked[:, ::-1] & self.planning
        actions[:] = np.where(jitter | step_aside, random_move, np.where(blocked, int(Action.STAY), actions))
        nxt = move[pos, actions]
        clash = (nxt[:, 0] == nxt[:, 1]) & (nxt != pos).all(axis=1) & self.planning.any()
        waits = coin if self.planning.all() else np.full(num_envs, self.planning.argmax())  # a planner waits
        rows = np.flatnonzero(clash)
        actions[rows, waits[rows]] = Action.STAY

    def _random_free_moves(self, pos: np.ndarray) -> np.ndarray:
        """(K, 2) a random move into a free floor cell for each agent (STAY if there is none)."""
        move = self.world.tables.move
        cells = move[pos[:, :, None], np.arange(4)[None, None, :]]  # (K, 2, 4)
        free = (cells != pos[:, :, None]) & (cells != pos[:, ::-1, None])
        score = np.where(free, self.rng.random(free.shape), -1.0)
        return np.where(free.any(axis=2), score.argmax(axis=2), int(Action.STAY))

    def _plan(self, goal: np.ndarray, me: np.ndarray, avoid: np.ndarray, facing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Action (K,) towards the cheapest wanted target on paths avoiding floor cell ``avoid`` (K,)
        (F: nothing), interacting on arrival, and its cost (K,) (INF: no wanted target reachable)."""
        p = self.paths
        rows = np.arange(len(me))
        cost = np.where(goal, p.cost[avoid, me], INF)  # (K, T)
        target = cost.argmin(axis=1)
        best = cost[rows, target]
        access = p.access[avoid, me, target]
        face = p.facing[access, target]
        arrived = access == me
        action = np.where(arrived, np.where(facing == face, int(Action.INTERACT), face), p.next_move[avoid, me, access])
        return np.where(best < INF, action, int(Action.STAY)), best


def make_team(roles: list[str], world: World, seed: int | None = None) -> ScriptedTeam:
    """A scripted team for ``world``: one role per agent (see ``ROLES``)."""
    return ScriptedTeam(roles, world, seed)
