"""The adapter's configuration and the user's declaration of concepts and events.

A PettingZoo env we did not write is named by three things, all strings so that a config
serialises into manifests and checkpoints and reloads anywhere the same modules import:

- ``entry_point``: ``module:callable`` returning a PettingZoo ``ParallelEnv`` when called with
  ``env_kwargs`` (e.g. ``mpe2.simple_spread_v3:parallel_env`` with ``{continuous_actions: false}``);
- ``declare``: ``module:function`` called once with a freshly reset env; it returns a
  ``Declaration``: the typed concepts (``envs.spec.ConceptSpec``, owners are agent ids or objects),
  the event names, and optionally the grid that position concepts are read over;
- ``concepts``: ``module:function`` called with the env after every reset and step; it returns the
  ground-truth concepts in the declaration's ``gt`` layout, shaped (N, D) (one row per agent, in
  ``possible_agents`` order) or (D,) (the same for every agent);
- ``events`` (optional): ``module:function`` called with the env after every step; it returns event
  counts (N, E), integers in 0..255, E = the declared events. Without it the env has no events
  (and must declare none).
- ``vectorised``: when true, ``concepts`` and ``events`` are called once per batch with the list of
  all K envs (in slot order, or the slots being reset) and return (K, N, D) or (K, D), and (K, N, E):
  one numpy computation over the copies' states instead of K small ones (``experiments.mpe_spread``'s
  ``concepts_batch``/``events_batch``). ``declare`` is called with one env either way.

Observations (``Box`` spaces only) are stored as uint8 codes of a (1, 1, D) vector
(``envs.spec.VECTOR_MODE``), quantised linearly over ``obs_range`` (or the Box's own bounds when
they are finite): ``value ≈ low + code * (high - low) / 255``, values outside clipped.

Nothing is imported at config time beyond checking the strings' form; ``envs.pettingzoo.world``
imports and checks them when it builds the env, naming what is wrong.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from envs.config import ConfigError, check_range
from envs.spec import TEAM_REWARDS, ConceptSpec, EventSpec


@dataclass(frozen=True)
class Config:
    """A PettingZoo ParallelEnv through the adapter (module docstring)."""

    entry_point: str = ""
    """``module:callable`` returning the ParallelEnv, e.g. ``mpe2.simple_spread_v3:parallel_env``."""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments of the entry point (JSON-able), e.g. ``{N: 3, continuous_actions: false}``."""
    declare: str = ""
    """``module:function``: env → ``Declaration`` (concepts, events, grid)."""
    concepts: str = ""
    """``module:function``: env → ground-truth concepts (N, D) or (D,), declaration's gt layout."""
    events: str = ""
    """``module:function``: env → event counts (N, E) after a step; empty: no events."""
    horizon: int = 25
    """Steps per episode, >= 1; the env must not truncate earlier by itself (MPE: ``max_cycles`` >= horizon)."""
    obs_range: tuple[float, ...] = ()
    """(low, high) of every observation value for the uint8 codes; empty: the Box's bounds (must be finite)."""
    action_names: tuple[str, ...] = ()
    """A name per discrete action, for people; empty: ``action_0``, ``action_1``..."""
    idle_action: int = 0
    """The action of the scripted ``idle`` role (MPE: 0, no-op), >= 0."""
    vectorised: bool = False
    """``concepts``/``events`` take the list of K envs and return (K, N, D) or (K, D) / (K, N, E); false: one env at a time."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "env_kwargs", dict(self.env_kwargs))
        for name in ("entry_point", "declare", "concepts"):
            check_target(name, getattr(self, name))
        if self.events:
            check_target("events", self.events)
        check_range("horizon", self.horizon, 1, integer=True)
        check_range("idle_action", self.idle_action, 0, integer=True)
        if self.obs_range:
            if len(self.obs_range) != 2:
                raise ConfigError(f"obs_range={list(self.obs_range)} must be [low, high], e.g. [-3, 3]")
            for bound in self.obs_range:
                check_range("obs_range", bound)
            if self.obs_range[1] <= self.obs_range[0]:
                raise ConfigError(f"obs_range={list(self.obs_range)}: high must be above low")


def check_target(name: str, target: str) -> None:
    """ConfigError unless ``target`` reads ``module:attribute`` (checked for form only)."""
    module, sep, attr = target.partition(":") if isinstance(target, str) else ("", "", "")
    if not sep or not module or not attr or ":" in attr:
        raise ConfigError(f"{name}={target!r} must be MODULE:NAME, e.g. experiments.mpe_spread:{name}")


def load_target(name: str, target: str) -> Callable[..., Any]:
    """The callable ``module:attribute`` names; ConfigError when the module or the name is missing."""
    check_target(name, target)
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        hint = " (pip install mpe2, or ethogram[mpe])" if module_name.startswith("mpe2") else ""
        raise ConfigError(f"{name}={target!r}: cannot import {module_name!r}: {exc}{hint}") from None
    obj = getattr(module, attr, None)
    if not callable(obj):
        raise ConfigError(f"{name}={target!r}: module {module_name} has no callable {attr!r}")
    return obj


@dataclass(frozen=True)
class Declaration:
    """What the user's ``declare`` function returns: the env's concepts, events and grid."""

    concepts: tuple[ConceptSpec, ...]
    """The concepts, in the order of the ground-truth vector the ``concepts`` function returns."""
    events: tuple[EventSpec | str, ...] = ()
    """Event names (or ``EventSpec``s), in the order of the ``events`` function's columns."""
    grid: tuple[int, ...] = ()
    """(rows, cols) that position concepts' [0, 1] coordinates are read over in cells; empty: none."""
    team_reward: str = "sum"
    """How the team return is formed from the agents' rewards: ``sum`` or ``mean`` (``EnvSpec.team_reward``)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "concepts", tuple(self.concepts))
        object.__setattr__(self, "events", tuple(e if isinstance(e, EventSpec) else EventSpec(str(e)) for e in self.events))
        object.__setattr__(self, "grid", tuple(int(x) for x in self.grid))
        if not self.concepts:
            raise ConfigError("the declaration names no concepts; a concept bottleneck needs at least one")
        bad = [c for c in self.concepts if not isinstance(c, ConceptSpec)]
        if bad:
            raise ConfigError(f"declaration concepts must be envs.spec.ConceptSpec, got {type(bad[0]).__name__}")
        if self.grid and (len(self.grid) != 2 or min(self.grid) < 2):
            raise ConfigError(f"declaration grid={self.grid} must be (rows, cols), each >= 2")
        if self.team_reward not in TEAM_REWARDS:
            raise ConfigError(f"declaration team_reward={self.team_reward!r}; choose one of: {', '.join(TEAM_REWARDS)}")
