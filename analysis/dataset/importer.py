"""Importing trajectories recorded elsewhere: a table and a mapping become a dataset (``ethogram data import``).

The table holds one row per (episode, step, agent); the mapping (``analysis.dataset.mapping``)
says which columns are what. The result is a dataset like any recorded one (same writer, same
format, policy kind ``external``), so ``load`` and ``ethogram analyze`` read it unchanged.

Rules:
- The table is read with pandas by its suffix (``SUFFIXES``); a directory is read as Parquet
  (another dataset's ``shards/``, a partitioned export). A pandas DataFrame may be given directly.
- Everything is validated before anything is written, each kind of problem reported whole:
  1. every mapped column exists (all missing ones named together, with the table's columns);
  2. values: episode ids, steps and actions are integers, agents are integers or strings, rewards
     and observations finite numbers, flags and binary concepts 0/1, categorical values among the
     classes (class names, or indices), scalars within low..high where given, positions in [0, 1]
     (in the grid's cells with ``grid``; -1 or NaN in both coordinates is absent), event counts
     integers in 0..255;
  3. rows: each (episode, step, agent) at most once, and every episode has every agent at every
     step from 0 to its last. Missing rows are an error, not padding: the dataset's mask is per
     step and pads only the end of an episode. Episodes may differ in length (shorter ones are
     padded and masked, as recorded ones are). A done flag may only mark an episode's last step;
     a last step no flag marks is marked truncated (the table ends there).
- Agents are sorted, whatever order the table lists them in: numbers numerically (integer K
  becomes ``agent_K``), strings in natural order (``a2`` before ``a10``; a string is the agent id
  itself). Episodes keep their ids.
- Observations: the observation columns, in mapping order (a glob's matches in table order), are
  the channels of a (1, 1, D) uint8 layout of mode ``vector`` (``envs.spec.VECTOR_MODE``). A
  column of integers in 0..255 is stored exactly; any other is quantised linearly over its range
  into 0..255. Either way ``value = low + code * scale``, with ``low`` and ``scale`` per column in
  the manifest's ``env.config.observation``.
- The manifest's ``env.config`` holds ``imported_from`` (the table's file name), the ``mapping``
  and, with observations, their decoding (``observation``); the policy is ``external``.
- The writer (``DatasetWriter``) writes into a hidden directory beside OUT, renamed to OUT when
  whole: OUT ends up holding the complete dataset or nothing. OUT must not exist, or be empty.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from analysis.dataset.format import DatasetError, Manifest, PolicyInfo
from analysis.dataset.mapping import ConceptColumn, ImportMapping, load_mapping
from analysis.dataset.reader import Dataset, open_dataset
from analysis.dataset.writer import SHARD_ROWS, DatasetWriter, EpisodeBatch
from envs.spec import ABSENT, VECTOR_MODE, ConceptKind, ConceptSet, ConceptSpec, EnvSpec, EventSpec, ObservationLayout

SUFFIXES = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".csv.gz": "csv",
    ".tsv": "tsv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".feather": "feather",
    ".arrow": "feather",
}
"""Table file suffix → how pandas reads it."""
_READERS = {
    "parquet": pd.read_parquet,
    "csv": pd.read_csv,
    "tsv": lambda p: pd.read_csv(p, sep="\t"),
    "json": pd.read_json,
    "jsonl": lambda p: pd.read_json(p, lines=True),
    "feather": pd.read_feather,
}
_EXAMPLES = 5
"""Examples a problem message shows."""


@dataclass(frozen=True)
class Placement:
    """Where the table's rows go in the dataset's (E, T, N) arrays."""

    episode_ids: np.ndarray
    """(E,) int64 — sorted episode ids."""
    lengths: np.ndarray
    """(E,) int64 — steps of each episode."""
    agents: tuple[str, ...]
    """Agent ids, sorted (see the module docstring)."""
    agent: np.ndarray
    """(R,) int64 — each row's agent index."""
    pos: np.ndarray
    """(R,) int64 — each row's flat index into (E, T, N)."""

    @property
    def shape(self) -> tuple[int, int, int]:
        """(E, T, N)."""
        return len(self.episode_ids), int(self.lengths.max()), len(self.agents)

    def scatter(self, values: np.ndarray, dtype: type, fill: float = 0) -> np.ndarray:
        """Row values (R, ...) → (E, T, N, ...) in ``dtype``, ``fill`` where no row is."""
        out = np.full((int(np.prod(self.shape)), *values.shape[1:]), fill, dtype=dtype)
        out[self.pos] = values
        return out.reshape(*self.shape, *values.shape[1:])


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """The table at ``path``, read by its suffix (``SUFFIXES``); a directory is read as Parquet."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    kind = "parquet" if path.is_dir() else next((k for s, k in SUFFIXES.items() if path.name.lower().endswith(s)), None)
    if kind is None:
        raise DatasetError(f"{path}: unknown table suffix; supported: {', '.join(SUFFIXES)}, or a directory of Parquet files")
    try:
        return _READERS[kind](path)
    except (OSError, ValueError, pa.ArrowException) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        raise DatasetError(f"{path}: cannot be read as {kind} ({first})") from None


def import_table(
    table: str | os.PathLike | pd.DataFrame,
    mapping: ImportMapping | str | os.PathLike,
    out: str | os.PathLike,
    *,
    shard_rows: int = SHARD_ROWS,
) -> Dataset:
    """Validate ``table`` against ``mapping`` and write it as a new dataset at ``out`` (module docstring).

    ``mapping`` is an ImportMapping or the path of its YAML file. Returns the opened dataset;
    raises DatasetError (or ConfigError for the mapping) before writing anything when the input is bad.
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DatasetError(f"{out} exists and is not empty; import writes a new dataset: choose a new --out directory")
    mapping = mapping if isinstance(mapping, ImportMapping) else load_mapping(mapping)
    source = "DataFrame" if isinstance(table, pd.DataFrame) else Path(table).name
    frame = table if isinstance(table, pd.DataFrame) else read_table(table)
    manifest, batch = build(frame, mapping, source)
    return _write(out, manifest, batch, shard_rows)


