"""Cleanup: the sequential social dilemma of the river and the orchard (Hughes et al. 2018).

Agents earn apples in an orchard; apples grow only while the river is clean, and the river fills
with waste at a steady rate. Cleaning it means leaving the orchard, so each agent is tempted to let
others clean: with only harvesters the river fouls and the apples stop. Agents can also fire a
penalty beam that fines (and, in the Melting Pot presets, removes) the agents it hits.

This package is a batched numpy core (``World``: the rules as phases over arrays with an env axis),
its PettingZoo faces (``parallel_env``, and ``env`` for the AEC API) and batched face (``batched_env``), typed ground-truth
concepts, per-step events, RGB/ASCII rendering and scripted agents (``envs.cleanup.scripted``).

- Rules, phases and their order: ``envs.cleanup.world``; beams: ``envs.cleanup.beams``.
- Constants and presets (``classic``, ``meltingpot``, ``concept_paper``): ``envs.cleanup.config``.
- Maps and their characters: ``envs.cleanup.maps``.
- Observations (north-up 15x15 one-hot windows, 9 channels): ``envs.cleanup.observe``.
- Concepts (positions, orientations, k nearest apples and waste, density): ``envs.cleanup.concepts``.
"""

from __future__ import annotations

from typing import Any

from pettingzoo import AECEnv
from pettingzoo.utils.conversions import parallel_to_aec

from envs.batched import BatchedEnv
from envs.cleanup.config import PRESETS, Config
from envs.cleanup.maps import MAPS
from envs.cleanup.world import EVENTS, Action, Event, State, World
from envs.config import config_from_dict
from envs.parallel import ParallelFacade

__all__ = ["EVENTS", "MAPS", "PRESETS", "Action", "Config", "Event", "State", "World", "batched_env", "env", "parallel_env", "role_events"]


def _config(**config: Any) -> Config:
    """A Config from keyword fields; unknown fields are an error naming the allowed ones."""
    return config_from_dict(Config, config, where="cleanup config")


def batched_env(num_envs: int = 1, auto_reset: bool = False, **config: Any) -> BatchedEnv:
    """K Cleanup envs stepped together (``envs.batched.BatchedEnv``); ``config`` are ``Config`` fields."""
    return BatchedEnv(World(_config(**config)), num_envs, auto_reset=auto_reset)


def parallel_env(render_mode: str | None = None, **config: Any) -> ParallelFacade:
    """One Cleanup env as a PettingZoo ParallelEnv; ``config`` are ``Config`` fields."""
    return ParallelFacade(World(_config(**config)), render_mode=render_mode)


def env(render_mode: str | None = None, **config: Any) -> AECEnv:
    """One Cleanup env as a PettingZoo AECEnv: ``parallel_env`` through PettingZoo's ``parallel_to_aec``."""
    return parallel_to_aec(parallel_env(render_mode, **config))


def role_events(config: Config) -> dict[str, tuple[str, ...]]:
    """Roles of ``analysis.roles``: who cleans the river, who eats the apples."""
    return {"cleaner": ("cleaned",), "harvester": ("ate_apple",)}
