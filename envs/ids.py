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
"""

from __future__ import annotations

from envs.config import check_choice

VERSIONS: dict[str, int] = {"cooking": 0, "cleanup": 0}
"""Canonical env id → the current version of its rules."""

ENV_IDS: tuple[str, ...] = tuple(VERSIONS)
"""Canonical env ids known to the registry."""

VERSIONED_IDS: dict[str, str] = {f"{env_id}_v{version}": env_id for env_id, version in VERSIONS.items()}
"""Versioned env id (``cooking_v0``) → canonical env id (``cooking``)."""


def canonical_env_id(env_id: str) -> str:
    """The canonical id of ``env_id`` given in either form (``cooking_v0`` → ``cooking``).

    Raises ConfigError naming the allowed ids, canonical and versioned, when it is neither.
    """
    check_choice("env", env_id, (*ENV_IDS, *VERSIONED_IDS))
    return VERSIONED_IDS.get(env_id, env_id)


def versioned_env_id(env_id: str) -> str:
    """The versioned id of a canonical ``env_id`` (``cooking`` → ``cooking_v0``); a world not in the
    registry (an adapter's) is at version 0."""
    return f"{env_id}_v{VERSIONS.get(env_id, 0)}"