def build(frame: pd.DataFrame, mapping: ImportMapping, source: str = "DataFrame") -> tuple[Manifest, EpisodeBatch]:
    """The manifest and the episodes of a validated table (DatasetError lists what is wrong)."""
    if not all(isinstance(c, str) for c in frame.columns):
        frame = frame.rename(columns=str)  # the mapping names columns by strings
    obs_columns = _check_columns(frame, mapping)
    if frame.empty:
        raise DatasetError("the table has no rows")
    problems: list[str] = []
    keys = {role: _column(frame, role, column, problems) for role, column in mapping.key_columns().items()}
    concepts = [_concept_values(frame, c, mapping.grid, problems) for c in mapping.concepts]
    events = [_numbers(frame, "event", c, problems, integer=True, low=0, high=255) for c in mapping.events]
    obs = [_numbers(frame, "observation", c, problems) for c in obs_columns]
    _raise(problems, "values")
    place = _place(keys["episode"], keys["step"], keys["agent"])
    top = int(keys["action"].max())
    action_names = mapping.action_names or tuple(f"a{i}" for i in range(top + 1))
    if top >= len(action_names):
        problems.append(f"action column {mapping.action!r}: codes up to {top}, but action_names has {len(action_names)}")
    terminated, truncated = _flags(place, keys, problems)
    _raise(problems, "episodes")
    specs, concept_array = _concepts(place, mapping.concepts, concepts)
    layout, obs_array, obs_config = _observation(place, obs_columns, obs)
    spec = EnvSpec(
        env_id=mapping.env_id,
        agents=place.agents,
        action_names=action_names,
        observation=layout,
        concepts=ConceptSet(specs, place.agents),
        events=tuple(EventSpec(c, f"count from column {c}") for c in mapping.events),
        config={"imported_from": source, "mapping": mapping.to_json(), **obs_config},
        team_reward=mapping.team_reward,
        grid=mapping.grid,
    )
    manifest = Manifest(
        env=spec,
        policy=PolicyInfo(kind="external", name=mapping.policy or f"imported:{source}", iteration=mapping.iteration),
        obs_storage="fixed_size_binary" if obs_columns else "none",
    )
    batch = EpisodeBatch(
        episode_ids=place.episode_ids,
        lengths=place.lengths,
        actions=place.scatter(keys["action"], np.int16),
        rewards=place.scatter(keys["reward"], np.float32),
        concepts=concept_array,
        events=place.scatter(np.stack(events, axis=-1) if events else np.zeros((len(place.pos), 0)), np.uint8),
        terminated=terminated,
        truncated=truncated,
        obs=obs_array,
    )
    return manifest, batch


# --- columns and values ---


