"""The on-disk trajectory format: directory layout, manifest, Parquet schema and shard metadata.

A dataset is a directory (docs/design.md, 'The trajectory dataset')::

    DIR/manifest.json          what every row means (env spec, policy, condition, seeds, storage)
    DIR/shards/*.parquet       one row per (episode, step, agent), sorted in that order
    DIR/.lock                  held (flock) by the one writer at work; harmless when left behind

Shards sit in their own folder so that ``pandas.read_parquet("DIR/shards")``, polars, DuckDB and
Ray Data read them directly (a manifest.json beside them would be taken for a Parquet file).
Temporary files are hidden (``.NAME.parquet.tmp-PID``) and never match ``*.parquet``.

Row semantics, for step ``t`` of an episode: ``obs`` and ``concepts`` are what the agent saw
*before* acting; ``action`` is what it did; ``reward``, ``events``, ``terminated`` and
``truncated`` are what followed that action (the env's output of the step). ``predicted`` and
``intervened`` are the policy's bottleneck for that step (pred layout). All columns are plain
Arrow types, one value per row (no lists, no pickle, no extension types), so that pandas, polars
and DuckDB read them as ordinary numbers and Parquet decodes them fast:

    episode int64 · step int32 · agent int16 (index into ``env.agents``) · action int16 ·
    reward float32 · terminated bool · truncated bool · condition string (dictionary-encoded) ·
    ``concept.<slot>`` float32, one per ground-truth slot: ``concept.pot_0.count``,
    ``concept.agent_0.position.x`` / ``.y`` (gt layout of ``env.concepts``) ·
    ``event.<name>`` uint8, one per event ·
    obs fixed_size_binary[H*W*C] (uint8 cells, row-major (H, W, C); absent with ``--no-obs``) ·
    ``predicted.<slot>`` / ``intervened.<slot>`` float32 per bottleneck slot (pred layout:
    ``predicted.agent_1.orientation.up`` is the logit of class ``up``), when the policy has one.

Each shard's Parquet footer carries the key ``ethogram`` (JSON): format version, env id, the
dataset's manifest hash, and the episode ids and lengths it holds; the reader checks them so that
a shard from another dataset or env is named, never silently mixed in.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import pyarrow as pa

from envs.spec import ConceptKind, EnvSpec

FORMAT_NAME = "ethogram.trajectories"
FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"
SHARD_DIR = "shards"
FOOTER_KEY = b"ethogram"
OBS_STORAGES = ("fixed_size_binary", "none")
"""How observations are stored: uint8 bytes per row, or not at all."""
COMPRESSION = "zstd"

FIELDS = ("actions", "rewards", "concepts", "events", "obs", "predicted", "intervened")
"""Per-step fields a reader can load (done flags, mask and ids always come along)."""
DEFAULT_FIELDS = ("actions", "rewards", "concepts", "events")


class DatasetError(ValueError):
    """A dataset (or a write into one) is not valid; the message says where and what is wrong."""


def package_version() -> str:
    try:
        return metadata.version("ethogram")
    except metadata.PackageNotFoundError:
        return "0+unknown"


@dataclass(frozen=True)
class PolicyInfo:
    """Who acted: enough to find the policy again."""

    kind: str
    """``scripted``, ``checkpoint`` or ``external`` (recorded elsewhere and converted)."""
    name: str
    """Display id, e.g. ``scripted:planner,idle`` or a checkpoint id."""
    checkpoint: str | None = None
    """Checkpoint path of a trained policy, relative to the dataset directory (``relative_checkpoint``;
    older datasets hold absolute paths, read as they are by ``checkpoint_path``); None otherwise."""
    iteration: int = -1
    """Training iteration of the checkpoint; -1 when none."""


def relative_checkpoint(checkpoint: str | os.PathLike, dataset: str | os.PathLike) -> str:
    """``checkpoint`` as ``PolicyInfo.checkpoint`` stores it: relative to the dataset directory, so a
    run directory that holds both (a study, an experiment) can be moved or copied whole."""
    return Path(os.path.relpath(Path(checkpoint).resolve(), Path(dataset).resolve())).as_posix()


def checkpoint_path(stored: str | None, dataset: str | os.PathLike) -> Path | None:
    """Where a stored ``PolicyInfo.checkpoint`` points: relative to ``dataset``, or absolute (older datasets)."""
    if stored is None:
        return None
    path = Path(stored)
    return path if path.is_absolute() else (Path(dataset) / path).resolve()


@dataclass(frozen=True)
class ConditionInfo:
    """The intervention condition the episodes were recorded under."""

    id: str = "baseline"
    """Short id, also stored in every row's ``condition`` column."""
    spec: Any = None
    """The condition as JSON (e.g. the intervention lines of ``envs.interventions``); None for the control."""
    probes: str | None = None
    """The probe directory (``ethogram probe``'s output) that the condition's ``erase`` / ``steer`` lines
    read, relative to the dataset directory like the checkpoint; None when it has none (then the key
    is left out of the manifest)."""


