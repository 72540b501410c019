"""The mapping file of ``ethogram data import``: which columns of a foreign table mean what.

A table recorded elsewhere (one row per (episode, step, agent)) becomes a dataset through a small
YAML file parsed into ``ImportMapping`` (docs/data_import.md has the format and an example)::

    env_id: imported:foraging          # must start with "imported:" (no world of ours runs it)
    episode: ep                        # the key columns; these default to the dataset's own
    step: t                            #   names: episode, step, agent, action, reward
    agent: agent
    action: action                     # integer codes 0..A-1
    action_names: [up, down, eat]      # optional; else a0..a{max code}
    reward: reward
    done: done                         # optional: done, or terminated and/or truncated
    observation: [obs_*]               # optional: columns or globs, a flat vector per agent-step
    concepts:                          # at least one
      - {name: holding, kind: binary, column: holding, per_agent: true}
      - {name: state, owner: tree_0, kind: categorical, column: tree, classes: [bare, ripe]}
      - {name: position, owner: goal, kind: position, column: [goal_x, goal_y]}
    events: [ate, fought]              # optional: count columns, the event named as the column
    team_reward: sum                   # sum | mean (envs.spec.EnvSpec.team_reward)

Rules:
- Unknown keys are refused, naming the allowed ones; every value is type-checked here, before any
  table is read. Problems with the table itself are the importer's (``analysis.dataset.importer``).
- A concept column holds, in each row, the value that row's agent sees (it becomes that agent's
  concept slot). ``per_agent: true`` means instead that the column holds the row's *own* agent's
  value; it becomes one concept per agent (``agent_0.holding``, ``agent_1.holding``, ...), each seen
  by every agent, the way our worlds report agent concepts.
- ``owner`` (not per-agent concepts) is an agent id of the table (``agent_K`` for integer agent
  values, the value itself for strings) or an object name; default ``env``.
"""

from __future__ import annotations

import fnmatch
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from envs.config import ConfigError, check_range
from envs.spec import TEAM_REWARDS, ConceptKind, ConceptSpec

ENV_PREFIX = "imported:"
"""Every imported world's env id starts with this, so no tool mistakes it for one of our worlds."""


@dataclass(frozen=True)
class ConceptColumn:
    """One concept of the mapping: where its values are and how to read them."""

    name: str
    """What is measured (the concept's ``attr``), e.g. ``holding``; the concept is ``OWNER.name``."""
    kind: ConceptKind
    """binary (0/1), categorical (class names or indices), scalar, or position (two columns x, y)."""
    column: tuple[str, ...]
    """The table column (YAML: a string), or the x and y columns of a position (YAML: a list of two)."""
    owner: str = "env"
    """An agent id or an object name; not given with ``per_agent``."""
    per_agent: bool = False
    """The column holds each row's own agent's value: one concept per agent (module docstring)."""
    classes: tuple[str, ...] = ()
    """Class names of a categorical, in index order (the table may hold names or indices)."""
    low: float | None = None
    """Smallest value of a scalar; None: the column's minimum."""
    high: float | None = None
    """Largest value of a scalar; None: the column's maximum."""
    description: str = ""
    """One line for people (default: which column it came from)."""

    def __post_init__(self) -> None:
        column = (self.column,) if isinstance(self.column, str) else self.column
        object.__setattr__(self, "column", _names(f"concept {self.name!r}: column", column))
        object.__setattr__(self, "classes", tuple(str(c) for c in self.classes))
        try:
            object.__setattr__(self, "kind", ConceptKind(self.kind))
        except ValueError:
            raise ConfigError(f"concept {self.name!r}: kind={self.kind!r}; choose one of: {', '.join(ConceptKind)}") from None
        width = 2 if self.kind is ConceptKind.POSITION else 1
        if len(self.column) != width:
            shape = "a list of two columns [x, y]" if width == 2 else "one column name"
            raise ConfigError(f"concept {self.name!r} ({self.kind.value}): column must be {shape}, got {list(self.column)}")
        if self.per_agent and self.owner != "env":
            raise ConfigError(f"concept {self.name!r}: per_agent concepts are owned by every agent; remove owner={self.owner!r}")
        for bound in ("low", "high"):
            value = getattr(self, bound)
            if value is not None and self.kind is not ConceptKind.SCALAR:
                raise ConfigError(f"concept {self.name!r}: {bound} is only for scalar concepts ({self.name} is {self.kind.value})")
            if value is not None:
                check_range(f"concept {self.name!r}: {bound}", value)
        try:
            self.spec(self.owner, 0.0, 1.0)  # ConceptSpec's own checks: classes, owner and name
        except ValueError as exc:
            raise ConfigError(f"concept {self.name!r}: {exc}") from None

    def spec(self, owner: str, low: float, high: float) -> ConceptSpec:
        """The concept of ``owner``, with the scalar range ``low``..``high`` (where not given here)."""
        where = " and ".join(self.column)
        return ConceptSpec(
            owner=owner,
            attr=self.name,
            kind=self.kind,
            low=self.low if self.low is not None else low,
            high=self.high if self.high is not None else high,
            classes=self.classes,
            description=self.description or f"imported from column {where}" + (" (each row's own agent)" if self.per_agent else ""),
        )