def _check_columns(frame: pd.DataFrame, mapping: ImportMapping) -> list[str]:
    """The observation columns; DatasetError naming every mapped column the table lacks."""
    have = list(frame.columns)
    obs, unmatched = mapping.observation_columns(have)
    wanted = [
        *(f"{role} {c!r}" for role, c in mapping.key_columns().items()),
        *(f"concept {c.name!r} {col!r}" for c in mapping.concepts for col in c.column),
        *(f"event {c!r}" for c in mapping.events),
    ]
    named = [*mapping.key_columns().values(), *(col for c in mapping.concepts for col in c.column), *mapping.events]
    missing = [w for w, c in zip(wanted, named) if c not in have] + [f"observation {g!r} (matches no column)" for g in unmatched]
    if missing:
        raise DatasetError(f"the table lacks {len(missing)} mapped column(s): {'; '.join(missing)}. Its columns: {', '.join(have)}")
    return obs


def _column(frame: pd.DataFrame, role: str, column: str, problems: list[str]) -> np.ndarray | None:
    """A key, action, reward or flag column's values, checked for its role."""
    if role == "agent":
        return _agents(frame[column], problems)
    rules = {
        "episode": {"integer": True},
        "step": {"integer": True, "low": 0},
        "action": {"integer": True, "low": 0, "high": np.iinfo(np.int16).max},  # stored as int16
        "reward": {},
    }.get(role, {"integer": True, "low": 0, "high": 1})
    return _numbers(frame, role, column, problems, **rules)


def _numbers(
    frame: pd.DataFrame,
    role: str,
    column: str,
    problems: list[str],
    *,
    integer: bool = False,
    low: float | None = None,
    high: float | None = None,
    absent: bool = False,
) -> np.ndarray | None:
    """Column values as float64 (int64 for integer columns), or None with a problem appended.

    ``absent``: empty (NaN) values are allowed (position columns) and stay NaN.
    """
    series = frame[column]
    where = f"{role} column {column!r}"
    if not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)):
        bad = next((v for v in series if not isinstance(v, int | float | np.number)), None)
        problems.append(f"{where}: not numeric (dtype {series.dtype}, e.g. {bad!r})")
        return None
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    empty = np.isnan(values)
    if empty.any() and not absent:
        problems.append(f"{where}: {int(empty.sum())} empty value(s), first at row {int(np.argmax(empty))}")
        return None
    seen = values[~empty]
    if integer and (seen != np.round(seen)).any():
        problems.append(f"{where}: must hold integers, found {seen[seen != np.round(seen)][0]!r}")
        return None
    if seen.size and ((low is not None and seen.min() < low) or (high is not None and seen.max() > high)):
        problems.append(f"{where}: values must lie in [{low}, {high}], found {seen.min():g}..{seen.max():g}")
        return None
    if integer and pd.api.types.is_integer_dtype(series) and not empty.any():
        return series.to_numpy(dtype=np.int64)  # exact beyond 2**53
    return values.astype(np.int64) if integer else values


def _agents(series: pd.Series, problems: list[str]) -> np.ndarray | None:
    """Agent ids per row: ``agent_K`` for integers, the string itself otherwise (object array)."""
    if series.isna().any():
        problems.append(f"agent column {series.name!r}: {int(series.isna().sum())} empty value(s)")
        return None
    if pd.api.types.is_numeric_dtype(series):
        numbers = _numbers(series.to_frame(), "agent", series.name, problems, integer=True, low=0)
        return None if numbers is None else numbers
    return series.astype(str).to_numpy(dtype=object)


def _concept_values(frame: pd.DataFrame, concept: ConceptColumn, grid: tuple[int, ...], problems: list[str]) -> np.ndarray | None:
    """A concept's ground-truth values per row: (R,) or (R, 2) for a position; None with problems appended."""
    role = f"concept {concept.name!r}"
    column = concept.column[0]
    if concept.kind is ConceptKind.BINARY:
        return _numbers(frame, role, column, problems, integer=True, low=0, high=1)
    if concept.kind is ConceptKind.SCALAR:
        return _numbers(frame, role, column, problems, low=concept.low, high=concept.high)
    if concept.kind is ConceptKind.CATEGORICAL:
        return _categorical(frame[column], concept, problems)
    return _position(frame, concept, grid, problems)


