"""Reading datasets: validate everything, then load arrays fast.

``open_dataset`` checks the manifest (every field, its type), that ``shards/`` is there (a dataset
whose shards were deleted is an error, not an empty dataset) and every shard's footer (readable,
written for this manifest and env, exact Arrow schema, row count) without reading row data, and
raises DatasetError naming the file and the problem; pyarrow's own exceptions never escape.
``load`` reads only the requested columns of the selected shards and scatters the rows into
padded (E, T, N, ...) arrays; datasets of the same env concatenate (their concept, event and
action layouts must agree; configs may differ, e.g. two layouts of one kitchen).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from analysis.dataset.episodes import Episodes
from analysis.dataset.format import (
    DEFAULT_FIELDS,
    FIELDS,
    FOOTER_KEY,
    MANIFEST_FILE,
    SHARD_DIR,
    DatasetError,
    Manifest,
    arrow_schema,
    field_columns,
    identity_hash,
    obs_bytes,
)
from envs.spec import EnvSpec

_PAD = {"actions": -1}


@dataclass(frozen=True)
class ShardInfo:
    """One validated shard: where it is and which episodes it holds."""

    path: Path
    episodes: tuple[int, ...]
    lengths: tuple[int, ...]
    rows: int


class Dataset:
    """An opened, validated dataset directory."""

    def __init__(self, path: Path, manifest: Manifest, shards: Sequence[ShardInfo]) -> None:
        self.path = path
        self.manifest = manifest
        self.shards = tuple(shards)
        self.episode_ids = np.array([e for s in self.shards for e in s.episodes], dtype=np.int64)
        self.lengths = np.array([n for s in self.shards for n in s.lengths], dtype=np.int64)
        order = np.argsort(self.episode_ids, kind="stable")
        self.episode_ids, self.lengths = self.episode_ids[order], self.lengths[order]

    @property
    def num_episodes(self) -> int:
        return len(self.episode_ids)

    @property
    def agent_steps(self) -> int:
        return int(self.lengths.sum()) * self.manifest.env.num_agents

    def load(self, fields: Iterable[str] = DEFAULT_FIELDS, episodes: Iterable[int] | None = None) -> Episodes:
        return load([self], fields=fields, episodes=episodes)

    def table(self, columns: Sequence[str] | None = None) -> pa.Table:
        """All rows as one Arrow table (for custom queries)."""
        tables = [_read(s, columns) for s in self.shards]
        return pa.concat_tables(tables) if tables else arrow_schema(self.manifest).empty_table()

    def __repr__(self) -> str:
        m = self.manifest
        where = f"{str(self.path)!r}, env={m.env.env_id}, episodes={self.num_episodes}"
        return f"Dataset({where}, policy={m.policy.name!r}, condition={m.condition.id!r})"


def open_dataset(path: str | os.PathLike | Dataset) -> Dataset:
    """Open and validate the dataset at ``path`` (see the module docstring)."""
    if isinstance(path, Dataset):
        return path
    path = Path(path)
    manifest, raw = read_manifest(path)
    if not (path / SHARD_DIR).is_dir():
        raise DatasetError(
            f"{path} has no {SHARD_DIR}/ directory: its episodes are gone (deleted, or not copied with {MANIFEST_FILE}); "
            "record the dataset again (the same command resumes into it)"
        )
    return Dataset(path, manifest, scan_shards(path, manifest, identity_hash(raw)))


def read_manifest(path: Path) -> tuple[Manifest, dict[str, Any]]:
    if not path.exists():
        raise DatasetError(f"{path} does not exist")
    if not path.is_dir():
        raise DatasetError(f"{path} is not a directory; a dataset is a directory holding {MANIFEST_FILE} and {SHARD_DIR}/")
    target = path / MANIFEST_FILE
    if not target.exists():
        what = "an empty directory" if not any(path.iterdir()) else "no manifest.json in it"
        raise DatasetError(f"{path} is not an ethogram dataset ({what}); record one with `ethogram rollout`")
    try:
        raw = json.loads(target.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DatasetError(f"{target}: not valid JSON ({exc})") from None
    return Manifest.from_json(raw, str(target)), raw


def scan_shards(path: Path, manifest: Manifest, manifest_hash: str) -> list[ShardInfo]:
    """Validate every shard's footer against the manifest; no row data is read."""
    schema = arrow_schema(manifest)
    shards = [_check_shard(p, manifest, manifest_hash, schema) for p in sorted((path / SHARD_DIR).glob("*.parquet"))]
    owner: dict[int, Path] = {}
    for shard in shards:
        for e in shard.episodes:
            if e in owner:
                raise DatasetError(f"episode {e} appears in two shards: {owner[e].name} and {shard.path.name} ({path})")
            owner[e] = shard.path
    return shards


