"""Typed descriptions shared by every world: concepts, events and the observation layout.

These specs are the vocabulary that the worlds, the agents, the dataset and the analysis share.
They are plain frozen dataclasses that serialise to JSON (they go into every dataset manifest and
checkpoint) and never hold arrays.

Concepts (Grupen et al. 2022, "Concept-based Understanding of Emergent Multi-Agent Behavior"):
every agent has a concept vector describing the world, with the same layout for all agents of an
env. A concept is named ``"{owner}.{attr}"``: ``owner`` is an agent id (``agent_0``), an object
(``pot_0``, ``apple_2``) or ``env``; ``attr`` is what is measured (``position``, ``count``).
Values differ between agents only where the concept is relative to the viewer (e.g. Cleanup's
"nearest apples").

Two layouts per concept set:
- ground truth (``gt``), what the env reports, one float per slot:
  binary 1 slot (0/1) · categorical 1 slot (class index) · scalar 1 slot · position 2 slots
  (x = column, y = row, each normalised to [0, 1]; an absent object is ``ABSENT`` = -1 in both).
- prediction (``pred``), the bottleneck's width: binary 1 logit · categorical one logit per
  class · scalar 1 · position 2.

Selectors (used by interventions) name concepts relative to one agent:
``GROUP.ATTR`` where GROUP is ``self``, ``teammates``, ``agents``, ``objects`` or ``*`` and ATTR a
glob over ``attr``; or a glob over the full name, e.g. ``pot*.count``, ``agent_1.*``.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any

import numpy as np

ABSENT = -1.0
"""Ground-truth value of both coordinates of a position concept whose object does not exist."""

GROUPS = ("self", "teammates", "agents", "objects", "*")
"""Concept groups a selector may start with."""

TEAM_REWARDS = ("sum", "mean")
"""Ways an env's team return is formed from its agents' rewards (``EnvSpec.team_reward``)."""


class ConceptKind(StrEnum):
    """How a concept is valued, predicted and supervised."""

    BINARY = "binary"
    CATEGORICAL = "categorical"
    SCALAR = "scalar"
    POSITION = "position"


@dataclass(frozen=True)
class ConceptSpec:
    """One human-meaningful quantity that every agent's concept vector holds."""

    owner: str
    """Whom it is about: an agent id (``agent_0``), an object (``pot_0``) or ``env``."""
    attr: str
    """What is measured, e.g. ``position``, ``holding_onion``, ``count``."""
    kind: ConceptKind
    """binary, categorical, scalar or position (see the module docstring for the layouts)."""
    low: float = 0.0
    """Smallest value of a scalar (positions are always in [0, 1] or ``ABSENT``)."""
    high: float = 1.0
    """Largest value of a scalar."""
    classes: tuple[str, ...] = ()
    """Class names of a categorical concept (its ground truth is the class index)."""
    description: str = ""
    """One line for people: what the value means, units, absent marker."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", ConceptKind(self.kind))
        object.__setattr__(self, "classes", tuple(self.classes))
        if not self.owner or not self.attr or "." in self.owner:
            raise ValueError(f"concept needs an owner without '.' and an attr, got {self.owner!r}.{self.attr!r}")
        if self.kind is ConceptKind.CATEGORICAL and len(self.classes) < 2:
            raise ValueError(f"categorical concept {self.name} needs at least 2 classes")
        if self.kind is not ConceptKind.CATEGORICAL and self.classes:
            raise ValueError(f"only categorical concepts have classes ({self.name} is {self.kind.value})")
        if self.high < self.low:
            raise ValueError(f"concept {self.name}: high {self.high} < low {self.low}")

    @property
    def name(self) -> str:
        return f"{self.owner}.{self.attr}"

    @property
    def gt_width(self) -> int:
        """Slots in the ground-truth vector."""
        return 2 if self.kind is ConceptKind.POSITION else 1

    @property
    def pred_width(self) -> int:
        """Slots in the bottleneck (prediction) vector."""
        if self.kind is ConceptKind.CATEGORICAL:
            return len(self.classes)
        return 2 if self.kind is ConceptKind.POSITION else 1


@dataclass(frozen=True)
class ConceptSet:
    """The ordered concepts of an env, with the slices of each in both vector layouts."""

    specs: tuple[ConceptSpec, ...]
    agents: tuple[str, ...]
    """Agent ids of the env; owners in this tuple are agents, all others objects."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "specs", tuple(self.specs))
        object.__setattr__(self, "agents", tuple(self.agents))
        names = [s.name for s in self.specs]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate concept names: {dupes}")

    @cached_property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.specs)

    @cached_property
    def gt_slices(self) -> dict[str, slice]:
        return _slices(self.specs, "gt_width")

    @cached_property
    def pred_slices(self) -> dict[str, slice]:
        return _slices(self.specs, "pred_width")

    @property
    def gt_dim(self) -> int:
        return sum(s.gt_width for s in self.specs)

    @property
    def pred_dim(self) -> int:
        return sum(s.pred_width for s in self.specs)

    def __len__(self) -> int:
        return len(self.specs)

    def __getitem__(self, name: str) -> ConceptSpec:
        for spec in self.specs:
            if spec.name == name:
                return spec
        raise KeyError(f"unknown concept {name!r}; valid: {', '.join(self.names)}")

    def of_kind(self, kind: ConceptKind | str) -> tuple[ConceptSpec, ...]:
        kind = ConceptKind(kind)
        return tuple(s for s in self.specs if s.kind is kind)

    def select(self, selector: str, agent: str) -> tuple[ConceptSpec, ...]:
        """The concepts a selector names for one agent (see the module docstring).

        Raises ValueError naming the valid groups and concepts when nothing matches.
        """
        if agent not in self.agents:
            raise ValueError(f"unknown agent {agent!r}; valid: {', '.join(self.agents)}")
        group, _, attr = selector.partition(".")
        if group in GROUPS and attr:
            chosen = tuple(s for s in self.specs if self._in_group(s, group, agent) and fnmatch.fnmatchcase(s.attr, attr))
        else:
            chosen = tuple(s for s in self.specs if fnmatch.fnmatchcase(s.name, selector))
        if not chosen:
            attrs = sorted({s.attr for s in self.specs})
            raise ValueError(
                f"concept selector {selector!r} matches nothing for {agent}. Use GROUP.ATTR with GROUP in "
                f"{', '.join(GROUPS)} and ATTR among {', '.join(attrs)}, or a glob over the names: {', '.join(self.names)}"
            )
        return chosen

    def _in_group(self, spec: ConceptSpec, group: str, agent: str) -> bool:
        is_agent = spec.owner in self.agents
        return {
            "self": spec.owner == agent,
            "teammates": is_agent and spec.owner != agent,
            "agents": is_agent,
            "objects": not is_agent,
            "*": True,
        }[group]

    def to_json(self) -> dict[str, Any]:
        return {"agents": list(self.agents), "specs": [_spec_to_json(s) for s in self.specs]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ConceptSet:
        try:
            specs = tuple(ConceptSpec(**{**s, "classes": tuple(s.get("classes", ()))}) for s in data["specs"])
            return cls(specs=specs, agents=tuple(data["agents"]))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed concept spec: {exc}") from exc


def _slices(specs: tuple[ConceptSpec, ...], width: str) -> dict[str, slice]:
    out, start = {}, 0
    for spec in specs:
        stop = start + getattr(spec, width)
        out[spec.name] = slice(start, stop)
        start = stop
    return out


def _spec_to_json(spec: ConceptSpec) -> dict[str, Any]:
    data = asdict(spec)
    data["kind"] = spec.kind.value
    data["classes"] = list(spec.classes)
    return data


@dataclass(frozen=True)
class EventSpec:
    """One per-step, per-agent event column (a count; 0/1 for most events)."""

    name: str
    description: str = ""


VECTOR_MODE = "vector"
"""``ObservationLayout.mode`` of a flat observation vector (no grid)."""


@dataclass(frozen=True)
class ObservationLayout:
    """What an agent's observation array holds: shape (H, W, C), dtype uint8, named channels."""

    mode: str
    """``egocentric`` (a window centred on the agent, rotated or not, see description), ``global``, or
    ``VECTOR_MODE`` (a flat vector imported from a table: shape (1, 1, D), one channel per value, no
    grid to draw; ``analysis.dataset.importer``)."""
    shape: tuple[int, ...]
    """Per-agent shape, channels last: (H, W, C)."""
    channels: tuple[str, ...]
    """Name of each channel, in order."""
    high: int = 1
    """Largest value any channel takes (values are integers in [0, high])."""
    description: str = ""
    channel_high: tuple[int, ...] = ()
    """Largest value of each channel, in order (empty: every channel may reach ``high``). Models
    divide each channel by its own high, so binary channels stay at 1 beside a 0..20 timer."""
    vector: tuple[str, ...] = ()
    """Names of the values of a vector packed into the *last* channel, one per cell in row-major
    order (the cells after the last value hold 0), e.g. Cleanup's roster beside its window. Models
    read it as a vector, not as a grid. Empty: no vector, every channel is a grid."""
    vector_high: tuple[int, ...] = ()
    """Largest value of each vector entry (the last channel's ``channel_high`` is their maximum)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(x) for x in self.shape))
        object.__setattr__(self, "channels", tuple(self.channels))
        object.__setattr__(self, "channel_high", tuple(int(x) for x in self.channel_high))
        object.__setattr__(self, "vector", tuple(self.vector))
        object.__setattr__(self, "vector_high", tuple(int(x) for x in self.vector_high))
        if self.shape[-1] != len(self.channels):
            raise ValueError(f"observation has {self.shape[-1]} channels but {len(self.channels)} names")
        if self.channel_high and (len(self.channel_high) != len(self.channels) or max(self.channel_high) > self.high):
            raise ValueError(
                f"channel_high needs one value in [0, high={self.high}] per channel ({len(self.channels)}), got {self.channel_high}"
            )
        cells = int(np.prod(self.shape[:-1]))
        if len(self.vector) > cells or len(self.vector_high) != len(self.vector) or max(self.vector_high, default=0) > self.high:
            raise ValueError(
                f"a vector of {len(self.vector)} values needs one vector_high in [0, high={self.high}] each and at most "
                f"{cells} cells (shape {self.shape}); got vector_high {self.vector_high}"
            )

    def highs(self) -> tuple[int, ...]:
        """The largest value of every channel (``channel_high``, or ``high`` for each)."""
        return self.channel_high or (self.high,) * len(self.channels)


@dataclass(frozen=True)
class EnvSpec:
    """Everything needed to interpret an env's arrays; serialised into manifests and checkpoints."""

    env_id: str
    agents: tuple[str, ...]
    action_names: tuple[str, ...]
    observation: ObservationLayout
    concepts: ConceptSet
    events: tuple[EventSpec, ...]
    config: dict[str, Any] = field(default_factory=dict)
    """The env's full config as a JSON-able dict (see ``envs.config.config_to_dict``)."""
    team_reward: str = "sum"
    """How the team's return is formed from the agents' rewards: ``sum`` (each agent earns its own,
    e.g. Cleanup's collective return) or ``mean`` (every agent receives the team's reward, e.g. the
    cooking delivery reward; the mean recovers it, and averages any per-agent shaping)."""
    grid: tuple[int, ...] = ()
    """(rows, cols) of the map that position concepts are normalised over (x = col / (cols - 1),
    y = row / (rows - 1)), so errors can be read in cells; empty where unknown."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "grid", tuple(int(x) for x in self.grid))
        if self.team_reward not in TEAM_REWARDS:
            raise ValueError(f"team_reward={self.team_reward!r} is not allowed; choose one of: {', '.join(TEAM_REWARDS)}")

    def team_return(self, per_agent: np.ndarray) -> np.ndarray:
        """Team return from per-agent returns (..., N) → (...), by ``team_reward``."""
        return team_return(per_agent, self.team_reward)

    @property
    def event_names(self) -> tuple[str, ...]:
        return tuple(e.name for e in self.events)

    @property
    def num_agents(self) -> int:
        return len(self.agents)

    def to_json(self) -> dict[str, Any]:
        return {
            "env_id": self.env_id,
            "agents": list(self.agents),
            "action_names": list(self.action_names),
            "observation": {
                **asdict(self.observation),
                **{k: list(getattr(self.observation, k)) for k in ("shape", "channels", "channel_high", "vector", "vector_high")},
            },
            "concepts": self.concepts.to_json(),
            "events": [asdict(e) for e in self.events],
            "config": self.config,
            "team_reward": self.team_reward,
            "grid": list(self.grid),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EnvSpec:
        try:
            return cls(
                env_id=data["env_id"],
                agents=tuple(data["agents"]),
                action_names=tuple(data["action_names"]),
                observation=ObservationLayout(**data["observation"]),
                concepts=ConceptSet.from_json(data["concepts"]),
                events=tuple(EventSpec(**e) for e in data["events"]),
                config=dict(data.get("config", {})),
                team_reward=data.get("team_reward", "sum"),
                grid=tuple(data.get("grid", ())),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed env spec: missing or bad field {exc}") from exc

    def dumps(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True)


def team_return(per_agent: np.ndarray, how: str = "sum") -> np.ndarray:
    """Team return from per-agent returns (..., N) → (...): their ``sum`` or their ``mean``."""
    per_agent = np.asarray(per_agent)
    return per_agent.sum(axis=-1) if how == "sum" else per_agent.mean(axis=-1)