def _categorical(series: pd.Series, concept: ConceptColumn, problems: list[str]) -> np.ndarray | None:
    """Class indices from class names or from indices."""
    classes = concept.classes
    if pd.api.types.is_numeric_dtype(series):
        return _numbers(series.to_frame(), f"concept {concept.name!r}", series.name, problems, integer=True, low=0, high=len(classes) - 1)
    names = series.astype(str)
    codes = pd.Categorical(names, categories=list(classes)).codes  # -1: not a class
    if (codes < 0).any():
        unknown = sorted(set(names[codes < 0]))
        problems.append(
            f"concept {concept.name!r} column {series.name!r}: {len(unknown)} value(s) not among classes {list(classes)}: "
            f"{unknown[:_EXAMPLES]}"
        )
        return None
    return codes.astype(np.float64)


def _position(frame: pd.DataFrame, concept: ConceptColumn, grid: tuple[int, ...], problems: list[str]) -> np.ndarray | None:
    """(R, 2) x, y normalised to [0, 1] (``ABSENT`` in both where the object is absent)."""
    role = f"concept {concept.name!r}"
    highs = (grid[1] - 1, grid[0] - 1) if grid else (1, 1)  # x is a column, y a row
    xy = [_numbers(frame, role, c, problems, absent=True, low=-1, high=h) for c, h in zip(concept.column, highs)]
    if xy[0] is None or xy[1] is None:
        return None
    x, y = xy
    absent = (np.isnan(x) & np.isnan(y)) | ((x == -1) & (y == -1))
    bad = ~absent & (np.isnan(x) | np.isnan(y) | (x < 0) | (y < 0))
    if bad.any():
        span = f"0..{highs[0]} and 0..{highs[1]}" if grid else "[0, 1]"
        problems.append(
            f"{role}: {int(bad.sum())} row(s) with x, y not both in {span} nor both absent (-1 or empty), "
            f"first at row {int(np.argmax(bad))}"
        )
        return None
    return np.where(absent[:, None], ABSENT, np.stack([x / highs[0], y / highs[1]], axis=-1))


def _raise(problems: list[str], what: str) -> None:
    if problems:
        raise DatasetError(f"cannot import the table: {len(problems)} problem(s) with its {what}:\n  " + "\n  ".join(problems))


# --- rows, flags, concepts, observations ---


