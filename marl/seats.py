"""Mixed teams: scripted agents seated beside a trained policy (a seat is a policy: docs/design.md, 'Seats').

A *seat spec* maps agent ids to the scripted role that plays them, e.g. ``{agent_2:
"scripted:free_rider"}``; every agent not named is played by the trained policy. A seat reads
``scripted:ROLE`` or ``scripted:ROLE@EPSILON`` (exploration noise, where the world's scripted
agents take it), ROLE one of the world's ``envs.<world>.scripted.ROLES``. Cross-play with a
partner of known behaviour evaluates coordination and validates the detectors (a planted
``free_rider`` or ``idle`` is a known lazy agent).

Rules:
- Specs are checked before anything runs: ``parse_seat`` the form (no world needed),
  ``check_seats`` the agents and roles against a world; every failure is a ``SeatError`` (a
  ConfigError) naming the allowed forms, agents or roles.
- ``MixedTeam`` acts scripted seats exactly as ``envs.make_scripted(env, team_roles, seed)``
  acts them: that scripted team plays every agent, the trained seats as ``idle`` (``FILLER``), and
  only the scripted seats' actions are kept. So a scripted agent plans beside teammates it does
  not count on (a cooking planner walks round an idle teammate and never expects it to fetch),
  and draws from the team's generator as that team would. Trained seats act exactly as the
  trained policy alone would: it runs on every seat with the same seed, and the scripted seats'
  trained actions are dropped.
- ``seed(s)`` reseeds both halves: the trained policy's sampler, and a fresh scripted team from
  ``s`` (the recorder calls it per batch, so a mixed recording resumes exactly).
- Concepts: a scripted seat has no bottleneck, so its rows of ``concepts`` (predicted) and
  ``intervened`` are NaN. (Not the trained module's reading of that seat's observation: nothing
  acted on it.) Datasets store the NaN as is; anything averaging predicted concepts over agents
  must skip them (``np.nanmean``); a reference pool's per-agent mean of a scripted seat is NaN and
  never used, since no intervention reaches a scripted seat.
- Interventions reach trained seats only: a line whose targets name a scripted seat is a
  ``SeatError`` (``check_lines``); ``all`` means every trained seat. Lines that change what a
  trained seat knows *about* a scripted agent (``agent_0: agent_2.* -> mask``) are allowed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from envs import BatchedEnv, BatchedPolicy, PolicyOutput, StepOutput, check_roles, make_scripted
from envs.config import ConfigError

SEAT_FORM = "scripted:ROLE[@EPSILON]"
"""How a seat is written."""
FILLER = "idle"
"""The role the scripted team gives the trained seats (its actions there are dropped)."""


class SeatError(ConfigError):
    """A seat spec or an intervention on a seat is not allowed; the message names what is."""


def parse_seat(agent: Any, text: Any) -> str:
    """The role text (``ROLE`` or ``ROLE@EPSILON``) of one seat; checks the form only."""
    if not isinstance(agent, str) or not agent:
        raise SeatError(f"seat {agent!r}: a seat is named by an agent id such as 'agent_2'")
    if not isinstance(text, str):
        raise SeatError(f"seat {agent}={text!r}: write {SEAT_FORM}, e.g. {agent}: scripted:free_rider")
    kind, sep, role = text.strip().partition(":")
    if kind != "scripted" or not sep:
        raise SeatError(f"seat {agent}={text!r}: a seat takes a scripted role, written {SEAT_FORM} (e.g. scripted:free_rider)")
    role = role.strip()
    if not role or "," in role or any(c.isspace() for c in role):
        raise SeatError(f"seat {agent}={text!r}: name one role, written {SEAT_FORM} (e.g. scripted:free_rider or scripted:planner@0.05)")
    return role


def check_seats(seats: Mapping[str, str] | None, env_id: str, agents: Sequence[str], *, keep_trained: bool = True) -> dict[str, str]:
    """Agent → role text of a seat spec, checked against world ``env_id`` with these ``agents``.

    Unknown agents and roles are errors listing the allowed ones; ``keep_trained`` refuses a spec
    that seats every agent (nothing would be left for the trained policy).
    """
    if not seats:
        return {}
    if not isinstance(seats, Mapping):
        raise SeatError(f"seats must map agent ids to {SEAT_FORM}, got {seats!r}")
    roles = {agent: parse_seat(agent, text) for agent, text in seats.items()}
    for agent, role in roles.items():
        if agent not in agents:
            raise SeatError(f"seat {agent!r}: no such agent in {env_id}; agents: {', '.join(agents)}")
        try:
            check_roles(env_id, [role])
        except ValueError as exc:
            raise SeatError(f"seat {agent}=scripted:{role} in {env_id}: {exc}") from None
    if keep_trained and len(roles) == len(agents):
        raise SeatError(
            f"seats name every agent ({', '.join(agents)}): nothing is left for the trained policy; record a scripted:ROLES team"
        )
    return roles


def seats_label(seats: Mapping[str, str]) -> str:
    """``agent_2=scripted:free_rider, ...`` in agent order of the mapping."""
    return ", ".join(f"{agent}=scripted:{parse_seat(agent, text)}" for agent, text in seats.items())


def check_lines(lines: Sequence[str], scripted: Sequence[str]) -> None:
    """Refuse intervention lines whose targets name a scripted seat (``all`` is fine: it means the
    trained seats). The lines' grammar is checked by ``envs.interventions``."""
    for line in lines:
        written = {t.strip() for t in line.split(":", 1)[0].split(",")}
        named = sorted(written & set(scripted)) if "all" not in written else []
        if named:
            raise SeatError(
                f"intervention {line.strip()!r} targets {', '.join(named)}, a scripted seat: it has no concept bottleneck or layers. "
                f"Target the trained seats (or 'all', which means them); to change what they know about {named[0]}, "
                f"select its concepts, e.g. 'all: {named[0]}.* -> mask'"
            )