def _check_shard(path: Path, manifest: Manifest, manifest_hash: str, schema: pa.Schema) -> ShardInfo:
    try:
        with pq.ParquetFile(path) as pf:
            meta, found = pf.metadata, pf.schema_arrow
    except (OSError, pa.ArrowException) as exc:
        raise DatasetError(f"shard {path}: cannot be read: truncated or corrupt file ({_first_line(exc)})") from None
    raw = (found.metadata or {}).get(FOOTER_KEY)
    if raw is None:
        raise DatasetError(f"shard {path}: no '{FOOTER_KEY.decode()}' footer metadata; it was not written by ethogram's DatasetWriter")
    try:
        info = json.loads(raw)
        episodes, lengths, env_id, dataset = tuple(info["episodes"]), tuple(info["lengths"]), info["env_id"], info["dataset"]
    except (ValueError, KeyError, TypeError) as exc:
        raise DatasetError(f"shard {path}: corrupt footer metadata ({exc})") from None
    if env_id != manifest.env.env_id:
        raise DatasetError(f"shard {path} was recorded in env {env_id!r}, but this dataset is of env {manifest.env.env_id!r}")
    if dataset != manifest_hash:
        raise DatasetError(
            f"shard {path} belongs to another dataset (manifest hash {dataset}, this one {manifest_hash}): "
            "same env, but another config, policy, condition or storage"
        )
    _check_schema(path, found, schema)
    rows = sum(lengths) * manifest.env.num_agents
    if len(episodes) != len(lengths) or meta.num_rows != rows:
        raise DatasetError(
            f"shard {path}: holds {meta.num_rows} rows but its footer lists {len(episodes)} episodes of {rows}; corrupt file"
        )
    return ShardInfo(path=path, episodes=episodes, lengths=lengths, rows=meta.num_rows)


def _check_schema(path: Path, found: pa.Schema, expected: pa.Schema) -> None:
    names = set(found.names)
    for field in expected:
        if field.name not in names:
            raise DatasetError(f"shard {path}: missing column {field.name!r} ({field.type}); it has: {', '.join(found.names)}")
        got = found.field(field.name).type
        ok = got == field.type
        if field.name == "condition":
            ok = pa.types.is_string(got) or (pa.types.is_dictionary(got) and pa.types.is_string(got.value_type))
        if not ok:
            raise DatasetError(f"shard {path}: column {field.name!r} has type {got}, expected {field.type}")


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _read(shard: ShardInfo, columns: Sequence[str] | None) -> pa.Table:
    try:
        with pq.ParquetFile(shard.path) as pf:
            return pf.read(columns=list(columns) if columns is not None else None)
    except (OSError, pa.ArrowException) as exc:
        raise DatasetError(f"shard {shard.path}: cannot read its rows: truncated or corrupt file ({_first_line(exc)})") from None


# --- loading into arrays ---


def load(
    paths_or_path: str | os.PathLike | Dataset | Iterable[str | os.PathLike | Dataset],
    fields: Iterable[str] = DEFAULT_FIELDS,
    conditions: Iterable[str] | None = None,
    iterations: Iterable[int] | None = None,
    episodes: Iterable[int] | None = None,
) -> Episodes:
    """Load one or several datasets of one env as padded arrays (see ``Episodes``).

    ``conditions`` / ``iterations`` keep the datasets recorded under those condition ids / policy
    iterations; ``episodes`` keeps those episode ids (in every dataset). ``fields`` picks the
    per-step arrays (``FIELDS``); leave out ``obs`` to skip the biggest column.
    """
    fields = tuple(fields)
    unknown = [f for f in fields if f not in FIELDS]
    if unknown:
        raise DatasetError(f"unknown field(s) {', '.join(unknown)}; valid: {', '.join(FIELDS)}")
    single = isinstance(paths_or_path, str | os.PathLike | Dataset)
    datasets = [open_dataset(p) for p in ([paths_or_path] if single else paths_or_path)]
    if not datasets:
        raise DatasetError("no dataset given")
    datasets = _filter_datasets(datasets, conditions, iterations)
    _check_compatible(datasets, fields)
    wanted = None if episodes is None else np.unique(np.fromiter(episodes, dtype=np.int64))
    plan = []
    for ds in datasets:
        keep = np.ones(ds.num_episodes, bool) if wanted is None else np.isin(ds.episode_ids, wanted)
        plan.append((ds, ds.episode_ids[keep], ds.lengths[keep]))
    if wanted is not None:
        missing = np.setdiff1d(wanted, np.concatenate([ids for _, ids, _ in plan]))
        if missing.size:
            raise DatasetError(f"episode id(s) {missing[:10].tolist()} are in none of the datasets")
    return _assemble(plan, fields)


