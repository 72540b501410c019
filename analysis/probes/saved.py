"""The probe files: ``probes.safetensors`` (arrays) + ``probes.json`` (index, scores, provenance).

``probes.safetensors`` holds float64 arrays under these keys (module, layer and concept names never
contain ``/``):
- ``stats/{module}/{layer}/mean`` (D,) and ``.../cov`` (D, D): the activations' moments over the
  module's training rows;
- ``probe/{module}/{layer}/{concept}/weight`` (K, D), ``.../bias`` (K,): the probe in the raw
  activation space (output = weight @ h + bias; ``Probe``), and ``.../cross_cov`` (D, Z): the
  covariance of the activations with the concept's encoded values;
- ``null/{module}/{layer}/{family}`` (M, D): unit directions of random-label probes.
A LEACE eraser of a concept (Belrose et al. 2023) needs exactly ``cov`` and ``cross_cov`` (and
``mean``), and a steering direction the probe's rows, so later steps build both without refitting.

``probes.json``: ``format`` (``ethogram-probes/1``), the env spec (concept kinds, classes, grid),
the modules and the agents they act for, the layers and widths, the split (seed, held-out
fraction, dataset episode ids of each side), the fitting config, an entry per array group (what
each row means: ``outputs``, ``link``, ``z_columns``), the scores and ``meta`` (the policy
checkpoint and dataset paths). ``load_probes`` reads both back and checks that they agree (every
array present, of the shape the index says); ``ProbeFileError`` names what is wrong.
Non-finite numbers are written as JSON null. Files are written to a temporary name and renamed.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file

from analysis.probes.fit import LayerStats, Probe, ProbeConfig, ProbeError, ProbeScore, Split
from analysis.probes.probeset import ProbeSet
from envs.spec import EnvSpec

FORMAT = "ethogram-probes/1"
INDEX_FILE = "probes.json"
ARRAYS_FILE = "probes.safetensors"


class ProbeFileError(ProbeError):
    """Saved probes cannot be read back; the message names the file and what is wrong."""


def finite(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None (JSON has no NaN or infinity)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def write_json(path: Path, data: Any) -> None:
    """JSON (non-finite numbers as null) written atomically."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(finite(data), indent=1))
    tmp.replace(path)


def _key(*parts: str) -> str:
    bad = [p for p in parts if "/" in p]
    if bad:
        raise ProbeError(f"names may not contain '/': {bad}")
    return "/".join(parts)


