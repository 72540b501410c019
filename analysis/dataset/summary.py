"""What a dataset holds, in numbers: episodes, returns, concept and event rates, conditions.

Used by ``ethogram data info``; works from the compact columns only (no observations are read).
Concept rates are over valid steps and viewing agents: binary → fraction true; categorical →
fraction per class; scalar → mean; position → fraction of steps the object exists.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from analysis.dataset.episodes import Episodes
from analysis.dataset.reader import Dataset, load
from envs.spec import ABSENT, ConceptKind


def summarize(dataset: Dataset) -> dict[str, Any]:
    """A JSON-able summary of one opened dataset."""
    m = dataset.manifest
    shard_bytes = sum(s.path.stat().st_size for s in dataset.shards)
    info: dict[str, Any] = {
        "path": str(dataset.path),
        "env": m.env.env_id,
        "config": m.env.config,
        "agents": list(m.env.agents),
        "policy": {"kind": m.policy.kind, "name": m.policy.name, "checkpoint": m.policy.checkpoint, "iteration": m.policy.iteration},
        "condition": {"id": m.condition.id, "spec": m.condition.spec},
        "seeds": m.seeds,
        "storage": {"obs": m.obs_storage, "predicted": m.predicted, "intervened": m.intervened},
        "episodes": dataset.num_episodes,
        "shards": len(dataset.shards),
        "agent_steps": dataset.agent_steps,
        "bytes": shard_bytes,
        "bytes_per_episode": shard_bytes / dataset.num_episodes if dataset.num_episodes else 0.0,
    }
    if dataset.num_episodes == 0:
        return info
    eps = load(dataset, fields=("rewards", "concepts", "events"))
    lengths = eps.lengths
    info["length"] = _stats(lengths)
    info["returns"] = _returns(eps)
    info["concepts"] = concept_rates(eps)
    info["events"] = event_rates(eps)
    conditions, counts = np.unique(eps.condition.astype(str), return_counts=True)
    info["conditions"] = {str(c): int(n) for c, n in zip(conditions, counts)}
    return info


def _stats(values: np.ndarray) -> dict[str, float]:
    values = np.asarray(values, dtype=np.float64)
    return {"mean": float(values.mean()), "std": float(values.std()), "min": float(values.min()), "max": float(values.max())}


def _returns(eps: Episodes) -> dict[str, Any]:
    per_agent = eps.returns()  # (E, N)
    return {
        "team": _stats(eps.spec.team_return(per_agent)),
        "per_agent_mean": {a: float(per_agent[:, i].mean()) for i, a in enumerate(eps.spec.agents)},
    }


def concept_rates(eps: Episodes) -> dict[str, Any]:
    """Per concept: its rate over valid steps and viewers (see the module docstring)."""
    concepts = eps.concepts[eps.mask]  # (S, N, D)
    out: dict[str, Any] = {}
    for spec in eps.spec.concepts.specs:
        values = concepts[..., eps.spec.concepts.gt_slices[spec.name]]
        if spec.kind is ConceptKind.BINARY:
            out[spec.name] = {"true": float((values > 0.5).mean())}
        elif spec.kind is ConceptKind.CATEGORICAL:
            index = np.rint(values).astype(np.int64).reshape(-1)
            counts = np.bincount(np.clip(index, 0, len(spec.classes) - 1), minlength=len(spec.classes))
            out[spec.name] = {c: float(n / max(1, index.size)) for c, n in zip(spec.classes, counts)}
        elif spec.kind is ConceptKind.SCALAR:
            out[spec.name] = {"mean": float(values.mean())}
        else:
            out[spec.name] = {"present": float((values[..., 0] != ABSENT).mean())}
    return out


def event_rates(eps: Episodes) -> dict[str, Any]:
    """Per event: mean count per episode for each agent and for the team, and per agent-step."""
    events = np.where(eps.mask[..., None, None], eps.events, 0).sum(axis=1, dtype=np.float64)  # (E, N, V)
    steps = max(1, int(eps.mask.sum()))
    out = {}
    for v, name in enumerate(eps.spec.event_names):
        per_agent = events[:, :, v].mean(axis=0)
        out[name] = {
            "per_episode": float(events[:, :, v].sum(axis=1).mean()),
            "per_agent_per_episode": {a: float(per_agent[i]) for i, a in enumerate(eps.spec.agents)},
            "per_agent_step": float(events[:, :, v].sum() / (steps * eps.spec.num_agents)),
        }
    return out


def format_summary(info: dict[str, Any]) -> str:
    """The summary as text for people."""
    lines = [
        f"dataset   {info['path']}",
        f"env       {info['env']}  {_config_line(info['config'])}",
        f"agents    {', '.join(info['agents'])}",
        f"policy    {info['policy']['name']}  (iteration {info['policy']['iteration']})",
        f"condition {info['condition']['id']}",
        f"episodes  {info['episodes']} in {info['shards']} shards; {info['agent_steps']:,} agent-steps; "
        f"{info['bytes'] / 1e6:.2f} MB ({info['bytes_per_episode'] / 1e3:.1f} kB/episode); obs {info['storage']['obs']}",
    ]
    if not info["episodes"]:
        return "\n".join(lines)
    length, team = info["length"], info["returns"]["team"]
    lines += [
        f"length    mean {length['mean']:.1f}  min {length['min']:.0f}  max {length['max']:.0f}",
        f"return    team mean {team['mean']:.2f} ± {team['std']:.2f}  [{team['min']:.2f}, {team['max']:.2f}]",
        "          per agent: " + ", ".join(f"{a} {r:.2f}" for a, r in info["returns"]["per_agent_mean"].items()),
        "conditions " + ", ".join(f"{c}: {n}" for c, n in info["conditions"].items()),
        "events (per episode, team; per agent)",
    ]
    for name, e in info["events"].items():
        agents = ", ".join(f"{v:.2f}" for v in e["per_agent_per_episode"].values())
        lines.append(f"  {name:<28} {e['per_episode']:8.2f}   [{agents}]")
    lines.append("concepts (rates over steps)")
    for name, rates in info["concepts"].items():
        lines.append(f"  {name:<28} " + "  ".join(f"{k} {v:.3f}" for k, v in rates.items()))
    return "\n".join(lines)


def _config_line(config: dict[str, Any]) -> str:
    parts = [f"{k}={v}" for k, v in config.items() if not (isinstance(v, str) and "\n" in v)]
    text = " ".join(parts)
    return text if len(text) <= 100 else text[:97] + "..."
