"""The batched face of every world: K environments stepped as arrays in one call.

A world (``envs.cooking.World``, ``envs.cleanup.World``) holds the static data of one config and
the rules as small phase functions over a state of arrays with a leading env axis K. This module
drives it: seeding, action validation, episode clocks, horizon truncation and auto-reset, so
every world gets them the same way. Agents are an axis here; agent-keyed dicts live only in the
PettingZoo facade (``envs.parallel``).

Seeding (docs/design.md, 'Style', rule 6): one ``np.random.Generator`` per BatchedEnv, seeded by
``reset(seed)``; the same seed and the same K give the same trajectories. As in Gymnasium, a later
``reset()`` without a seed continues that generator instead of drawing fresh entropy (an env never
seeded starts from OS entropy), and auto-reset draws the new episodes from it too, so a whole run,
however many resets it makes, is reproducible from the one seed it was given first.

Auto-reset: when ``auto_reset`` is on, a slot whose episode ended is reset inside ``step``; the
returned ``obs``/``concepts`` are the new episode's first ones, ``final_obs`` holds the last
observation of the finished episode (needed to bootstrap values on truncation), and ``rewards``,
``events``, ``terminated``, ``truncated`` belong to the finished episode's last step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from envs.spec import EnvSpec, ObservationLayout


@dataclass(frozen=True, slots=True)
class StepOutput:
    """What ``reset`` and ``step`` return; every array has the env axis K first."""

    obs: np.ndarray
    """(K, N, H, W, C) uint8 — each agent's observation (see ``spec.observation``)."""
    rewards: np.ndarray
    """(K, N) float32 — reward of each agent for the step just taken (zeros after reset)."""
    terminated: np.ndarray
    """(K,) bool — the episode ended by the rules."""
    truncated: np.ndarray
    """(K,) bool — the episode ended at the horizon."""
    concepts: np.ndarray
    """(K, N, D) float32 — ground-truth concept vector of each agent (``spec.concepts`` gt layout)."""
    events: np.ndarray
    """(K, N, E) uint8 — event counts of the step just taken (``spec.events``), zeros after reset."""
    t: np.ndarray
    """(K,) int32 — steps taken in the current episode (0 right after a reset)."""
    final_obs: np.ndarray | None = None
    """(K, N, H, W, C) uint8 or None — with auto-reset, the last obs of slots that just ended."""

    @property
    def done(self) -> np.ndarray:
        """(K,) bool — terminated or truncated."""
        return self.terminated | self.truncated