def save_probes(probes: ProbeSet, out: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``probes.json`` and ``probes.safetensors`` into directory ``out`` (module docstring)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {}
    index: dict[str, Any] = {"stats": [], "probes": [], "null": []}
    for (module, layer), st in probes.stats.items():
        arrays[_key("stats", module, layer, "mean")] = st.mean
        arrays[_key("stats", module, layer, "cov")] = st.cov
        index["stats"].append({"module": module, "layer": layer, "rows": st.rows})
    for (module, layer, concept), p in probes.probes.items():
        for name in ("weight", "bias", "cross_cov"):
            arrays[_key("probe", module, layer, concept, name)] = getattr(p, name)
        index["probes"].append(
            {"module": module, "layer": layer, "concept": concept, "outputs": p.outputs, "link": p.link, "z_columns": p.z_columns}
        )
    for (module, layer, fam), dirs in probes.null.items():
        arrays[_key("null", module, layer, fam)] = dirs
        index["null"].append({"module": module, "layer": layer, "family": fam, "draws": len(dirs)})
    ids = probes.episode_ids
    data = {
        "format": FORMAT,
        "env": probes.spec.to_json(),
        "modules": {m: list(a) for m, a in probes.modules.items()},
        "layers": [{"name": layer, "width": probes.widths[layer]} for layer in probes.layers],
        "split": {"episode_ids": ids.tolist(), "train": ids[probes.split.train].tolist(), "test": ids[probes.split.test].tolist()},
        "config": dataclasses.asdict(probes.config),
        **index,
        "scores": [dataclasses.asdict(s) for s in probes.scores],
        "meta": probes.meta,
    }
    tmp = out / f".{ARRAYS_FILE}.tmp-{os.getpid()}"
    save_file({k: np.ascontiguousarray(v, dtype=np.float64) for k, v in arrays.items()}, str(tmp))
    tmp.replace(out / ARRAYS_FILE)
    write_json(out / INDEX_FILE, data)
    return out / INDEX_FILE, out / ARRAYS_FILE


def _read(folder: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    index_path, arrays_path = folder / INDEX_FILE, folder / ARRAYS_FILE
    for path in (index_path, arrays_path):
        if not path.is_file():
            raise ProbeFileError(f"{path}: missing (saved probes are {INDEX_FILE} + {ARRAYS_FILE}, written by `ethogram probe`)")
    try:
        data = json.loads(index_path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ProbeFileError(f"{index_path}: not readable as JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        got = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise ProbeFileError(f"{index_path}: format {got!r}, expected {FORMAT!r}")
    try:
        arrays = load_file(str(arrays_path))
    except Exception as exc:  # safetensors raises its own SafetensorError for damaged files
        raise ProbeFileError(f"{arrays_path}: cannot be read (truncated or corrupt safetensors file: {exc})") from None
    return data, arrays


def _array(arrays: dict[str, np.ndarray], key: str, shape: tuple[int, ...], where: Path) -> np.ndarray:
    if key not in arrays:
        raise ProbeFileError(f"{where}: array {key!r} listed in {INDEX_FILE} is missing")
    if arrays[key].shape != shape:
        raise ProbeFileError(f"{where}: array {key!r} has shape {arrays[key].shape}, expected {shape}")
    return arrays[key]


def load_probes(folder: str | os.PathLike) -> ProbeSet:
    """Read ``save_probes``' files from ``folder`` back into a ``ProbeSet``, checked (module docstring)."""
    folder = Path(folder)
    data, arrays = _read(folder)
    where = folder / ARRAYS_FILE
    try:
        spec = EnvSpec.from_json(data["env"])
        widths = {entry["name"]: int(entry["width"]) for entry in data["layers"]}
        stats = {}
        for e in data["stats"]:
            d = widths[e["layer"]]
            mean = _array(arrays, _key("stats", e["module"], e["layer"], "mean"), (d,), where)
            cov = _array(arrays, _key("stats", e["module"], e["layer"], "cov"), (d, d), where)
            stats[(e["module"], e["layer"])] = LayerStats(mean=mean, cov=cov, rows=int(e["rows"]))
        probes = {}
        for e in data["probes"]:
            d, k, z = widths[e["layer"]], len(e["outputs"]), len(e["z_columns"])
            get = lambda name, shape, e=e: _array(arrays, _key("probe", e["module"], e["layer"], e["concept"], name), shape, where)  # noqa: E731
            probes[(e["module"], e["layer"], e["concept"])] = Probe(
                weight=get("weight", (k, d)),
                bias=get("bias", (k,)),
                outputs=tuple(e["outputs"]),
                link=e["link"],
                cross_cov=get("cross_cov", (d, z)),
                z_columns=tuple(e["z_columns"]),
            )
        null = {
            (e["module"], e["layer"], e["family"]): _array(
                arrays, _key("null", e["module"], e["layer"], e["family"]), (int(e["draws"]), widths[e["layer"]]), where
            )
            for e in data["null"]
        }
        ids = np.asarray(data["split"]["episode_ids"], np.int64)
        split = Split(
            train=np.searchsorted(ids, data["split"]["train"]).astype(np.int64),
            test=np.searchsorted(ids, data["split"]["test"]).astype(np.int64),
        )
        nan = float("nan")
        scores = tuple(ProbeScore(**{k: (nan if v is None else v) for k, v in s.items()}) for s in data["scores"])
        return ProbeSet(
            spec=spec,
            modules={m: tuple(a) for m, a in data["modules"].items()},
            layers=tuple(widths),
            widths=widths,
            episode_ids=ids,
            split=split,
            config=ProbeConfig(**data["config"]),
            stats=stats,
            probes=probes,
            scores=scores,
            null=null,
            meta=dict(data.get("meta", {})),
        )
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ProbeFileError):
            raise
        raise ProbeFileError(f"{folder / INDEX_FILE}: malformed ({type(exc).__name__}: {exc})") from None