def _filter_datasets(datasets: list[Dataset], conditions: Iterable[str] | None, iterations: Iterable[int] | None) -> list[Dataset]:
    kept = datasets
    if conditions is not None:
        conditions = set(conditions)
        kept = [d for d in kept if d.manifest.condition.id in conditions]
    if iterations is not None:
        iterations = {int(i) for i in iterations}
        kept = [d for d in kept if d.manifest.policy.iteration in iterations]
    if not kept:
        have = sorted({(d.manifest.condition.id, d.manifest.policy.iteration) for d in datasets})
        raise DatasetError(f"no dataset matches conditions={conditions} iterations={iterations}; available (condition, iteration): {have}")
    return kept


def _check_compatible(datasets: list[Dataset], fields: tuple[str, ...]) -> None:
    first = datasets[0].manifest.env
    for ds in datasets:
        env = ds.manifest.env
        for name in fields:
            if not ds.manifest.has(name):
                raise DatasetError(f"{ds.path} has no {name!r} column (see storage in its manifest); leave it out of fields")
        if ds is datasets[0]:
            continue
        if env.env_id != first.env_id:
            raise DatasetError(
                f"cannot combine datasets of different envs: {datasets[0].path} is {first.env_id!r}, {ds.path} {env.env_id!r}"
            )
        checks = {
            "agents": (env.agents, first.agents),
            "action names": (env.action_names, first.action_names),
            "concepts": (env.concepts.to_json(), first.concepts.to_json()),
            "events": (env.event_names, first.event_names),
            "observation shape": (env.observation.shape, first.observation.shape) if "obs" in fields else (0, 0),
        }
        for what, (a, b) in checks.items():
            if a != b:
                raise DatasetError(f"cannot combine {datasets[0].path} and {ds.path}: their {what} differ")


def _assemble(plan: list[tuple[Dataset, np.ndarray, np.ndarray]], fields: tuple[str, ...]) -> Episodes:
    spec = plan[0][0].manifest.env
    n_agents = spec.num_agents
    total = sum(len(ids) for _, ids, _ in plan)
    horizon = max((int(lengths.max()) for _, _, lengths in plan if len(lengths)), default=0)
    shapes = {
        "actions": ((), np.int16),
        "rewards": ((), np.float32),
        "concepts": ((spec.concepts.gt_dim,), np.float32),
        "events": ((len(spec.events),), np.uint8),
        "obs": (spec.observation.shape, np.uint8),
        "predicted": ((spec.concepts.pred_dim,), np.float32),
        "intervened": ((spec.concepts.pred_dim,), np.float32),
    }
    out = {f: _padded((total, horizon, n_agents, *shapes[f][0]), shapes[f][1], _PAD.get(f, 0)) for f in fields}
    flags = {f: np.zeros((total, horizon), dtype=bool) for f in ("terminated", "truncated")}
    jobs, offset = [], 0
    for ds, ids, lengths in plan:
        jobs += [(shard, ids, lengths, offset) for shard in ds.shards if np.isin(shard.episodes, ids).any()]
        offset += len(ids)
    names = field_columns(spec)
    columns = ["episode", "step", "agent", "terminated", "truncated", *(c for f in fields for c in names[f])]
    for (shard, ids, lengths, offset), table in zip(jobs, _prefetch([j[0] for j in jobs], columns)):
        _scatter(table, shard, ids, lengths, offset, out, flags, spec)
    lengths = np.concatenate([lengths for _, _, lengths in plan])
    mask = np.arange(horizon)[None, :] < lengths[:, None]

    def per_episode(value: Any, dtype: Any) -> np.ndarray:
        return np.concatenate([np.full(len(ids), value(ds), dtype=dtype) for ds, ids, _ in plan])

    return Episodes(
        spec=spec,
        actions=out.get("actions"),
        rewards=out.get("rewards"),
        concepts=out.get("concepts"),
        events=out.get("events"),
        terminated=flags["terminated"],
        truncated=flags["truncated"],
        mask=mask,
        episode_ids=np.concatenate([ids for _, ids, _ in plan]).astype(np.int64),
        condition=per_episode(lambda d: d.manifest.condition.id, object),
        policy=per_episode(lambda d: d.manifest.policy.name, object),
        iteration=per_episode(lambda d: d.manifest.policy.iteration, np.int64),
        source=per_episode(lambda d: str(d.path), object),
        obs=out.get("obs"),
        predicted=out.get("predicted"),
        intervened=out.get("intervened"),
    )


