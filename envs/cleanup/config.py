"""Cleanup configuration: one frozen dataclass and three presets of its constants.

Presets (docs/cleanup.md, 'Presets'). A field left as ``None`` takes the preset's value in
``__post_init__``, so a built config always holds concrete values (and serialises them all);
``Config(preset="meltingpot", num_agents=5)`` overrides one of them.

- ``classic`` (default): the classic open-source 5-agent Cleanup (Hughes et al. 2018; Jaques et al.
  2019): apple growth 0.05 x (1 - waste density / 0.4), waste 0.5 per step, beams of length 5 and
  width 3, the penalty beam costs the firer 1 and each agent hit 50, no removal, no cooldowns. As
  in that code, waste stops appearing while the density is at or above the depletion threshold.
- ``meltingpot``: Melting Pot's clean_up constants on the classic map: 7 players, beams of length 3,
  a zap removes the agent hit for 50 steps and costs nothing (``penaltyForBeingZapped = 0``,
  ``rewardForZapping = 0``), cooldowns of 10 (zap) and 2 (clean) steps, waste (dirt) 0.5 per step
  starting after step 50 and never paused. Its own map, its 11x11 forward-offset view and its
  stochastic episode end are not reproduced.
- ``concept_paper``: the concept-bottleneck paper's variant (Grupen et al. 2022), built on Melting
  Pot's: 7 players, growth 0.1, depletion 0.75, waste 0.25 per step after step 100, +0.1 per apple,
  +0.005 per waste cell cleaned; the rest as ``meltingpot``.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from envs.cleanup.maps import parse_map
from envs.config import ConfigError, check_choice, check_range

OBJECT_CONCEPTS = ("nearest", "regions")
"""Values of ``Config.object_concepts`` (``envs.cleanup.concepts``)."""

_CLASSIC: dict[str, Any] = {
    "num_agents": 5,
    "map": "classic",
    "horizon": 1000,
    "view_radius": 7,
    "apple_growth": 0.05,
    "depletion_threshold": 0.4,
    "restoration_threshold": 0.0,
    "waste_spawn_prob": 0.5,
    "waste_start_step": 0,
    "waste_pauses_at_depletion": True,
    "waste_from_map": True,
    "initial_waste": 0.0,
    "initial_apples": 0.0,
    "beam_length": 5,
    "beam_width": 3,
    "penalty_cost": 1.0,
    "penalty_fine": 50.0,
    "removal_steps": 0,
    "penalty_cooldown": 0,
    "clean_cooldown": 0,
    "apple_reward": 1.0,
    "clean_reward": 0.0,
    "nearest_k": 5,
    "object_concepts": "nearest",
    "roster": False,
}
_MELTINGPOT = {
    **_CLASSIC,
    "num_agents": 7,
    "beam_length": 3,
    "penalty_cost": 0.0,
    "penalty_fine": 0.0,
    "removal_steps": 50,
    "penalty_cooldown": 10,
    "clean_cooldown": 2,
    "waste_start_step": 50,
    "waste_pauses_at_depletion": False,
}
_CONCEPT_PAPER = {
    **_MELTINGPOT,
    "apple_growth": 0.1,
    "depletion_threshold": 0.75,
    "waste_spawn_prob": 0.25,
    "waste_start_step": 100,
    "apple_reward": 0.1,
    "clean_reward": 0.005,
}
PRESETS: dict[str, dict[str, Any]] = {"classic": _CLASSIC, "meltingpot": _MELTINGPOT, "concept_paper": _CONCEPT_PAPER}
"""Preset name → the value of every other field."""


@dataclass(frozen=True)
class Config:
    """Rules and constants of a Cleanup world. ``None`` fields take the preset's value."""

    preset: str = "classic"
    """Where unset fields come from: ``classic``, ``meltingpot`` or ``concept_paper`` (module docstring)."""
    num_agents: int | None = None
    """Number of agents, 2-10 (and at most the map's spawn points)."""
    map: str | None = None
    """A name in ``envs.cleanup.maps.MAPS`` (``classic``, ``small``) or ASCII art with newlines."""
    horizon: int | None = None
    """Steps per episode (truncation)."""
    view_radius: int | None = None
    """Observation window radius r: each agent sees (2r+1) x (2r+1) cells centred on itself."""
    apple_growth: float | None = None
    """Per-step probability that an apple grows on a free orchard cell when the river is clean."""
    depletion_threshold: float | None = None
    """Waste density at and above which no apple grows."""
    restoration_threshold: float | None = None
    """Waste density at and below which apples grow at the full rate (linear in between)."""
    waste_spawn_prob: float | None = None
    """Per-step probability that one waste cell appears on a clean river cell chosen uniformly."""
    waste_start_step: int | None = None
    """Waste appears only from this step index on (0: from the first step)."""
    waste_pauses_at_depletion: bool | None = None
    """If true, no waste appears while the density is at or above the depletion threshold (classic code)."""
    waste_from_map: bool | None = None
    """If true, the map's ``H`` cells hold waste at reset; if false the river starts clean (plus ``initial_waste``)."""
    initial_waste: float | None = None
    """Probability that each other river cell also holds waste at reset."""
    initial_apples: float | None = None
    """Probability that each orchard cell holds an apple at reset (``A`` cells always do)."""
    beam_length: int | None = None
    """Cells each beam ray travels."""
    beam_width: int | None = None
    """Rays per beam, odd: the centre ray starts in front of the agent, side rays beside it."""
    penalty_cost: float | None = None
    """Reward lost by an agent each time it fires the penalty beam."""
    penalty_fine: float | None = None
    """Reward lost by an agent for each penalty beam that hits it."""
    removal_steps: int | None = None
    """Steps an agent hit by a penalty beam is out of the game (0: never removed)."""
    penalty_cooldown: int | None = None
    """Steps after firing the penalty beam during which firing it again does nothing."""
    clean_cooldown: int | None = None
    """Steps after firing the cleaning beam during which firing it again does nothing."""
    apple_reward: float | None = None
    """Reward to an agent for each apple it eats."""
    clean_reward: float | None = None
    """Reward to an agent for each waste cell its cleaning beam removes."""
    nearest_k: int | None = None
    """How many nearest apples and nearest waste cells each agent's concepts hold (``object_concepts: nearest``)."""
    object_concepts: str | None = None
    """How apples and waste enter the concepts: ``nearest`` (the k nearest positions, the paper's) or
    ``regions`` (shares in the viewer's window cones and beam footprints, knowable from its view);
    see ``envs.cleanup.concepts``."""
    roster: bool | None = None
    """If true, the observation adds the roster: every agent's cell, facing and cell kind and the two
    gauges (waste density, apples standing) as vector channels beside the window, so the agent and
    env concepts are knowable (``envs.cleanup.observe``)."""

    def __post_init__(self) -> None:
        check_choice("preset", self.preset, PRESETS)
        for name, value in PRESETS[self.preset].items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        self._validate()

    def _validate(self) -> None:
        for name, value in ((f.name, getattr(self, f.name)) for f in fields(self)):
            object.__setattr__(self, name, _coerce(name, value, _KINDS[name]))
        check_range("num_agents", self.num_agents, 2, 10)
        check_range("horizon", self.horizon, 1)
        check_range("view_radius", self.view_radius, 1, 30)
        check_range("beam_length", self.beam_length, 1, 30)
        check_range("beam_width", self.beam_width, 1, 9)
        if self.beam_width % 2 == 0:
            raise ConfigError(f"beam_width={self.beam_width} must be odd (a centre ray and as many rays on each side)")
        for name in ("waste_start_step", "removal_steps", "penalty_cooldown", "clean_cooldown"):
            check_range(name, getattr(self, name), 0)
        check_range("nearest_k", self.nearest_k, 1, 50)
        check_choice("object_concepts", self.object_concepts, OBJECT_CONCEPTS)
        for name in ("apple_growth", "waste_spawn_prob", "initial_waste", "initial_apples", "restoration_threshold", "depletion_threshold"):
            check_range(name, getattr(self, name), 0.0, 1.0)
        for name in ("penalty_cost", "penalty_fine", "apple_reward", "clean_reward"):  # costs and fines are subtracted
            check_range(name, getattr(self, name), 0.0)
        if self.depletion_threshold <= self.restoration_threshold:
            raise ConfigError(
                f"depletion_threshold={self.depletion_threshold} must be above restoration_threshold={self.restoration_threshold}"
            )
        cmap = parse_map(self.map)
        if cmap.num_spawns < self.num_agents:
            raise ConfigError(f"map {cmap.name!r} has {cmap.num_spawns} spawn points ('P') for num_agents={self.num_agents}")


_KINDS = {name: type(value) for name, value in _CLASSIC.items()} | {"preset": str}
"""Field -> its type (int, float, bool or str), from the classic preset's values."""


def _coerce(name: str, value: Any, kind: type) -> Any:
    """``value`` as ``kind``: numbers of any numeric type become int / float; no other conversion."""
    if kind is bool and isinstance(value, bool | np.bool_):
        return bool(value)
    if kind is int and isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_):
        return int(value)
    if kind is float and isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_):
        return float(value)
    if kind is str and isinstance(value, str):
        return value
    raise ConfigError(f"{name}={value!r} must be {_NAMES[kind]}")


_NAMES = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