@dataclass(frozen=True)
class Manifest:
    """Everything needed to interpret a dataset's rows (``manifest.json``)."""

    env: EnvSpec
    policy: PolicyInfo
    condition: ConditionInfo = field(default_factory=ConditionInfo)
    seeds: dict[str, Any] = field(default_factory=dict)
    """How episodes were seeded (recorder: ``seed``, ``num_envs``, ``scheme``)."""
    obs_storage: str = "fixed_size_binary"
    """One of OBS_STORAGES."""
    predicted: bool = False
    """Rows hold the policy's predicted concepts (pred layout)."""
    intervened: bool = False
    """Rows hold the concepts after an intervention (pred layout)."""
    package_version: str = field(default_factory=package_version)
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.obs_storage not in OBS_STORAGES:
            raise DatasetError(f"obs_storage={self.obs_storage!r} is not allowed; choose one of: {', '.join(OBS_STORAGES)}")

    @property
    def store_obs(self) -> bool:
        return self.obs_storage != "none"

    def has(self, name: str) -> bool:
        """Whether rows hold Episodes field ``name`` (see FIELDS)."""
        if name not in FIELDS:
            raise DatasetError(f"unknown field {name!r}; valid: {', '.join(FIELDS)}")
        return {"obs": self.store_obs, "predicted": self.predicted, "intervened": self.intervened}.get(name, True)

    def to_json(self) -> dict[str, Any]:
        obs = self.env.observation
        return {
            "format": FORMAT_NAME,
            "format_version": self.format_version,
            "package": {"name": "ethogram", "version": self.package_version},
            "created": self.created,
            "env": self.env.to_json(),
            "policy": {
                "kind": self.policy.kind,
                "name": self.policy.name,
                "checkpoint": self.policy.checkpoint,
                "iteration": self.policy.iteration,
            },
            "condition": {"id": self.condition.id, "spec": self.condition.spec}
            | ({"probes": self.condition.probes} if self.condition.probes is not None else {}),
            "seeds": self.seeds,
            "storage": {
                "obs": self.obs_storage,
                "obs_shape": list(obs.shape),
                "predicted": self.predicted,
                "intervened": self.intervened,
                "compression": COMPRESSION,
            },
            "columns": column_docs(self),
        }

    @classmethod
    def from_json(cls, data: Any, where: str = MANIFEST_FILE) -> Manifest:
        """Parse and validate; DatasetError names the missing or ill-typed field."""
        _check_fields(data, where)
        if data["format_version"] > FORMAT_VERSION:
            raise DatasetError(
                f"{where}: format_version {data['format_version']} is newer than this reader's ({FORMAT_VERSION}); upgrade ethogram"
            )
        try:
            env = EnvSpec.from_json(data["env"])
        except ValueError as exc:
            raise DatasetError(f"{where}: env: {exc}") from None
        policy, storage = data["policy"], data["storage"]
        return cls(
            env=env,
            policy=PolicyInfo(policy["kind"], policy["name"], policy["checkpoint"], int(policy["iteration"])),
            condition=ConditionInfo(data["condition"]["id"], data["condition"]["spec"], data["condition"].get("probes")),
            seeds=dict(data["seeds"]),
            obs_storage=storage["obs"],
            predicted=bool(storage["predicted"]),
            intervened=bool(storage["intervened"]),
            package_version=data["package"]["version"],
            created=data["created"],
            format_version=int(data["format_version"]),
        )


