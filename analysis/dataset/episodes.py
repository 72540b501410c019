"""Loaded trajectories as arrays: whole episodes (E, T, N, ...) and fixed-length windows.

Episodes of different lengths are padded to the longest; ``mask`` (E, T) marks valid steps.
Padding is 0, except ``actions`` padded with -1 so that a step used by mistake is visible.
Windows (MOHBA's unit of analysis) never cross an episode's end or its padding.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from envs.spec import EnvSpec

STEP_FIELDS = ("actions", "rewards", "concepts", "events", "terminated", "truncated", "mask", "obs", "predicted", "intervened")
"""Fields with an (E, T, ...) layout; all others are per episode (E,)."""


@dataclass(frozen=True)
class Episodes:
    """E episodes of one env (possibly from several datasets). Fields not loaded are None."""

    spec: EnvSpec
    actions: np.ndarray | None
    """(E, T, N) int16 action indices; -1 on padding."""
    rewards: np.ndarray | None
    """(E, T, N) float32 reward for the action of step t."""
    concepts: np.ndarray | None
    """(E, T, N, D) float32 ground-truth concepts seen at step t (``spec.concepts`` gt layout)."""
    events: np.ndarray | None
    """(E, T, N, V) uint8 event counts of step t (``spec.events``)."""
    terminated: np.ndarray
    """(E, T) bool — ended by the rules after step t."""
    truncated: np.ndarray
    """(E, T) bool — ended at the horizon after step t."""
    mask: np.ndarray
    """(E, T) bool — valid steps (a prefix of each row)."""
    episode_ids: np.ndarray
    """(E,) int64 — id within its dataset."""
    condition: np.ndarray
    """(E,) str — intervention condition id."""
    policy: np.ndarray
    """(E,) str — policy name (``scripted:planner,idle``, a checkpoint id)."""
    iteration: np.ndarray
    """(E,) int64 — the policy's training iteration, -1 when none."""
    source: np.ndarray
    """(E,) str — dataset directory each episode came from."""
    obs: np.ndarray | None = None
    """(E, T, N, H, W, C) uint8 observations, when requested."""
    predicted: np.ndarray | None = None
    """(E, T, N, P) float32 predicted concepts (pred layout), when recorded and requested."""
    intervened: np.ndarray | None = None
    """(E, T, N, P) float32 concepts after an intervention (pred layout), when recorded and requested."""

    @property
    def num_episodes(self) -> int:
        return int(self.mask.shape[0])

    @property
    def horizon(self) -> int:
        """T, the padded length."""
        return int(self.mask.shape[1])

    @property
    def lengths(self) -> np.ndarray:
        """(E,) int64 valid steps per episode."""
        return self.mask.sum(axis=1, dtype=np.int64)

    def __len__(self) -> int:
        return self.num_episodes

    def returns(self) -> np.ndarray:
        """(E, N) float64 undiscounted return of each agent (needs ``rewards``)."""
        if self.rewards is None:
            raise ValueError("returns() needs the 'rewards' field; load it with fields=(..., 'rewards')")
        return np.where(self.mask[..., None], self.rewards, 0).sum(axis=1, dtype=np.float64)

    def select(self, index: np.ndarray | slice | list[int]) -> Episodes:
        """A subset of episodes (boolean mask or indices over E)."""
        kwargs = {}
        for f in fields(self):
            value = getattr(self, f.name)
            kwargs[f.name] = value if f.name == "spec" or value is None else value[index]
        return Episodes(**kwargs)

    def windows(self, length: int, stride: int) -> Windows:
        """All windows of ``length`` steps starting every ``stride`` steps inside each episode."""
        if length < 1 or stride < 1:
            raise ValueError(f"window length and stride must be >= 1, got length={length}, stride={stride}")
        lengths = self.lengths
        counts = np.maximum(0, (lengths - length) // stride + 1)  # (E,)
        episode_index = np.repeat(np.arange(self.num_episodes), counts)
        first = np.cumsum(counts) - counts
        start = (np.arange(int(counts.sum())) - np.repeat(first, counts)) * stride
        steps = start[:, None] + np.arange(length)[None, :]  # (W, L)
        rows = episode_index[:, None]

        def cut(value: np.ndarray | None) -> np.ndarray | None:
            return None if value is None else value[rows, steps]

        return Windows(
            spec=self.spec,
            length=length,
            stride=stride,
            episode_index=episode_index,
            start=start.astype(np.int64),
            actions=cut(self.actions),
            rewards=cut(self.rewards),
            concepts=cut(self.concepts),
            events=cut(self.events),
            terminated=cut(self.terminated),
            truncated=cut(self.truncated),
            obs=cut(self.obs),
            predicted=cut(self.predicted),
            intervened=cut(self.intervened),
        )


@dataclass(frozen=True)
class Windows:
    """W windows of L steps cut from Episodes; fields are shaped (W, L, N, ...) like theirs."""

    spec: EnvSpec
    length: int
    stride: int
    episode_index: np.ndarray
    """(W,) int64 — index into the Episodes the window came from (not the episode id)."""
    start: np.ndarray
    """(W,) int64 — first step of the window in its episode."""
    actions: np.ndarray | None
    rewards: np.ndarray | None
    concepts: np.ndarray | None
    events: np.ndarray | None
    terminated: np.ndarray
    truncated: np.ndarray
    obs: np.ndarray | None = None
    predicted: np.ndarray | None = None
    intervened: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.start.shape[0])
