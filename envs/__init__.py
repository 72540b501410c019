"""The worlds: pure-numpy multi-agent environments with typed concepts and events.

Every world package (``envs.cooking``, ``envs.cleanup``) exposes the same names:
- ``Config``: its frozen config dataclass;
- ``World(config)``: the rules over a state of arrays (see ``envs.batched.World``);
- ``batched_env(num_envs=1, auto_reset=False, **config)``, ``parallel_env(render_mode=None, **config)``
  and ``env(render_mode=None, **config)`` (PettingZoo's convention: the AEC face beside the parallel one);
- ``World.global_state`` and ``World.state_layout``: the global state, PettingZoo's ``state()``;
- ``scripted.ROLES``: scripted agents with known behaviour, and ``scripted.make_team(roles, world, seed)``.

The registry below reaches them by env id so that manifests and CLIs can name an env as a string;
an id may be canonical (``cooking``) or versioned as PettingZoo names it (``cooking_v0``), and is
normalised to the canonical one (``envs.ids``), which is what specs, manifests and checkpoints record.
"""

from __future__ import annotations

import importlib
import inspect
from types import ModuleType
from typing import Any

from pettingzoo import AECEnv
from pettingzoo.utils.conversions import parallel_to_aec

from envs.batched import BatchedEnv, BatchedPolicy, PolicyOutput, StepOutput
from envs.config import ConfigError, check_choice, config_from_dict, config_to_dict
from envs.ids import ENV_IDS, VERSIONED_IDS, adapter_entry_point, canonical_env_id, versioned_env_id
from envs.parallel import ParallelFacade
from envs.spec import ConceptKind, ConceptSet, ConceptSpec, EnvSpec, EventSpec, ObservationLayout

__all__ = [
    "ENV_IDS",
    "VERSIONED_IDS",
    "BatchedEnv",
    "BatchedPolicy",
    "ConceptKind",
    "ConceptSet",
    "ConceptSpec",
    "ConfigError",
    "EnvSpec",
    "EventSpec",
    "ObservationLayout",
    "ParallelFacade",
    "PolicyOutput",
    "StepOutput",
    "canonical_env_id",
    "check_roles",
    "config_to_dict",
    "make_aec",
    "make_batched",
    "make_config",
    "make_parallel",
    "make_scripted",
    "needs_teammate",
    "resolve_env",
    "role_events",
    "scripted_roles",
    "versioned_env_id",
    "world_module",
]


def world_module(env_id: str) -> ModuleType:
    """The package of env ``env_id``, canonical or versioned (error lists the valid ids)."""
    return importlib.import_module(f"envs.{canonical_env_id(env_id)}")


def make_config(env_id: str, config: dict[str, Any] | Any | None = None) -> Any:
    """A config of env ``env_id`` from a dict (unknown keys are an error), a config, or None (defaults)."""
    cls = world_module(env_id).Config
    if not isinstance(config, cls):
        env_id, config = resolve_env(env_id, config)
    if config is None:
        return cls()
    if isinstance(config, cls):
        return config
    return config_from_dict(cls, dict(config), where=f"{canonical_env_id(env_id)} config")


def resolve_env(env_id: str, config: dict[str, Any] | None = None) -> tuple[str, dict[str, Any] | None]:
    """The canonical id and the config dict of ``env_id``: ``pettingzoo:MODULE:CALLABLE`` becomes
    ``pettingzoo`` with ``entry_point: MODULE:CALLABLE`` in the config (``envs.ids``); a config naming
    another entry point is a ConfigError. Other ids are only normalised."""
    entry_point = adapter_entry_point(env_id)
    if entry_point is None:
        return canonical_env_id(env_id), config
    given = (config or {}).get("entry_point")
    if given not in (None, "", entry_point):
        raise ConfigError(f"env {env_id!r} names entry point {entry_point!r} but its config names {given!r}; give one")
    return canonical_env_id(env_id), {**(config or {}), "entry_point": entry_point}


def needs_teammate(env_id: str, config: dict[str, Any] | Any | None = None) -> bool | None:
    """Whether the world's structure makes one agent unable to earn the task's reward alone (the
    cooking kitchens split by a wall); None where the world does not say (Cleanup)."""
    check = getattr(world_module(env_id), "needs_teammate", None)
    return None if check is None else bool(check(make_config(env_id, config)))


