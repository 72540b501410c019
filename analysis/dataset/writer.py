"""The one writer every producer uses: buffered, sharded, atomic and resumable.

Rules:
- Atomic: a shard is written to a hidden temp file in ``shards/``, flushed to disk, then renamed
  into place (``os.replace``); a crash at any moment leaves either no shard or a whole one.
- Resumable: opening an existing dataset compares its manifest with the new one; any difference
  (other than the creation time, and the form of a checkpoint path that names the same checkpoint:
  absolute in older datasets, relative now) is refused, naming the differing fields. Shards already there
  stay; ``episode_ids``/``shard_episodes`` tell a producer what is done.
- One writer at a time per dataset (an flock on ``DIR/.lock``, released by the OS even on SIGKILL);
  stale temp files of a dead writer are removed on open.
- Episode ids are unique in a dataset; writing one twice is an error (replacing a named shard
  with ``write_shard`` is allowed: that is how a partial last batch is completed).
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from analysis.dataset.format import (
    COMPRESSION,
    MANIFEST_FILE,
    SHARD_DIR,
    DatasetError,
    Manifest,
    arrow_schema,
    checkpoint_path,
    field_columns,
    footer,
    identity_hash,
    manifest_diff,
    obs_bytes,
)
from analysis.dataset.reader import scan_shards

SHARD_ROWS = 65_536
"""Rows (agent-steps) a shard should hold at least: smaller shards make reading slower (per-file and
per-column-chunk overheads), bigger ones lose more work when a recording is killed."""


@dataclass(frozen=True)
class EpisodeBatch:
    """E episodes as padded arrays (the writer's input); steps past ``lengths`` are ignored."""

    episode_ids: np.ndarray
    """(E,) int — unique ids."""
    lengths: np.ndarray
    """(E,) int — valid steps of each episode (1..T)."""
    actions: np.ndarray
    """(E, T, N) int."""
    rewards: np.ndarray
    """(E, T, N) float."""
    concepts: np.ndarray
    """(E, T, N, D) float — ground truth, gt layout."""
    events: np.ndarray
    """(E, T, N, V) uint8."""
    terminated: np.ndarray
    """(E, T) bool."""
    truncated: np.ndarray
    """(E, T) bool."""
    obs: np.ndarray | None = None
    """(E, T, N, H, W, C) uint8 when the manifest stores observations."""
    predicted: np.ndarray | None = None
    """(E, T, N, P) float when the manifest records predicted concepts."""
    intervened: np.ndarray | None = None
    """(E, T, N, P) float when the manifest records intervened concepts."""


class DatasetWriter:
    """Writes episodes into a dataset directory (see the module docstring)."""

    def __init__(self, path: str | os.PathLike, manifest: Manifest, *, shard_rows: int = SHARD_ROWS) -> None:
        self.path = Path(path)
        self.manifest = manifest
        self.shard_rows = max(1, int(shard_rows))
        self.schema = arrow_schema(manifest)
        self.shard_dir = self.path / SHARD_DIR
        _check_target(self.path)
        self.shard_dir.mkdir(parents=True, exist_ok=True)
        self._lock = _lock(self.path)
        try:
            self._hash = self._open_manifest()
            for stale in [*self.path.glob(".*.tmp-*"), *self.shard_dir.glob(".*.tmp-*")]:
                stale.unlink(missing_ok=True)
            shards = scan_shards(self.path, self.manifest, self._hash)
        except BaseException:
            self._lock.close()
            raise
        self._shards: dict[str, tuple[int, ...]] = {s.path.stem: s.episodes for s in shards}
        self._owner: dict[int, str] = {e: name for name, eps in self._shards.items() for e in eps}
        self._buffer: list[pa.Table] = []
        self._buffer_ids: dict[int, int] = {}  # episode id → length
        self._next_part = 1 + max((int(n[5:]) for n in self._shards if n.startswith("part-") and n[5:].isdigit()), default=-1)

    def _open_manifest(self) -> str:
        target = self.path / MANIFEST_FILE
        new = self.manifest.to_json()
        if not target.exists():
            _atomic_write_bytes(target, (json.dumps(new, indent=2, sort_keys=True) + "\n").encode())
            return identity_hash(new)
        try:
            old = json.loads(target.read_text())
        except (OSError, ValueError) as exc:
            raise DatasetError(f"{target}: cannot read the existing manifest ({exc}); move the directory away to start afresh") from None
        Manifest.from_json(old, str(target))
        diff = manifest_diff(old, _same_checkpoint(old, new, self.path))
        if diff:
            raise DatasetError(
                f"{self.path} already holds a dataset with a different manifest; refusing to append. Differences:\n  "
                + "\n  ".join(diff)
                + "\nUse another --out directory, or the same settings to resume."
            )
        return identity_hash(old)

    # --- what is there ---

    @property
    def episode_ids(self) -> set[int]:
        return set(self._owner)

    @property
    def shard_episodes(self) -> dict[str, tuple[int, ...]]:
        """Shard name (file stem) → the episode ids it holds."""
        return dict(self._shards)

    # --- writing ---

    def write_shard(self, name: str, *batches: EpisodeBatch) -> Path:
        """Write ``batches`` as one shard ``name`` now (atomically; replaces a shard of that name)."""
        if not name or name.startswith(".") or "/" in name:
            raise DatasetError(f"bad shard name {name!r}")
        if not batches:
            raise DatasetError("write_shard needs at least one batch")
        ids = [int(e) for b in batches for e in b.episode_ids]
        self._check_new_ids(ids, replacing=name)
        table = pa.concat_tables([self._table(b) for b in batches])
        return self._commit(name, table, ids, [int(n) for b in batches for n in b.lengths])

    def add(self, batch: EpisodeBatch) -> None:
        """Buffer ``batch``; a shard is written each time ``shard_rows`` rows have gathered."""
        ids = [int(e) for e in batch.episode_ids]
        self._check_new_ids(ids)
        clash = sorted(set(self._buffer_ids).intersection(ids))
        if clash:
            raise DatasetError(f"episode ids {clash[:5]} were already added")
        self._buffer.append(self._table(batch))
        self._buffer_ids.update(zip(ids, (int(n) for n in batch.lengths)))
        if sum(t.num_rows for t in self._buffer) >= self.shard_rows:
            self.flush()

    def flush(self) -> Path | None:
        """Write buffered episodes as one shard; None when the buffer is empty."""
        if not self._buffer:
            return None
        table = pa.concat_tables(self._buffer)
        ids, lengths = list(self._buffer_ids), list(self._buffer_ids.values())
        name = f"part-{self._next_part:06d}"
        self._next_part += 1
        self._buffer, self._buffer_ids = [], {}
        return self._commit(name, table, ids, lengths)

    def close(self) -> None:
        """Flush and release the dataset."""
        try:
            self.flush()
        finally:
            self._lock.close()

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_new_ids(self, ids: list[int], replacing: str | None = None) -> None:
        if len(set(ids)) != len(ids):
            raise DatasetError("episode ids repeat within the batch")
        clash = [e for e in ids if e in self._owner and self._owner[e] != replacing]
        if clash:
            raise DatasetError(f"episode {clash[0]} is already in shard {self._owner[clash[0]]} of {self.path}; episode ids must be unique")

    def _commit(self, name: str, table: pa.Table, ids: list[int], lengths: list[int]) -> Path:
        meta = footer(self._hash, self.manifest.env.env_id, ids, lengths)
        table = table.replace_schema_metadata(meta)
        final = self.shard_dir / f"{name}.parquet"
        tmp = self.shard_dir / f".{name}.parquet.tmp-{os.getpid()}"
        try:
            with open(tmp, "wb") as fh:
                pq.write_table(table, fh, compression=COMPRESSION, write_statistics=["episode", "step", "agent"])
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_dir(self.shard_dir)
        for e in self._shards.pop(name, ()):
            self._owner.pop(e, None)
        self._shards[name] = tuple(ids)
        self._owner.update((e, name) for e in ids)
        return final

    def _table(self, batch: EpisodeBatch) -> pa.Table:
        return episode_table(self.manifest, batch, self.schema)


def episode_table(manifest: Manifest, batch: EpisodeBatch, schema: pa.Schema | None = None) -> pa.Table:
    """The rows of ``batch`` as an Arrow table with the dataset schema (checks shapes and dtypes)."""
    env = manifest.env
    n_agents = env.num_agents
    e, t = _check_batch(manifest, batch)
    lengths = np.asarray(batch.lengths, dtype=np.int64)
    valid = np.arange(t)[None, :] < lengths[:, None]  # (E, T)
    full = bool(valid.all())

    def rows(a: np.ndarray, dtype: np.dtype | type) -> np.ndarray:
        """(E, T, ...) → (rows, ...) over valid steps, contiguous."""
        return np.ascontiguousarray(a.reshape(e * t, *a.shape[2:]) if full else a[valid], dtype=dtype)

    def spread(name: str, dtype: np.dtype | type) -> dict[str, pa.Array]:
        """(E, T, N, W) → one column per slot (W columns of rows), one transposing copy."""
        a = getattr(batch, name)
        a = a.reshape(e * t, *a.shape[2:]) if full else a[valid]  # (R, N, W)
        columns = np.ascontiguousarray(a.reshape(a.shape[0] * a.shape[1], a.shape[-1]).T, dtype=dtype)  # (W, rows); W may be 0
        return {c: _arrow(columns[j]) for j, c in enumerate(names[name])}

    ep_idx, step = (np.indices((e, t)).reshape(2, -1)) if full else np.nonzero(valid)
    n_rows = len(step) * n_agents
    ids = np.asarray(batch.episode_ids, dtype=np.int64)
    names = field_columns(env)
    cond = pa.DictionaryArray.from_arrays(_arrow(np.zeros(n_rows, dtype=np.int32)), _strings([manifest.condition.id]))
    cols = {
        "episode": _arrow(np.repeat(ids[ep_idx], n_agents)),
        "step": _arrow(np.repeat(step.astype(np.int32), n_agents)),
        "agent": _arrow(np.tile(np.arange(n_agents, dtype=np.int16), len(step))),
        "action": _arrow(rows(batch.actions, np.int16).reshape(-1)),
        "reward": _arrow(rows(batch.rewards, np.float32).reshape(-1)),
        "terminated": _arrow(np.repeat(rows(batch.terminated, bool), n_agents)),
        "truncated": _arrow(np.repeat(rows(batch.truncated, bool), n_agents)),
        "condition": cond,
        **spread("concepts", np.float32),
        **spread("events", np.uint8),
    }
    if manifest.store_obs:
        cols["obs"] = _fixed_binary(rows(batch.obs, np.uint8).reshape(n_rows, obs_bytes(env)))
    for name in ("predicted", "intervened"):
        if getattr(manifest, name):
            cols.update(spread(name, np.float32))
    return pa.table(cols, schema=schema or arrow_schema(manifest))


def _check_batch(manifest: Manifest, batch: EpisodeBatch) -> tuple[int, int]:
    env = manifest.env
    e, t = np.shape(batch.terminated)[:2] if np.ndim(batch.terminated) == 2 else (-1, -1)
    n, h = env.num_agents, env.observation.shape
    expect = {
        "episode_ids": (e,),
        "lengths": (e,),
        "actions": (e, t, n),
        "rewards": (e, t, n),
        "concepts": (e, t, n, env.concepts.gt_dim),
        "events": (e, t, n, len(env.events)),
        "terminated": (e, t),
        "truncated": (e, t),
        "obs": (e, t, n, *h) if manifest.store_obs else None,
        "predicted": (e, t, n, env.concepts.pred_dim) if manifest.predicted else None,
        "intervened": (e, t, n, env.concepts.pred_dim) if manifest.intervened else None,
    }
    for name, shape in expect.items():
        value = getattr(batch, name)
        if shape is None:
            if value is not None:
                raise DatasetError(f"batch has {name} but the manifest does not record it")
            continue
        if value is None or tuple(np.shape(value)) != shape:
            got = None if value is None else tuple(np.shape(value))
            raise DatasetError(f"batch field {name}: expected shape {shape} (E, T, agents, ...), got {got}")
    lengths = np.asarray(batch.lengths)
    if e and (lengths.min() < 1 or lengths.max() > t):
        raise DatasetError(f"episode lengths must be in 1..{t}, got {lengths.min()}..{lengths.max()}")
    actions = np.asarray(batch.actions)
    if actions.size and (actions.min() < 0 or actions.max() >= len(env.action_names)):
        raise DatasetError(f"actions must be in 0..{len(env.action_names) - 1}, got {actions.min()}..{actions.max()}")
    return e, t


def _arrow(values: np.ndarray) -> pa.Array:
    """A 1-d numpy array as Arrow, zero-copy, without ``pa.array``'s pandas probe (importing pandas costs ~0.6 s)."""
    values = np.ascontiguousarray(values)
    if values.dtype == bool:
        return pa.Array.from_buffers(pa.bool_(), len(values), [None, pa.py_buffer(np.packbits(values, bitorder="little"))])
    return pa.Array.from_buffers(pa.from_numpy_dtype(values.dtype), len(values), [None, pa.py_buffer(values)])


def _strings(texts: list[str]) -> pa.Array:
    data = [t.encode() for t in texts]
    offsets = np.cumsum([0, *(len(d) for d in data)], dtype=np.int32)
    return pa.Array.from_buffers(pa.string(), len(data), [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(data))])