class World(Protocol):
    """The rules of one env family for one config, as functions over a state of arrays."""

    spec: EnvSpec
    horizon: int
    state_layout: ObservationLayout
    """What ``global_state`` holds: shape (H, W, C), uint8, named channels (not in ``spec``, so manifests do not change)."""

    def init_state(self, num_envs: int) -> Any:
        """Allocate the state arrays for K envs (contents undefined until ``reset``)."""

    def reset(self, state: Any, mask: np.ndarray, rng: np.random.Generator) -> None:
        """Reset the slots where ``mask`` (K,) is true, in place."""

    def step(self, state: Any, actions: np.ndarray, rng: np.random.Generator, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Advance all K envs by one step in place; ``t`` (K,) is the step index being taken.

        Returns rewards (K, N) float32, events (K, N, E) uint8, terminated (K,) bool.
        """

    def observe(self, state: Any) -> np.ndarray:
        """Observations (K, N, H, W, C) uint8."""

    def global_state(self, state: Any) -> np.ndarray:
        """The global state (K, *state_layout.shape) uint8: the world of each env as one array."""

    def concepts(self, state: Any) -> np.ndarray:
        """Ground-truth concepts (K, N, D) float32."""

    def render_rgb(self, state: Any, index: int) -> np.ndarray:
        """An RGB frame (H, W, 3) uint8 of env ``index``."""

    def render_ascii(self, state: Any, index: int) -> str:
        """The layout of env ``index`` as ASCII, agents drawn on it."""


class BatchedEnv:
    """K copies of one world stepped together. See the module docstring for the rules."""

    def __init__(self, world: World, num_envs: int = 1, *, auto_reset: bool = False) -> None:
        if int(num_envs) < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        self.world = world
        self.spec: EnvSpec = world.spec
        self.num_envs = int(num_envs)
        self.num_agents = self.spec.num_agents
        self.num_actions = len(self.spec.action_names)
        self.auto_reset = bool(auto_reset)
        self.state = world.init_state(self.num_envs)
        self.rng = np.random.default_rng()
        self.t = np.zeros(self.num_envs, dtype=np.int32)
        self._done = np.ones(self.num_envs, dtype=bool)
        self._zero_rewards = np.zeros((self.num_envs, self.num_agents), dtype=np.float32)
        self._zero_events = np.zeros((self.num_envs, self.num_agents, len(self.spec.events)), dtype=np.uint8)
        self._false = np.zeros(self.num_envs, dtype=bool)

    @property
    def horizon(self) -> int:
        return self.world.horizon

    def reset(self, seed: int | None = None) -> StepOutput:
        """Reset all K envs; ``seed`` reseeds the batch's generator (None: continue the current one)."""
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        return self.reset_where(np.ones(self.num_envs, dtype=bool))

    def reset_where(self, mask: np.ndarray) -> StepOutput:
        """Reset the slots where ``mask`` (K,) is true, continuing the current generator."""
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (self.num_envs,):
            raise ValueError(f"reset mask must have shape ({self.num_envs},), got {mask.shape}")
        self.world.reset(self.state, mask, self.rng)
        self.t[mask] = 0
        self._done[mask] = False
        return StepOutput(
            obs=self.world.observe(self.state),
            rewards=self._zero_rewards.copy(),
            terminated=self._false.copy(),
            truncated=self._false.copy(),
            concepts=self.world.concepts(self.state),
            events=self._zero_events.copy(),
            t=self.t.copy(),
        )

    def step(self, actions: np.ndarray) -> StepOutput:
        """Advance all K envs with ``actions`` (K, N) integers in [0, num_actions)."""
        actions = self._check_actions(actions)
        rewards, events, terminated = self.world.step(self.state, actions, self.rng, self.t)
        self.t += 1
        truncated = self.t >= self.world.horizon
        if np.count_nonzero(terminated):
            truncated &= ~terminated
        done = terminated | truncated
        final_obs = None
        if np.count_nonzero(done):
            if self.auto_reset:
                final_obs = self.world.observe(self.state)
                self.world.reset(self.state, done, self.rng)
                self.t[done] = 0
            else:
                self._done |= done
        return StepOutput(
            obs=self.world.observe(self.state),
            rewards=rewards,
            terminated=terminated,
            truncated=truncated,
            concepts=self.world.concepts(self.state),
            events=events,
            t=self.t.copy(),
            final_obs=final_obs,
        )

    def _check_actions(self, actions: np.ndarray) -> np.ndarray:
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs, self.num_agents) or actions.dtype.kind not in "iu":
            raise ValueError(
                f"actions must be integers shaped (num_envs, num_agents) = ({self.num_envs}, {self.num_agents}), "
                f"got {actions.dtype} {actions.shape}"
            )
        actions = actions.astype(np.int64, copy=False)
        # Negative actions wrap to huge unsigned values, so one comparison finds both ends.
        if np.count_nonzero(actions.view(np.uint64) >= self.num_actions):
            bad = actions[(actions < 0) | (actions >= self.num_actions)][0]
            raise ValueError(f"action {bad} out of range; valid: 0..{self.num_actions - 1} ({', '.join(self.spec.action_names)})")
        if np.count_nonzero(self._done):
            raise RuntimeError(
                f"env slot(s) {np.flatnonzero(self._done).tolist()} finished their episode; "
                "call reset()/reset_where() first or build the env with auto_reset=True"
            )
        return actions

    def global_state(self) -> np.ndarray:
        """(K, *world.state_layout.shape) uint8: the global state of every env (PettingZoo's ``state()`` at K = 1)."""
        return self.world.global_state(self.state)

    def render_rgb(self, index: int = 0) -> np.ndarray:
        return self.world.render_rgb(self.state, index)

    def render_ascii(self, index: int = 0) -> str:
        return self.world.render_ascii(self.state, index)


@dataclass(frozen=True, slots=True)
class PolicyOutput:
    """What a batched policy returns for one step."""

    actions: np.ndarray
    """(K, N) int64 actions."""
    concepts: np.ndarray | None = None
    """(K, N, P) float32 predicted concepts (the bottleneck, pred layout), un-intervened; None without one."""
    intervened: np.ndarray | None = None
    """(K, N, P) float32 concepts after an intervention, as the policy head saw them; None without one."""


class BatchedPolicy(Protocol):
    """Anything that acts in a BatchedEnv: scripted teams now, trained policies later."""

    def reset(self, env: BatchedEnv, mask: np.ndarray) -> None:
        """New episodes start in the slots where ``mask`` (K,) is true."""

    def act(self, env: BatchedEnv, out: StepOutput) -> PolicyOutput:
        """Actions for the step after ``out``; scripted agents may read ``env.state``."""