def _place(episode: np.ndarray, step: np.ndarray, agent: np.ndarray) -> Placement:
    """Rows → (E, T, N) positions; DatasetError for repeated rows and for missing ones."""
    episode_ids, ep = np.unique(episode, return_inverse=True)
    numeric = agent.dtype != object
    keys, agent_index = np.unique(agent, return_inverse=True)
    if not numeric:  # natural order: agent_2 before agent_10
        order = sorted(range(len(keys)), key=lambda i: [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", keys[i])])
        keys, agent_index = keys[order], np.argsort(order)[agent_index]
    agents = tuple(f"agent_{int(k)}" if numeric else str(k) for k in keys)
    lengths = np.zeros(len(episode_ids), np.int64)
    np.maximum.at(lengths, ep, step.astype(np.int64) + 1)
    e, t, n = len(episode_ids), int(lengths.max()), len(agents)
    pos = (ep * t + step.astype(np.int64)) * n + agent_index
    place = Placement(episode_ids.astype(np.int64), lengths, agents, agent_index.astype(np.int64), pos.astype(np.int64))
    count = np.bincount(pos, minlength=e * t * n)
    needed = np.repeat((np.arange(t)[None, :] < lengths[:, None]).reshape(-1), n)  # (E*T*N,)
    problems = []
    for what, where in (("appear more than once", count > 1), ("are missing", needed & (count == 0))):
        if where.any():
            examples = ", ".join(_describe(place, i) for i in np.flatnonzero(where)[:_EXAMPLES])
            problems.append(f"{int(where.sum())} (episode, step, agent) row(s) {what}, e.g. {examples}")
    if problems:
        problems.append("every episode needs every agent exactly once at every step from 0 to its last (the mask pads only episode ends)")
    _raise(problems, "rows")
    return place


def _describe(place: Placement, flat: int) -> str:
    _, t, n = place.shape
    return f"(episode {place.episode_ids[flat // (t * n)]}, step {flat // n % t}, {place.agents[flat % n]})"


def _flags(place: Placement, keys: dict[str, np.ndarray], problems: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(E, T) terminated and truncated: a flag of any agent counts; the unmarked last step is truncated."""
    e, t, _ = place.shape
    last = np.arange(t)[None, :] == (place.lengths - 1)[:, None]  # (E, T)
    out = {}
    for name, roles in (("terminated", ("terminated", "done")), ("truncated", ("truncated",))):
        flag = np.zeros((e, t), bool)
        for role in (r for r in roles if r in keys):
            flag |= place.scatter(keys[role].astype(bool), bool).any(axis=-1)
        early = flag & ~last
        if early.any():
            i, s = np.argwhere(early)[0]
            problems.append(
                f"{int(early.sum())} {name} flag(s) before an episode's last step, e.g. episode {place.episode_ids[i]} at step {s}"
            )
        out[name] = flag
    out["truncated"] |= last & ~out["terminated"] & ~out["truncated"]
    return out["terminated"], out["truncated"]


def _concepts(place: Placement, columns: tuple[ConceptColumn, ...], values: list[np.ndarray]) -> tuple[list[ConceptSpec], np.ndarray]:
    """The concept specs (a per-agent column gives one per agent) and the (E, T, N, D) gt array."""
    e, t, n = place.shape
    specs, blocks = [], []
    for column, v in zip(columns, values):
        scalar = column.kind is ConceptKind.SCALAR and v.size
        low, high = (float(v.min()), float(v.max())) if scalar else (0.0, 1.0)  # a scalar's range where the mapping gives none
        if not column.per_agent:
            specs.append(column.spec(column.owner, low, high))
            blocks.append(place.scatter(v.reshape(len(v), -1), np.float32))  # (E, T, N, W) as each viewer sees it
            continue
        own = place.scatter(v.reshape(len(v), -1), np.float32)  # (E, T, N owners, W): each row's own agent
        specs += [column.spec(agent, low, high) for agent in place.agents]
        blocks.append(np.broadcast_to(own.reshape(e, t, 1, -1), (e, t, n, own.shape[2] * own.shape[3])))
    array = np.concatenate(blocks, axis=-1) if blocks else np.zeros((e, t, n, 0), np.float32)
    return specs, np.ascontiguousarray(array, dtype=np.float32)


def _observation(place: Placement, columns: list[str], values: list[np.ndarray]) -> tuple[ObservationLayout, np.ndarray | None, dict]:
    """The (1, 1, D) vector layout, the (E, T, N, 1, 1, D) uint8 codes and the decoding (module docstring)."""
    if not columns:
        return ObservationLayout(mode="none", shape=(1, 1, 0), channels=(), description="no observations imported"), None, {}
    v = np.stack(values, axis=-1)  # (R, D)
    lo, hi = v.min(axis=0), v.max(axis=0)
    exact = (v == np.round(v)).all(axis=0) & (lo >= 0) & (hi <= 255)
    low = np.where(exact, 0.0, lo)
    scale = np.where(exact, 1.0, np.where(hi > lo, (hi - lo) / 255, 1.0))
    codes = np.clip(np.rint((v - low) / scale), 0, 255).astype(np.uint8)
    channel_high = np.maximum(codes.max(axis=0), 1).astype(int)
    layout = ObservationLayout(
        mode=VECTOR_MODE,
        shape=(1, 1, len(columns)),
        channels=tuple(columns),
        high=int(channel_high.max()),
        channel_high=tuple(channel_high.tolist()),
        description="imported vector, one channel per table column; value = low + code * scale (env.config.observation)",
    )
    decoding = {"observation": {"columns": list(columns), "low": low.tolist(), "scale": scale.tolist()}}
    return layout, place.scatter(codes.reshape(-1, 1, 1, len(columns)), np.uint8), decoding


def _write(out: Path, manifest: Manifest, batch: EpisodeBatch, shard_rows: int) -> Dataset:
    """Write through DatasetWriter into a hidden directory beside ``out``, then rename it to ``out``."""
    tmp = out.parent / f".{out.name}.import-tmp-{os.getpid()}"
    e, t, n = batch.actions.shape
    per = max(1, shard_rows // (t * n))  # episodes per shard
    try:
        with DatasetWriter(tmp, manifest, shard_rows=shard_rows) as writer:
            for start in range(0, e, per):
                part = slice(start, start + per)
                writer.add(EpisodeBatch(**{f.name: _cut(getattr(batch, f.name), part) for f in fields(batch)}))
        if out.exists():
            out.rmdir()  # empty, checked before reading the table
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return open_dataset(out)


def _cut(value: np.ndarray | None, part: slice) -> np.ndarray | None:
    return None if value is None else value[part]