def _fixed_binary(values: np.ndarray) -> pa.FixedSizeBinaryArray:
    """(R, B) uint8 → fixed_size_binary[B] (zero-copy)."""
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(values.shape[1]), values.shape[0], [None, pa.py_buffer(values)])


def _same_checkpoint(old: dict, new: dict, path: Path) -> dict:
    """``new`` holding the existing manifest's checkpoint string where both name the same checkpoint
    (older datasets store it absolute, newer ones relative to the dataset: ``checkpoint_path``)."""
    a, b = old["policy"]["checkpoint"], new["policy"]["checkpoint"]
    if a is None or b is None or a == b or checkpoint_path(a, path).resolve() != checkpoint_path(b, path).resolve():
        return new
    return {**new, "policy": {**new["policy"], "checkpoint": a}}


def _check_target(path: Path) -> None:
    """Refuse a directory that holds anything but a dataset (or the leftovers of one that died at birth)."""
    if not path.exists() or (path / MANIFEST_FILE).exists():
        return
    if not path.is_dir():
        raise DatasetError(f"{path} exists and is not a directory")
    shards = path / SHARD_DIR
    foreign = [p.name for p in path.iterdir() if p.name not in (".lock", SHARD_DIR) and ".tmp-" not in p.name]
    foreign += [f"{SHARD_DIR}/{p.name}" for p in (shards.iterdir() if shards.is_dir() else ()) if ".tmp-" not in p.name]
    if foreign:
        raise DatasetError(
            f"{path} is not empty and holds no {MANIFEST_FILE} (found {', '.join(sorted(foreign)[:5])}); choose a new directory"
        )


def _lock(path: Path):
    handle = open(path / ".lock", "a+")  # noqa: SIM115 (held open for the writer's lifetime)
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise DatasetError(f"{path} is being written by another process; wait for it or use another directory") from None
    return handle


def _atomic_write_bytes(target: Path, data: bytes) -> None:
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, target)
    _fsync_dir(target.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
