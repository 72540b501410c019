"""Scripted agents for any env through the adapter: the two roles that need no knowledge of its rules.

Roles (``ROLES``):
- ``idle``: always ``Config.idle_action`` (MPE: 0, no-op); the knock-out of ``marl.study``'s ``idle``
  probe and the filler of trained seats in a mixed team (``marl.seats``);
- ``random``: uniform over the discrete actions, from the team's own generator (seeded by ``make_team``).
"""

from __future__ import annotations

import numpy as np

from envs.batched import BatchedEnv, PolicyOutput, StepOutput
from envs.config import check_choice
from envs.pettingzoo.world import World

ROLES = ("idle", "random")
"""Scripted roles of the adapter."""


def make_team(roles: list[str], world: World, seed: int | None = None) -> ScriptedTeam:
    """A ``envs.batched.BatchedPolicy`` playing ``roles`` (one per agent) in ``world``."""
    return ScriptedTeam(roles, world, seed)


class ScriptedTeam:
    """One role per agent (module docstring)."""

    def __init__(self, roles: list[str], world: World, seed: int | None = None) -> None:
        roles = list(roles)
        if len(roles) != world.num_agents:
            raise ValueError(f"{len(roles)} roles for {world.num_agents} agents")
        for role in roles:
            check_choice("scripted role", role, ROLES)
        self.roles = tuple(roles)
        self.random = np.array([r == "random" for r in roles])  # (N,)
        self.idle_action = int(world.config.idle_action)
        self.num_actions = len(world.spec.action_names)
        self.rng = np.random.default_rng(seed)

    def reset(self, env: BatchedEnv, mask: np.ndarray) -> None:
        """Scripted agents keep no memory between steps."""

    def act(self, env: BatchedEnv, out: StepOutput) -> PolicyOutput:
        k = env.num_envs
        draws = self.rng.integers(0, self.num_actions, (k, len(self.roles)))
        return PolicyOutput(actions=np.where(self.random, draws, self.idle_action).astype(np.int64))
