"""Env ids: the canonical ones, their versioned PettingZoo forms, and the normalisation between them.

Rules:
- A world has one canonical id (``cooking``, ``cleanup``): the name of its package under ``envs``,
  and what every ``EnvSpec``, dataset manifest and checkpoint records.
- PettingZoo names an environment with its version, ``<id>_v<N>`` (``cooking_v0``, ``cleanup_v0``);
  the version goes up when a world's rules change in a way that changes trajectories.
- Wherever an env id is taken (the registry's functions, the CLI's ``--env``, a train config's
  ``env:``), both forms are accepted and normalised to the canonical id by ``canonical_env_id``;
  only the current version is accepted. An unknown id is a ConfigError naming both forms.
- The PettingZoo faces are named ``ethogram_<id>_v<N>`` (``metadata["name"]``, ``versioned_env_id``).
- A PettingZoo env we did not write runs through the adapter (``envs.pettingzoo``), whose canonical
  id is ``pettingzoo``; its config names the env's entry point. ``pettingzoo:<module>:<callable>``
  (e.g. ``pettingzoo:mpe2.simple_spread_v3:parallel_env``) is accepted as shorthand wherever an id
  is: it normalises to ``pettingzoo``, and ``adapter_entry_point`` gives the entry point that the
  registry (``envs.make_config``) and ``TrainConfig`` move into the config, so specs, manifests and
  checkpoints record ``pettingzoo`` and a config that names the env in full.
"""

from __future__ import annotations

from envs.config import ConfigError, check_choice

ADAPTER_ID = "pettingzoo"
"""Canonical id of the PettingZoo adapter (``envs.pettingzoo``)."""

VERSIONS: dict[str, int] = {"cooking": 0, "cleanup": 0, ADAPTER_ID: 0}
"""Canonical env id → the current version of its rules."""

ENV_IDS: tuple[str, ...] = tuple(VERSIONS)
"""Canonical env ids known to the registry."""

VERSIONED_IDS: dict[str, str] = {f"{env_id}_v{version}": env_id for env_id, version in VERSIONS.items()}
"""Versioned env id (``cooking_v0``) → canonical env id (``cooking``)."""


def canonical_env_id(env_id: str) -> str:
    """The canonical id of ``env_id`` given in either form (``cooking_v0`` → ``cooking``).

    Raises ConfigError naming the allowed ids, canonical and versioned, when it is neither.
    """
    if adapter_entry_point(env_id) is not None:
        return ADAPTER_ID
    check_choice("env", env_id, (*ENV_IDS, *VERSIONED_IDS, f"{ADAPTER_ID}:MODULE:CALLABLE"))
    return VERSIONED_IDS.get(env_id, env_id)


def adapter_entry_point(env_id: str) -> str | None:
    """The entry point of a ``pettingzoo:<module>:<callable>`` id; None for any other id."""
    prefix = f"{ADAPTER_ID}:"
    if not isinstance(env_id, str) or not env_id.startswith(prefix):
        return None
    entry = env_id[len(prefix) :]
    if entry.count(":") != 1 or not all(entry.split(":")):
        raise ConfigError(f"env={env_id!r}: write {prefix}MODULE:CALLABLE, e.g. {prefix}mpe2.simple_spread_v3:parallel_env")
    return entry


def versioned_env_id(env_id: str) -> str:
    """The versioned id of a canonical ``env_id`` (``cooking`` → ``cooking_v0``); a world not in the
    registry (an adapter's) is at version 0."""
    return f"{env_id}_v{VERSIONS.get(env_id, 0)}"
