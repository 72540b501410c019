"""The adapter: any PettingZoo ``ParallelEnv`` plus a concept function, as an ethogram world.

A world we did not write enters here (docs/design.md, 'The house'), so everything above ``envs``
runs on it unchanged: ``ethogram rollout``, ``train`` (cbp and baseline, independent or shared),
``study``, ``analyze`` and the report. Its env id is ``pettingzoo`` (``envs.ids``); its config
(``Config``) names the env's entry point and kwargs and the user's ``declare``, ``concepts`` and
``events`` functions, so a manifest or a checkpoint names the env in full. ``pettingzoo:MODULE:CALLABLE``
is shorthand for the id with that entry point.

- Configuration and the user's ``Declaration``: ``envs.pettingzoo.config``.
- The batched world over K copies of the env (seeding, episode ends, observation codes):
  ``envs.pettingzoo.world``.
- What is refused and how it is named (AEC envs, non-Discrete actions, non-Box observations,
  changing agent sets, concepts of the wrong shape or kind): ``envs.pettingzoo.checks``.
- Scripted ``idle`` and ``random`` agents: ``envs.pettingzoo.scripted``.
- A worked example, MPE simple_spread: ``experiments/mpe_spread.py``.
"""

from __future__ import annotations

from typing import Any

from pettingzoo import AECEnv
from pettingzoo.utils.conversions import parallel_to_aec

from envs.batched import BatchedEnv
from envs.config import config_from_dict
from envs.parallel import ParallelFacade
from envs.pettingzoo.checks import AdapterError
from envs.pettingzoo.config import Config, Declaration
from envs.pettingzoo.world import State, World

__all__ = ["AdapterError", "Config", "Declaration", "State", "World", "batched_env", "env", "parallel_env"]


def _config(**config: Any) -> Config:
    """A Config from keyword fields; unknown fields are an error naming the allowed ones."""
    return config_from_dict(Config, config, where="pettingzoo config")


def batched_env(num_envs: int = 1, auto_reset: bool = False, **config: Any) -> BatchedEnv:
    """K copies of the user's env stepped together (``envs.batched.BatchedEnv``); ``config`` are ``Config`` fields."""
    return BatchedEnv(World(_config(**config)), num_envs, auto_reset=auto_reset)


def parallel_env(render_mode: str | None = None, **config: Any) -> ParallelFacade:
    """The adapted env as our PettingZoo ParallelEnv (quantised observations, concepts and events in infos)."""
    return ParallelFacade(World(_config(**config)), render_mode=render_mode)


def env(render_mode: str | None = None, **config: Any) -> AECEnv:
    """The adapted env as a PettingZoo AECEnv: ``parallel_env`` through PettingZoo's ``parallel_to_aec``."""
    return parallel_to_aec(parallel_env(render_mode, **config))