_REQUIRED: tuple[tuple[str, type | tuple[type, ...]], ...] = (
    ("format", str),
    ("format_version", int),
    ("package", dict),
    ("package.version", str),
    ("created", str),
    ("env", dict),
    ("env.env_id", str),
    ("env.agents", list),
    ("env.action_names", list),
    ("env.observation", dict),
    ("env.observation.shape", list),
    ("env.concepts", dict),
    ("env.events", list),
    ("env.config", dict),
    ("policy", dict),
    ("policy.kind", str),
    ("policy.name", str),
    ("policy.checkpoint", (str, type(None))),
    ("policy.iteration", int),
    ("condition", dict),
    ("condition.id", str),
    ("condition.spec", object),
    ("seeds", dict),
    ("storage", dict),
    ("storage.obs", str),
    ("storage.predicted", bool),
    ("storage.intervened", bool),
)


def _check_fields(data: Any, where: str) -> None:
    if not isinstance(data, dict):
        raise DatasetError(f"{where}: expected a JSON object, got {type(data).__name__}")
    for path, kind in _REQUIRED:
        node: Any = data
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                raise DatasetError(f"{where}: missing field '{path}'")
            node = node[part]
        if not isinstance(node, kind) or (kind is int and isinstance(node, bool)):
            names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
            raise DatasetError(f"{where}: field '{path}' must be {names}, got {type(node).__name__} {node!r:.60}")
    if data["format"] != FORMAT_NAME:
        raise DatasetError(f"{where}: format is {data['format']!r}, expected {FORMAT_NAME!r}")
    if data["storage"]["obs"] not in OBS_STORAGES:
        raise DatasetError(f"{where}: storage.obs is {data['storage']['obs']!r}; valid: {', '.join(OBS_STORAGES)}")


# --- identity: what must match to append, and the hash that ties shards to their manifest ---

_NOT_IDENTITY = ("created", "columns")


def identity(manifest_json: dict[str, Any]) -> dict[str, Any]:
    """The manifest fields that define a dataset (all but the creation time and derived docs)."""
    return {k: v for k, v in manifest_json.items() if k not in _NOT_IDENTITY}


