"""Synthetic datasets for the format tests: a tiny EnvSpec and random episodes (no world needed)."""

from __future__ import annotations

import numpy as np

from analysis.dataset import EpisodeBatch, Manifest, PolicyInfo
from envs.spec import ConceptKind, ConceptSet, ConceptSpec, EnvSpec, EventSpec, ObservationLayout

AGENTS = ("agent_0", "agent_1")


def toy_spec(env_id: str = "toy", config: dict | None = None) -> EnvSpec:
    concepts = ConceptSet(
        specs=(
            ConceptSpec("agent_0", "position", ConceptKind.POSITION),
            ConceptSpec("agent_1", "position", ConceptKind.POSITION),
            ConceptSpec("agent_0", "holding", ConceptKind.BINARY),
            ConceptSpec("pot_0", "count", ConceptKind.CATEGORICAL, classes=("0", "1", "2", "3")),
            ConceptSpec("pot_0", "progress", ConceptKind.SCALAR),
        ),
        agents=AGENTS,
    )
    return EnvSpec(
        env_id=env_id,
        agents=AGENTS,
        action_names=("up", "right", "down", "left", "stay", "interact"),
        observation=ObservationLayout(mode="egocentric", shape=(3, 3, 2), channels=("wall", "agent")),
        concepts=concepts,
        events=(EventSpec("picked"), EventSpec("delivered")),
        config={"layout": "toy", "horizon": 12} if config is None else config,
    )


def toy_manifest(spec: EnvSpec | None = None, **changes) -> Manifest:
    kwargs = {"env": spec or toy_spec(), "policy": PolicyInfo("scripted", "scripted:a,b"), "seeds": {"seed": 0}}
    kwargs.update(changes)
    return Manifest(**kwargs)


def toy_batch(manifest: Manifest, ids, lengths, horizon: int = 12, seed: int = 0) -> EpisodeBatch:
    """Random episodes with the manifest's optional columns; values depend on (seed, id)."""
    rng = np.random.default_rng(seed)
    env = manifest.env
    e, n = len(ids), env.num_agents
    lengths = np.asarray(lengths)
    terminated = np.zeros((e, horizon), bool)
    truncated = np.zeros((e, horizon), bool)
    truncated[np.arange(e), lengths - 1] = True
    pred = (e, horizon, n, env.concepts.pred_dim)
    return EpisodeBatch(
        episode_ids=np.asarray(ids),
        lengths=lengths,
        actions=rng.integers(0, len(env.action_names), (e, horizon, n)),
        rewards=rng.normal(size=(e, horizon, n)).astype(np.float32),
        concepts=rng.random((e, horizon, n, env.concepts.gt_dim), dtype=np.float32),
        events=rng.integers(0, 2, (e, horizon, n, len(env.events)), dtype=np.uint8),
        terminated=terminated,
        truncated=truncated,
        obs=rng.integers(0, 2, (e, horizon, n, *env.observation.shape), dtype=np.uint8) if manifest.store_obs else None,
        predicted=rng.normal(size=pred).astype(np.float32) if manifest.predicted else None,
        intervened=rng.normal(size=pred).astype(np.float32) if manifest.intervened else None,
    )
