"""The cooking world's config, actions and item codes.

Constants are the classic ones (Carroll et al. 2019; docs/cooking.md, 'Constants and rewards'):
horizon 400, pots take 3 ingredients and cook for 20 steps, a delivered soup scores 20 for the
whole team, and optional dense shaping of 3 (ingredient into a pot), 3 (dish picked from the
dispenser while some pot is full, i.e. cooking or done) and 5 (soup picked from a pot).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from envs.config import ConfigError, check_choice, check_range
from envs.cooking.layouts import Layout, get_layout, parse_layout

INGREDIENTS = ("onion", "tomato")
"""Allowed ingredient names (the recipe is always 3 of the one ingredient)."""

OBS_MODES = ("egocentric", "global")
"""Observation modes: a window centred on the agent, or the whole kitchen."""

POT_CAPACITY = 3
"""Ingredients a pot takes; it starts cooking by itself when it holds this many."""


class Action(IntEnum):
    """The 6 actions; the 4 moves index ``envs.render.DIRECTIONS``."""

    UP = 0
    RIGHT = 1
    DOWN = 2
    LEFT = 3
    STAY = 4
    INTERACT = 5


class Item(IntEnum):
    """What a hand or a counter holds."""

    NONE = 0
    INGREDIENT = 1
    DISH = 2
    SOUP = 3
    """A cooked soup on a dish."""


def item_names(ingredient: str) -> tuple[str, str, str]:
    """Names of the three items (``Item`` 1..3) for this ingredient, e.g. ("onion", "dish", "soup")."""
    return (ingredient, "dish", "soup")


@dataclass(frozen=True)
class Config:
    """One cooking world. Every field is validated; ``envs.config`` serialises it to JSON."""

    layout: str = "cramped_room"
    """A layout name from ``envs.cooking.LAYOUTS``, or an ASCII kitchen (any string with a newline)."""
    horizon: int = 400
    """Steps per episode; the episode is truncated after this many (there is no terminal state)."""
    ingredient: str = "onion"
    """The recipe's ingredient: ``onion`` (classic) or ``tomato`` (the concept-bottleneck paper)."""
    delivery_reward: float = 20.0
    """Reward to every agent when any agent delivers a soup (a team reward)."""
    shaping: bool = False
    """Dense shaping on/off."""
    shaping_shared: bool = False
    """False: shaping goes to the agent that did the act. True: every agent gets the team's shaping
    (the sum over agents, as Carroll et al.'s self-play PPO used it), so an agent that hands items
    over is paid when its teammate puts them to use."""
    shaping_ingredient_in_pot: float = 3.0
    """Shaping for putting an ingredient into a pot."""
    shaping_dish_pickup: float = 3.0
    """Shaping for taking a dish from the dispenser while some pot is full (cooking or done)."""
    shaping_soup_pickup: float = 5.0
    """Shaping for taking a soup from a pot onto a dish."""
    cook_time: int = 20
    """Steps a full pot cooks, counting the step it was filled; the soup is ready after that."""
    obs_mode: str = "egocentric"
    """``egocentric`` (a view_size x view_size window centred on the agent) or ``global`` (whole kitchen)."""
    view_size: int = 5
    """Side of the egocentric window (odd); the concept-bottleneck paper used 5."""
    random_start: bool = False
    """Off: every episode starts on the layout's start cells, facing up. On: each agent starts on a
    random floor cell of its own region (the connected floor around its drawn start cell, so on
    forced_coordination each keeps its room), the two cells distinct, facing a random direction;
    drawn from the env's generator at reset, so the same seed gives the same starts."""

    def __post_init__(self) -> None:
        if not isinstance(self.layout, str):
            raise ConfigError(f"layout must be a layout name or ASCII text, got {type(self.layout).__name__}")
        if "\n" in self.layout:
            parse_layout(self.layout)
        else:
            get_layout(self.layout)
        check_range("horizon", self.horizon, 1, integer=True)
        check_choice("ingredient", self.ingredient, INGREDIENTS)
        check_choice("obs_mode", self.obs_mode, OBS_MODES)
        check_range("cook_time", self.cook_time, 1, 200, integer=True)
        check_range("view_size", self.view_size, 1, 99, integer=True)
        if self.view_size % 2 != 1:
            raise ConfigError(f"view_size={self.view_size!r} must be odd (the agent sits in the centre)")
        for name in ("delivery_reward", "shaping_ingredient_in_pot", "shaping_dish_pickup", "shaping_soup_pickup"):
            check_range(name, getattr(self, name), 0)
        for name in ("horizon", "cook_time", "view_size"):  # an integral float (YAML's 4e2) is stored as the int
            object.__setattr__(self, name, int(getattr(self, name)))
        for name in ("shaping", "shaping_shared", "random_start"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name}={getattr(self, name)!r} must be true or false")

    @property
    def layout_obj(self) -> Layout:
        """The parsed ``Layout``."""
        return parse_layout(self.layout) if "\n" in self.layout else get_layout(self.layout)