def identity_hash(manifest_json: dict[str, Any]) -> str:
    text = json.dumps(identity(manifest_json), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def manifest_diff(old: dict[str, Any], new: dict[str, Any], limit: int = 12) -> list[str]:
    """Dotted paths whose values differ between two manifests' identities, with both values."""
    a, b = _flatten(identity(old)), _flatten(identity(new))
    keys = [k for k in sorted(set(a) | set(b)) if a.get(k, "<absent>") != b.get(k, "<absent>")]
    lines = [f"{k}: {_short(a.get(k, '<absent>'))} (existing) vs {_short(b.get(k, '<absent>'))} (new)" for k in keys]
    if len(lines) > limit:
        lines = [*lines[:limit], f"... and {len(lines) - limit} more"]
    return lines


def _flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for k, v in node.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out or {prefix: {}}
    if isinstance(node, list) and node and any(isinstance(v, dict | list) for v in node):
        out = {f"{prefix}.length": len(node)}
        for i, v in enumerate(node):
            out.update(_flatten(v, f"{prefix}[{i}]"))
        return out
    return {prefix: node}


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --- Parquet schema ---


def concept_slots(env: EnvSpec, layout: str = "gt") -> list[str]:
    """Slot names of the concept vector: ``name`` for one slot, ``name.x``/``name.y`` for a position,
    ``name.<class>`` for a categorical in the pred layout."""
    slots = []
    for spec in env.concepts.specs:
        if spec.kind is ConceptKind.POSITION:
            slots += [f"{spec.name}.x", f"{spec.name}.y"]
        elif spec.kind is ConceptKind.CATEGORICAL and layout == "pred":
            slots += [f"{spec.name}.{c}" for c in spec.classes]
        else:
            slots.append(spec.name)
    return slots


def field_columns(env: EnvSpec) -> dict[str, list[str]]:
    """Episodes field → its Parquet columns, in array order (for every field, recorded or not)."""
    pred = concept_slots(env, "pred")
    return {
        "actions": ["action"],
        "rewards": ["reward"],
        "concepts": [f"concept.{s}" for s in concept_slots(env, "gt")],
        "events": [f"event.{e}" for e in env.event_names],
        "obs": ["obs"],
        "predicted": [f"predicted.{s}" for s in pred],
        "intervened": [f"intervened.{s}" for s in pred],
    }


def arrow_schema(manifest: Manifest) -> pa.Schema:
    """The exact Arrow schema of every shard of a dataset with this manifest."""
    env = manifest.env
    cols = field_columns(env)
    fields = [
        pa.field("episode", pa.int64(), nullable=False),
        pa.field("step", pa.int32(), nullable=False),
        pa.field("agent", pa.int16(), nullable=False),
        pa.field("action", pa.int16(), nullable=False),
        pa.field("reward", pa.float32(), nullable=False),
        pa.field("terminated", pa.bool_(), nullable=False),
        pa.field("truncated", pa.bool_(), nullable=False),
        pa.field("condition", pa.dictionary(pa.int32(), pa.string()), nullable=False),
    ]
    fields += [pa.field(c, pa.float32(), nullable=False) for c in cols["concepts"]]
    fields += [pa.field(c, pa.uint8(), nullable=False) for c in cols["events"]]
    if manifest.store_obs:
        fields.append(pa.field("obs", pa.binary(obs_bytes(env)), nullable=False))
    for name in ("predicted", "intervened"):
        if getattr(manifest, name):
            fields += [pa.field(c, pa.float32(), nullable=False) for c in cols[name]]
    names = [f.name for f in fields]
    if len(set(names)) != len(names):
        raise DatasetError(f"column names collide: {sorted({n for n in names if names.count(n) > 1})}")
    return pa.schema(fields)


def obs_bytes(env: EnvSpec) -> int:
    size = 1
    for n in env.observation.shape:
        size *= n
    return size


def column_docs(manifest: Manifest) -> dict[str, str]:
    """A line per column kind for readers without this package (written into the manifest)."""
    env = manifest.env
    docs = {
        "episode": "int64 episode id (unique in the dataset)",
        "step": "int32 step t within the episode, from 0",
        "agent": f"int16 index into env.agents {list(env.agents)}",
        "action": f"int16 action taken at step t, index into env.action_names ({len(env.action_names)})",
        "reward": "float32 reward received for the action of step t",
        "terminated": "bool: the episode ended by the rules after step t",
        "truncated": "bool: the episode ended at the horizon after step t",
        "condition": "string intervention condition id",
        "concept.*": f"float32, {env.concepts.gt_dim} columns: ground-truth concepts seen at step t (env.concepts, gt layout; "
        "positions as .x/.y in [0, 1], -1 when absent; categorical as class index)",
        "event.*": f"uint8, {len(env.events)} columns: event counts of step t (env.events)",
    }
    if manifest.store_obs:
        shape = "x".join(str(n) for n in env.observation.shape)
        docs["obs"] = f"{obs_bytes(env)} bytes: uint8 observation seen at step t, row-major ({shape}) (env.observation)"
    for name in ("predicted", "intervened"):
        if getattr(manifest, name):
            docs[f"{name}.*"] = (
                f"float32, {env.concepts.pred_dim} columns: {name} concepts of step t (pred layout; categorical as one logit per class)"
            )
    return docs


def footer(manifest_hash: str, env_id: str, episodes: list[int], lengths: list[int]) -> dict[bytes, bytes]:
    data = {"format_version": FORMAT_VERSION, "env_id": env_id, "dataset": manifest_hash, "episodes": episodes, "lengths": lengths}
    return {FOOTER_KEY: json.dumps(data, separators=(",", ":")).encode()}