def _padded(shape: tuple[int, ...], dtype: type, pad: int) -> np.ndarray:
    """An array filled with ``pad`` (zeros come from calloc: pages are touched only when written)."""
    return np.zeros(shape, dtype) if pad == 0 else np.full(shape, pad, dtype)


def _prefetch(shards: list[ShardInfo], columns: list[str]) -> Iterator[pa.Table]:
    """The shards' tables in order, each read in a background thread while the previous one is placed."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(_read, shards[0], columns) if shards else None
        for i in range(len(shards)):
            table = pending.result()
            pending = pool.submit(_read, shards[i + 1], columns) if i + 1 < len(shards) else None
            yield table


def _scatter(
    table: pa.Table,
    shard: ShardInfo,
    ids: np.ndarray,
    lengths: np.ndarray,
    offset: int,
    out: dict[str, np.ndarray],
    flags: dict[str, np.ndarray],
    spec: EnvSpec,
) -> None:
    """Place one shard's rows at (episode, step, agent) of the output arrays (E, T, N, ...)."""
    names, n_agents, horizon = field_columns(spec), spec.num_agents, flags["terminated"].shape[1]
    episode, step, agent = (_numpy(table, c, shard) for c in ("episode", "step", "agent"))
    slot = np.minimum(np.searchsorted(ids, episode), len(ids) - 1)
    keep = ids[slot] == episode
    every = bool(keep.all())

    def kept(values: np.ndarray) -> np.ndarray:  # drop rows of episodes not selected
        return values if every else values[keep]

    step, agent, slot = kept(step), kept(agent), kept(slot)
    if len(step) and (step.min() < 0 or agent.min() < 0 or agent.max() >= n_agents or (step >= lengths[slot]).any()):
        raise DatasetError(f"shard {shard.path}: step or agent index out of range for its episodes; the file is corrupt")
    flat = ((slot + offset) * horizon + step).astype(np.int64)  # (rows,) index into (E, T)
    pos = flat * n_agents + agent  # index into (E, T, N)
    contiguous = len(pos) > 0 and pos[-1] - pos[0] == len(pos) - 1 and bool((np.diff(pos) == 1).all())
    where = slice(pos[0], pos[-1] + 1) if contiguous else pos
    for f in out:
        rows = int(np.prod(out[f].shape[:3]))
        if f == "obs":
            target = out[f].reshape(rows, obs_bytes(spec))
            target[where] = kept(_numpy(table, "obs", shard, width=target.shape[1]))
            continue
        target = out[f].reshape(rows, len(names[f]))  # (E*T*N, W) view
        block = np.empty((len(names[f]), len(step)), dtype=target.dtype)  # (W, rows): contiguous fills, one transposing copy
        for j, column in enumerate(names[f]):
            block[j] = kept(_numpy(table, column, shard))
        target[where] = block.T
    first = agent == 0
    for f in ("terminated", "truncated"):
        flags[f].reshape(-1)[flat[first]] = kept(_numpy(table, f, shard))[first]


def _numpy(table: pa.Table, name: str, shard: ShardInfo, width: int | None = None) -> np.ndarray:
    """A column as numpy, zero-copy where possible: (R,) for numbers and bools, (R, width) for fixed-size binaries.

    Reads Arrow buffers directly (``to_numpy`` would import pandas, ~0.6 s, on first use).
    """
    parts = []
    for chunk in table.column(name).chunks:
        if chunk.null_count:
            raise DatasetError(f"shard {shard.path}: column {name!r} holds {chunk.null_count} nulls; the file is corrupt")
        start, stop, data = chunk.offset, chunk.offset + len(chunk), chunk.buffers()[1]
        if pa.types.is_fixed_size_binary(chunk.type):
            parts.append(np.frombuffer(data, dtype=np.uint8)[start * width : stop * width].reshape(len(chunk), width))
        elif pa.types.is_boolean(chunk.type):
            parts.append(np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")[start:stop].view(bool))
        else:
            parts.append(np.frombuffer(data, dtype=chunk.type.to_pandas_dtype())[start:stop])
    if not parts:
        return np.zeros(0)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)
