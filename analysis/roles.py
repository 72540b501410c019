"""Roles: which agent does which part of the work, read from event counts; and how they match behaviours.

A world names its roles by the events that measure each activity (``envs.role_events``: Cleanup's
``cleaner`` = waste cleaned and ``harvester`` = apples eaten; cooking's ``cook`` = ingredients put
into pots, ``server`` = soups delivered, ``runner`` = items put down on counters). An agent's
*share* of an activity is its count over the whole team's in the same episodes; its role is the
activity of its largest share (ties: the first listed), or ``idle`` when it does less than
``min_count`` of all the activities together per episode. Shares rather than counts, because the
activities have different scales (a cleaner removes hundreds of waste cells, a harvester eats
tens of apples).

- ``team_roles``: one role per agent over many episodes (e.g. a study's control episodes).
- ``episode_roles``: one role per (episode, agent), shares taken within the episode.
- ``roles_vs_clusters``: the analyser's agent-level clusters (``clusters_local.csv``) against the
  episode roles: contingency table, adjusted Rand index, normalised mutual information, and each
  cluster's most common role with its purity; ``behaviour_roles`` does it for recorded datasets
  and an ``ethogram analyze`` output directory (``roles.json``).

Input tables are ``analysis.effects.episode_outcomes`` tables (``<event>_<agent>`` columns).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from analysis.dataset import load
from analysis.effects import episode_outcomes
from envs import ENV_IDS, role_events

IDLE = "idle"
EPISODE_KEYS = ("iteration", "episode_id")
"""Columns that identify an episode across the datasets of several checkpoints."""


def activity_counts(table: pd.DataFrame, agents: Sequence[str], role_events: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """One row per (episode, agent): the episode keys, ``agent`` and the agent's count of each activity."""
    missing = sorted({f"{e}_{a}" for events in role_events.values() for e in events for a in agents} - set(table.columns))
    if missing:
        raise ValueError(f"the outcome table lacks the role events' columns {', '.join(missing[:5])}")
    parts = []
    for agent in agents:
        part = table[list(EPISODE_KEYS)].copy()
        part["agent"] = agent
        for role, events in role_events.items():
            part[role] = table[[f"{e}_{agent}" for e in events]].sum(axis=1).to_numpy(dtype=np.float64)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def _assign(counts: pd.DataFrame, team_totals: pd.DataFrame | pd.Series, min_count: float) -> tuple[pd.DataFrame, pd.Series]:
    shares = (counts / team_totals.where(team_totals > 0)).fillna(0.0)
    role = shares.idxmax(axis=1).where(counts.sum(axis=1) >= min_count, IDLE)
    return shares, role


def team_roles(
    table: pd.DataFrame, agents: Sequence[str], role_events: Mapping[str, Sequence[str]], *, min_count: float = 1.0
) -> pd.DataFrame:
    """Per agent (index): mean count per episode of each activity, its share of the team's, and its role."""
    counts = activity_counts(table, agents, role_events)
    roles = list(role_events)
    means = counts.groupby("agent", sort=False)[roles].mean().reindex(list(agents))
    shares, role = _assign(means, means.sum(), min_count)  # the team's total per activity, broadcast over agents
    return pd.concat([means.add_suffix("_per_episode"), shares.add_suffix("_share"), role.rename("role")], axis=1)


def episode_roles(
    table: pd.DataFrame, agents: Sequence[str], role_events: Mapping[str, Sequence[str]], *, min_count: float = 1.0
) -> pd.DataFrame:
    """Per (episode, agent): the activity counts, the shares within the episode and the role."""
    counts = activity_counts(table, agents, role_events)
    roles = list(role_events)
    totals = counts.groupby(list(EPISODE_KEYS))[roles].transform("sum")
    shares, role = _assign(counts[roles], totals, min_count)
    return pd.concat([counts, shares.add_suffix("_share"), role.rename("role")], axis=1)


def roles_vs_clusters(roles: pd.DataFrame, clusters: pd.DataFrame) -> dict[str, Any]:
    """Agent-level clusters (rows with iteration, episode_id, agent, cluster) against episode roles."""
    merged = clusters.merge(roles[[*EPISODE_KEYS, "agent", "role"]], on=[*EPISODE_KEYS, "agent"], how="inner")
    if merged.empty:
        raise ValueError("no cluster row matches an episode role (keys: iteration, episode_id, agent)")
    table = pd.crosstab(merged["cluster"], merged["role"])
    majority = table.idxmax(axis=1)
    return {
        "units": len(merged),
        "adjusted_rand_index": float(adjusted_rand_score(merged["role"], merged["cluster"])),
        "normalized_mutual_info": float(normalized_mutual_info_score(merged["role"], merged["cluster"])),
        "contingency": {str(c): {str(r): int(n) for r, n in row.items()} for c, row in table.iterrows()},
        "clusters": {
            str(c): {"role": str(majority[c]), "purity": float(table.loc[c].max() / table.loc[c].sum()), "units": int(table.loc[c].sum())}
            for c in table.index
        },
        "roles": {str(r): int(n) for r, n in merged.drop_duplicates([*EPISODE_KEYS, "agent"])["role"].value_counts().items()},
    }


def behaviour_roles(datasets: Sequence[str | Path], analysis_dir: str | Path, *, min_count: float = 1.0) -> dict[str, Any] | None:
    """The roles of the recorded episodes against the analyser's agent-level clusters in
    ``analysis_dir`` (``ethogram analyze`` output); writes ``roles.json`` there. None where the world
    names no roles."""
    eps = load([str(p) for p in datasets], fields=("rewards", "events"))
    defs = role_events(eps.spec.env_id, eps.spec.config) if eps.spec.env_id in ENV_IDS else {}
    if not defs:
        return None
    roles = episode_roles(episode_outcomes(eps), eps.spec.agents, defs, min_count=min_count)
    clusters = pd.read_csv(Path(analysis_dir) / "clusters_local.csv")
    result = {"role_events": {k: list(v) for k, v in defs.items()}, "min_count": min_count, **roles_vs_clusters(roles, clusters)}
    (Path(analysis_dir) / "roles.json").write_text(json.dumps(result, indent=2))
    return result


def describe(roles: pd.DataFrame) -> str:
    """One line from ``team_roles``: ``agent_0 cleaner (cleaner 62%, harvester 3% of the team's); ...``."""
    share_cols = [c for c in roles.columns if c.endswith("_share")]
    parts = []
    for agent, row in roles.iterrows():
        shares = ", ".join(f"{c.removesuffix('_share')} {row[c]:.0%}" for c in share_cols)
        parts.append(f"{agent} {row['role']} ({shares} of the team's)")
    return "; ".join(parts)