class MixedTeam:
    """A trained policy in some seats and scripted roles in the others (module docstring)."""

    def __init__(self, trained: BatchedPolicy, env: BatchedEnv, seats: Mapping[str, str], seed: int | None = None) -> None:
        agents = env.spec.agents
        roles = check_seats(seats, env.spec.env_id, agents, keep_trained=False)
        if not roles:
            raise SeatError("a mixed team needs at least one scripted seat")
        self.trained = trained
        self.env = env
        self.roles = roles
        """Agent → scripted role text, for the scripted seats."""
        self.team_roles = tuple(roles.get(a, FILLER) for a in agents)
        """The scripted team's roles, one per agent (``FILLER`` in the trained seats)."""
        self.scripted = np.array([a in roles for a in agents])  # (N,) bool
        self.trained_agents = tuple(a for a in agents if a not in roles)
        self.team = make_scripted(env, self.team_roles, seed)
        self.name = f"{getattr(trained, 'name', type(trained).__name__)} with {seats_label(seats)}"
        self.iteration = int(getattr(trained, "iteration", -1))

    def intervene(
        self, lines: str | Sequence[str], *, reference: np.ndarray | None = None, seed: int | None = None, probes: Any = None
    ) -> None:
        """The trained policy's ``intervene`` (``probes`` for erase / steer lines), on the trained seats only (``check_lines``)."""
        lines = [lines] if isinstance(lines, str) else list(lines)
        check_lines(lines, tuple(self.roles))
        self.trained.intervene(lines, reference=reference, seed=seed, agents=self.trained_agents, probes=probes)

    def seed(self, seed: int) -> None:
        """Reseed the trained policy's sampling and start a fresh scripted team from ``seed``."""
        if callable(getattr(self.trained, "seed", None)):
            self.trained.seed(seed)
        self.team = make_scripted(self.env, self.team_roles, seed)

    def reset(self, env: BatchedEnv, mask: np.ndarray) -> None:
        self.trained.reset(env, mask)
        self.team.reset(env, mask)

    def act(self, env: BatchedEnv, out: StepOutput) -> PolicyOutput:
        trained = self.trained.act(env, out)
        scripted = self.team.act(env, out)
        actions = np.where(self.scripted[None, :], scripted.actions, trained.actions)  # (K, N)
        return PolicyOutput(actions=actions, concepts=self._blank(trained.concepts), intervened=self._blank(trained.intervened))

    def _blank(self, values: np.ndarray | None) -> np.ndarray | None:
        """(K, N, P) with the scripted seats' rows NaN."""
        if values is None:
            return None
        values = np.array(values, dtype=np.float32, copy=True)
        values[:, self.scripted] = np.nan
        return values


def seat(policy: BatchedPolicy, env: BatchedEnv, seats: Mapping[str, str] | None, seed: int | None = None) -> BatchedPolicy:
    """``policy`` itself without seats, else a ``MixedTeam`` of it and the scripted seats."""
    return MixedTeam(policy, env, seats, seed) if seats else policy