@dataclass(frozen=True)
class ImportMapping:
    """How the columns of a table recorded elsewhere become a dataset (see the module docstring)."""

    env_id: str
    """Name of the imported world, ``imported:NAME``."""
    concepts: tuple[ConceptColumn, ...]
    """The ground-truth concepts, in the order of the concept vector; at least one."""
    episode: str = "episode"
    """Column of integer episode ids."""
    step: str = "step"
    """Column of the step within the episode: integers, every step from 0 to the episode's last."""
    agent: str = "agent"
    """Column of the agent: integers K (the agent is ``agent_K``) or strings (the agent id)."""
    action: str = "action"
    """Column of integer action codes, 0..len(action_names)-1."""
    reward: str = "reward"
    """Column of the reward received for the action of the step."""
    done: str | None = None
    """Column of the episode-ended flag (0/1), when the source has one flag; read as ``terminated``."""
    terminated: str | None = None
    """Column of the ended-by-the-rules flag (0/1)."""
    truncated: str | None = None
    """Column of the ended-at-the-horizon flag (0/1). Where no flag marks an episode's last step,
    the importer marks it truncated (the table ends there)."""
    action_names: tuple[str, ...] = ()
    """Name of each action code; empty: ``a0``..``a{max code}``."""
    observation: tuple[str, ...] = ()
    """Numeric observation columns, each a name or a glob (``obs_*``, matches in table order),
    stored as one uint8 vector per agent-step (``analysis.dataset.importer``); empty: none stored."""
    events: tuple[str, ...] = ()
    """Columns of per-step event counts (0..255); each event is named as its column."""
    team_reward: str = "sum"
    """How the team's return is formed from the agents' rewards: ``sum`` or ``mean``."""
    grid: tuple[int, ...] = ()
    """(rows, cols): position columns hold cells (x = col, y = row) and are normalised over them;
    empty: positions are already in [0, 1]. Either way -1 or empty (NaN) in both marks absent."""
    policy: str = ""
    """Display name of who acted (the manifest's policy, kind ``external``); empty: the table's file name."""
    iteration: int = -1
    """Training iteration of that policy (datasets of several iterations show change over training)."""

    def __post_init__(self) -> None:
        if not isinstance(self.env_id, str) or not self.env_id.startswith(ENV_PREFIX) or len(self.env_id) == len(ENV_PREFIX):
            raise ConfigError(f"env_id={self.env_id!r} must be {ENV_PREFIX}NAME (imported worlds are not ours to run)")
        for name in ("episode", "step", "agent", "action", "reward", "done", "terminated", "truncated"):
            value = getattr(self, name)
            if value is not None:
                _names(name, (value,))
        if self.done is not None and (self.terminated is not None or self.truncated is not None):
            raise ConfigError("give done (one flag) or terminated/truncated, not both")
        for name in ("action_names", "observation", "events"):
            object.__setattr__(self, name, _names(name, getattr(self, name)))
        if not isinstance(self.concepts, list | tuple):
            raise ConfigError(f"concepts must be a list of {{name, kind, column, ...}}, got {self.concepts!r:.60}")
        concepts = tuple(c if isinstance(c, ConceptColumn) else concept_from_dict(c, i) for i, c in enumerate(self.concepts))
        object.__setattr__(self, "concepts", concepts)
        if not concepts:
            raise ConfigError("concepts: map at least one concept column (the analyser describes behaviours by them)")
        if self.team_reward not in TEAM_REWARDS:
            raise ConfigError(f"team_reward={self.team_reward!r}; choose one of: {', '.join(TEAM_REWARDS)}")
        if not isinstance(self.grid, list | tuple) or len(self.grid) not in (0, 2):
            raise ConfigError(f"grid must be [rows, cols], got {self.grid!r}")
        object.__setattr__(self, "grid", tuple(self.grid))
        for i, n in enumerate(self.grid):
            check_range(f"grid[{i}]", n, 2, integer=True)
        check_range("iteration", self.iteration, -1, integer=True)
        if not isinstance(self.policy, str):
            raise ConfigError(f"policy must be a string, got {self.policy!r}")

    def key_columns(self) -> dict[str, str]:
        """Role → column for the key, action, reward and flag columns that are mapped."""
        roles = ("episode", "step", "agent", "action", "reward", "done", "terminated", "truncated")
        return {r: getattr(self, r) for r in roles if getattr(self, r) is not None}

    def observation_columns(self, table_columns: list[str]) -> tuple[list[str], list[str]]:
        """(the observation columns in order, the entries that match no column of the table)."""
        found, unmatched = [], []
        for entry in self.observation:
            hits = [c for c in table_columns if fnmatch.fnmatchcase(c, entry)] if _is_glob(entry) else [entry] * (entry in table_columns)
            found += [c for c in hits if c not in found]
            if not hits:
                unmatched.append(entry)
        return found, unmatched

    def to_json(self) -> dict[str, Any]:
        """The mapping as JSON (stored in the manifest's env config)."""
        data = asdict(self)
        data["concepts"] = [
            {**asdict(c), "kind": c.kind.value, "column": list(c.column), "classes": list(c.classes)} for c in self.concepts
        ]
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}


