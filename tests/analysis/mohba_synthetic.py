"""Synthetic multi-agent episodes with planted per-agent modes, shaped like ``analysis.dataset.Episodes``.

Each agent follows one of ``MODES`` modes: a mode is a table of action probabilities given a
binary world state visible in the concepts, plus a mode-specific event that fires when the agent
takes its favourite action. Teams are tuples of modes; the team composition is the sorted tuple.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs.spec import ConceptKind, ConceptSet, ConceptSpec, EnvSpec, EventSpec, ObservationLayout

NUM_ACTIONS = 6
NUM_MODES = 4


def make_spec(num_agents: int) -> EnvSpec:
    agents = tuple(f"agent_{i}" for i in range(num_agents))
    specs = []
    for a in agents:
        specs += [ConceptSpec(a, "position", ConceptKind.POSITION), ConceptSpec(a, "holding", ConceptKind.BINARY)]
    specs += [
        ConceptSpec("pot_0", "count", ConceptKind.CATEGORICAL, classes=("0", "1", "2", "3")),
        ConceptSpec("pot_0", "progress", ConceptKind.SCALAR),
    ]
    return EnvSpec(
        env_id="synthetic",
        agents=agents,
        action_names=tuple(f"a{i}" for i in range(NUM_ACTIONS)),
        observation=ObservationLayout("global", (1, 1, 1), ("x",)),
        concepts=ConceptSet(tuple(specs), agents),
        events=tuple(EventSpec(f"e{i}") for i in range(NUM_MODES)),
    )


@dataclass
class Windows:
    episode_index: np.ndarray
    start: np.ndarray


@dataclass
class FakeEpisodes:
    spec: EnvSpec
    actions: np.ndarray
    rewards: np.ndarray
    concepts: np.ndarray
    events: np.ndarray
    mask: np.ndarray
    iteration: np.ndarray
    modes: np.ndarray
    """(E, N) planted mode of each agent."""
    obs: np.ndarray | None = None

    @property
    def num_episodes(self) -> int:
        return int(self.mask.shape[0])

    @property
    def episode_ids(self) -> np.ndarray:
        return np.arange(self.num_episodes)

    @property
    def policy(self) -> np.ndarray:
        return np.array(["synthetic:" + ",".join(map(str, r)) for r in self.modes])

    @property
    def source(self) -> np.ndarray:
        return np.full(self.num_episodes, "memory")

    @property
    def condition(self) -> np.ndarray:
        return np.full(self.num_episodes, "baseline")

    def windows(self, length: int, stride: int) -> Windows:
        t = self.mask.shape[1]
        starts = np.arange(0, max(t - length, 0) + 1, stride)
        ep = np.repeat(np.arange(self.mask.shape[0]), len(starts))
        return Windows(ep, np.tile(starts, self.mask.shape[0]))

    @property
    def composition(self) -> np.ndarray:
        keys = {}
        return np.array([keys.setdefault(tuple(sorted(r)), len(keys)) for r in self.modes.tolist()])


def mode_tables(seed: int = 123) -> np.ndarray:
    """(MODES, 2 states, A) action probabilities, clearly different per mode."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 2.0, size=(NUM_MODES, 2, NUM_ACTIONS))
    for m in range(NUM_MODES):
        logits[m, :, m] += 3.0  # each mode has a favourite action
    p = np.exp(logits)
    return p / p.sum(-1, keepdims=True)


def concatenate(parts: list[FakeEpisodes]) -> FakeEpisodes:
    """Episodes of several generate() calls (same agents and horizon) as one."""
    cat = {
        k: np.concatenate([getattr(p, k) for p in parts])
        for k in ("actions", "rewards", "concepts", "events", "mask", "iteration", "modes")
    }
    return FakeEpisodes(parts[0].spec, **cat)


def generate(teams: list[tuple[int, ...]], episodes_per_team: int, horizon: int = 64, seed: int = 0, iteration: int = 0) -> FakeEpisodes:
    rng = np.random.default_rng(seed)
    table = mode_tables()
    n = len(teams[0])
    modes = np.repeat(np.asarray(teams), episodes_per_team, axis=0)  # (E, N)
    e = modes.shape[0]
    spec = make_spec(n)
    state = rng.integers(0, 2, size=(e, horizon))
    d = spec.concepts.gt_dim
    concepts = rng.uniform(0, 1, size=(e, horizon, n, d)).astype(np.float32)
    holding_col = [spec.concepts.gt_slices[f"agent_{i}.holding"].start for i in range(n)]
    concepts[..., spec.concepts.gt_slices["pot_0.count"].start] = rng.integers(0, 4, size=(e, horizon, n))
    for c in holding_col:
        concepts[..., c] = state[:, :, None]
    actions = np.zeros((e, horizon, n), dtype=np.int16)
    u = rng.uniform(size=(e, horizon, n))
    probs = table[modes[:, None, :], state[:, :, None]]  # (E, T, N, A)
    actions[:] = (u[..., None] > probs.cumsum(-1)).sum(-1).clip(0, NUM_ACTIONS - 1)
    events = np.zeros((e, horizon, n, NUM_MODES), dtype=np.uint8)
    fav = actions == modes[:, None, :]
    np.put_along_axis(
        events, np.broadcast_to(modes[:, None, :, None], (e, horizon, n, 1)).astype(np.int64), fav[..., None].astype(np.uint8), axis=-1
    )
    rewards = fav.astype(np.float32)
    mask = np.ones((e, horizon), dtype=bool)
    return FakeEpisodes(spec, actions, rewards, concepts, events, mask, np.full(e, iteration), modes)