def role_events(env_id: str, config: dict[str, Any] | Any | None = None) -> dict[str, tuple[str, ...]]:
    """Role name → the events that measure its activity (``analysis.roles``); empty where the world names none."""
    roles = getattr(world_module(env_id), "role_events", None)
    return {} if roles is None else dict(roles(make_config(env_id, config)))


def make_batched(env_id: str, config: dict[str, Any] | Any | None = None, num_envs: int = 1, *, auto_reset: bool = False) -> BatchedEnv:
    """K envs of ``env_id`` as one BatchedEnv."""
    module = world_module(env_id)
    return BatchedEnv(module.World(make_config(env_id, config)), num_envs, auto_reset=auto_reset)


def make_parallel(env_id: str, config: dict[str, Any] | Any | None = None, render_mode: str | None = None) -> ParallelFacade:
    """One env of ``env_id`` as a PettingZoo ParallelEnv."""
    module = world_module(env_id)
    return ParallelFacade(module.World(make_config(env_id, config)), render_mode=render_mode)


def make_aec(env_id: str, config: dict[str, Any] | Any | None = None, render_mode: str | None = None) -> AECEnv:
    """One env of ``env_id`` as a PettingZoo AECEnv: ``make_parallel`` through PettingZoo's own
    ``parallel_to_aec`` (which wraps it in ``OrderEnforcingWrapper``). Agents act in turn, the world
    steps once all have acted; ``state()`` and ``state_space`` are the parallel face's."""
    return parallel_to_aec(make_parallel(env_id, config, render_mode))


def _scripted_module(env_id: str) -> ModuleType:
    return importlib.import_module(f"envs.{canonical_env_id(env_id)}.scripted")


def scripted_roles(env_id: str) -> tuple[str, ...]:
    """The scripted roles of env ``env_id`` (``envs.<env_id>.scripted.ROLES``)."""
    return tuple(_scripted_module(env_id).ROLES)


def check_roles(env_id: str, roles: list[str] | tuple[str, ...]) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """Role names and exploration noise of ``ROLE[@EPSILON]`` texts, checked against env ``env_id``'s
    scripted agents without building an env: an unknown role is a ConfigError listing the world's
    roles; noise must be a number in [0, 1], and only where the world's scripted agents take it."""
    scripted = _scripted_module(env_id)
    names, epsilons = [], []
    for role in roles:
        name, _, eps = role.partition("@")
        check_choice("scripted role", name, scripted.ROLES)
        try:
            epsilons.append(float(eps) if eps else 0.0)
        except ValueError:
            raise ValueError(f"scripted role {role!r}: exploration noise must be a number, e.g. {name}@0.05") from None
        if not 0.0 <= epsilons[-1] <= 1.0:
            raise ConfigError(f"scripted role {role!r}: exploration noise must be a probability in [0, 1]")
        names.append(name)
    if any(epsilons) and "epsilon" not in inspect.signature(scripted.make_team).parameters:
        raise ValueError(f"the {env_id} scripted agents take no exploration noise (ROLE@EPSILON)")
    return tuple(names), tuple(epsilons)


def make_scripted(env: BatchedEnv, roles: str | list[str] | tuple[str, ...], seed: int | None = None) -> BatchedPolicy:
    """A scripted team for ``env``: one role for all agents or one per agent (``"planner,idle"``).

    A role may carry exploration noise, ``ROLE@EPSILON`` (e.g. ``planner@0.05``: a random action with
    probability 0.05), where the env's scripted agents support it. Unknown roles are an error listing
    the valid ones for this env (``check_roles``).
    """
    scripted = _scripted_module(env.spec.env_id)
    if isinstance(roles, str):
        roles = [r.strip() for r in roles.split(",") if r.strip()]
    roles = list(roles)
    if len(roles) == 1:
        roles = roles * env.num_agents
    if len(roles) != env.num_agents:
        raise ValueError(f"{len(roles)} roles given for {env.num_agents} agents; give one role or one per agent")
    names, epsilons = check_roles(env.spec.env_id, roles)
    if any(epsilons):
        return scripted.make_team(list(names), env.world, seed, epsilon=list(epsilons))
    return scripted.make_team(list(names), env.world, seed)