def mapping_from_dict(data: Any, where: str = "mapping") -> ImportMapping:
    """An ImportMapping from parsed YAML; ConfigError names unknown keys and the allowed ones."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of keys to values, got {type(data).__name__}")
    _known(data, ImportMapping, where)
    missing = [k for k in ("env_id", "concepts") if data.get(k) is None]
    if missing:
        raise ConfigError(f"{where}: {' and '.join(missing)} required (env_id: imported:NAME; concepts: a list)")
    try:
        return ImportMapping(**{k: v for k, v in data.items() if v is not None})  # an empty YAML value: the default
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def concept_from_dict(data: Any, index: int) -> ConceptColumn:
    """Concept ``index`` of the mapping's list; ConfigError names unknown or missing keys."""
    where = f"concepts[{index}]"
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected {{name, kind, column, ...}}, got {data!r:.60}")
    _known(data, ConceptColumn, where)
    missing = [k for k in ("name", "kind", "column") if k not in data]
    if missing:
        raise ConfigError(f"{where}: missing {', '.join(missing)}")
    if not isinstance(data["name"], str) or not isinstance(data.get("owner", "env"), str):
        raise ConfigError(f"{where}: name and owner must be strings")
    if not isinstance(data.get("per_agent", False), bool):
        raise ConfigError(f"{where}: per_agent must be true or false, got {data['per_agent']!r}")
    try:
        return ConceptColumn(**data)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def load_mapping(path: str | Path) -> ImportMapping:
    """The mapping in YAML file ``path``; ConfigError names the file and the problem."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    return mapping_from_dict(data, str(path))


def _known(data: dict[str, Any], cls: type, where: str) -> None:
    allowed = [f.name for f in fields(cls)]
    unknown = [str(k) for k in data if k not in allowed]
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")


def _names(field: str, values: Any) -> tuple[str, ...]:
    """``values`` as a tuple of non-empty strings (a lone string is one name)."""
    values = (values,) if isinstance(values, str) else values
    if not isinstance(values, list | tuple) or not all(isinstance(v, str) and v for v in values):
        raise ConfigError(f"{field} must be a list of non-empty strings, got {values!r:.80}")
    return tuple(values)


def _is_glob(entry: str) -> bool:
    return any(ch in entry for ch in "*?[")
