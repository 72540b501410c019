"""The cooking world: an Overcooked-style kitchen for two agents (Carroll et al. 2019).

Two agents fetch ingredients, fill pots (3 ingredients cook by themselves for 20 steps), carry
soups on dishes to a serving cell and share the delivery reward. Rules: ``envs.cooking.world``;
tables and cell codes: ``envs.cooking.tables``; observations: ``envs.cooking.observe``; concepts
and events: ``envs.cooking.concepts``; layouts: ``envs.cooking.layouts``; scripted agents:
``envs.cooking.scripted``.

Faces over the one batched core:
- ``batched_env(num_envs, auto_reset, **config)``: an ``envs.batched.BatchedEnv`` (arrays (K, 2, ...));
- ``parallel_env(render_mode, **config)``: a PettingZoo ``ParallelEnv`` (``envs.parallel.ParallelFacade``);
- ``env(render_mode, **config)``: the same as a PettingZoo ``AECEnv`` (PettingZoo's ``parallel_to_aec``).
"""

from __future__ import annotations

from typing import Any

from pettingzoo import AECEnv
from pettingzoo.utils.conversions import parallel_to_aec

from envs.batched import BatchedEnv
from envs.config import config_from_dict
from envs.cooking.config import Action, Config, Item
from envs.cooking.layouts import CLASSIC_LAYOUTS, LAYOUTS, Layout, parse_layout
from envs.cooking.world import State, World
from envs.parallel import ParallelFacade

__all__ = [
    "CLASSIC_LAYOUTS",
    "LAYOUTS",
    "Action",
    "Config",
    "Item",
    "Layout",
    "State",
    "World",
    "batched_env",
    "env",
    "needs_teammate",
    "parallel_env",
    "parse_layout",
    "role_events",
]


def _config(**config: Any) -> Config:
    """A Config from keyword fields; unknown fields are an error naming the allowed ones."""
    return config_from_dict(Config, config, where="cooking config")


def batched_env(num_envs: int = 1, auto_reset: bool = False, **config: Any) -> BatchedEnv:
    """K cooking envs stepped together (see ``envs.batched.BatchedEnv``)."""
    return BatchedEnv(World(_config(**config)), num_envs, auto_reset=auto_reset)


def parallel_env(render_mode: str | None = None, **config: Any) -> ParallelFacade:
    """One cooking env as a PettingZoo ParallelEnv (render modes ``rgb_array`` and ``ansi``)."""
    return ParallelFacade(World(_config(**config)), render_mode=render_mode)


def env(render_mode: str | None = None, **config: Any) -> AECEnv:
    """One cooking env as a PettingZoo AECEnv: ``parallel_env`` through PettingZoo's ``parallel_to_aec``."""
    return parallel_to_aec(parallel_env(render_mode, **config))


def needs_teammate(config: Config) -> bool:
    """Whether the kitchen forces hand-overs (``Layout.needs_teammate``)."""
    return config.layout_obj.needs_teammate


def role_events(config: Config) -> dict[str, tuple[str, ...]]:
    """Roles of ``analysis.roles``: who fills the pots, who serves, who puts items down for the other."""
    return {"cook": (f"put_{config.ingredient}_in_pot",), "server": ("delivered",), "runner": ("placed_on_counter",)}
