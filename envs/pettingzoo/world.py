"""The adapter's world: K copies of a user's PettingZoo ParallelEnv behind our batched face.

The copies step in a Python loop (the user's env is one Python object per episode; nothing else
is), and everything they return is packed at once into arrays with the env axis first, so the
rest of ethogram (``BatchedEnv``, samplers, recorder, studies) sees a world like ours.

Rules:
- Seeding: ``reset`` draws one seed per slot from the batch's generator and passes it to the
  slot's ``env.reset(seed=...)``; the same BatchedEnv seed gives the same episodes where the
  user's env is itself deterministic under its seed (MPE is).
- Episodes: every agent acts at every step until the episode ends for all of them together. An
  agent that terminates or truncates alone, or an agent set that changes mid-episode, is an
  ``AdapterError`` naming the agents and the step (the batched face has a fixed agent axis). All
  agents terminating ends the episode as ``terminated``; the horizon (``Config.horizon``) ends it
  as ``truncated``. The env truncating by itself before the horizon is an error (its own limit
  must be at least the horizon), so truncation is never mistaken for termination.
- Observations: each agent's Box observation, flattened and zero-padded to the widest agent's D,
  as uint8 codes of a (1, 1, D) vector (``envs.spec.VECTOR_MODE``), ``value ≈ low + code * scale``;
  ``global_state`` is all agents' codes side by side, (1, 1, N * D).
- Concepts come from the user's function after every reset and step, events after every step,
  both checked (``envs.pettingzoo.checks``): shapes call by call, kinds and ranges once over the
  batch. With ``Config.vectorised`` the functions are called once with the list of envs instead
  of once per env. Only the user's env (and functions) run per copy; packing, quantising and
  checking are array operations over all K.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from envs.config import config_to_dict
from envs.ids import ADAPTER_ID
from envs.pettingzoo import checks
from envs.pettingzoo.config import Config, Declaration, load_target
from envs.spec import VECTOR_MODE, ConceptKind, ConceptSet, EnvSpec, ObservationLayout

LEVELS = 255
"""Largest uint8 code of an observation value."""


@dataclass
class State:
    """The K user envs and what they last returned, as arrays with the env axis first."""

    envs: list[Any]
    """K ParallelEnv instances."""
    obs: np.ndarray
    """(K, N, 1, 1, D) uint8 observation codes."""
    concepts: np.ndarray
    """(K, N, C) float32 ground-truth concepts."""


class World:
    """The rules of a user's PettingZoo env for one ``Config`` (module docstring)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.horizon = int(config.horizon)
        self._make = load_target("entry_point", config.entry_point)
        self._concept_fn = load_target("concepts", config.concepts)
        self._event_fn = load_target("events", config.events) if config.events else None
        probe = self.make_env()
        probe.reset(seed=0)
        self.agents: tuple[str, ...] = tuple(probe.possible_agents)
        self.num_agents = len(self.agents)
        num_actions = checks.check_actions(probe, self.agents)
        self.obs_low, obs_high = checks.observation_bounds(probe, self.agents, config.obs_range)
        self.obs_scale = (obs_high - self.obs_low) / LEVELS
        declaration = load_target("declare", config.declare)(probe)
        if not isinstance(declaration, Declaration):
            got = type(declaration).__name__
            raise checks.AdapterError(f"declare={config.declare!r} returned {got}; expected envs.pettingzoo.Declaration")
        self.spec = self._spec(declaration, num_actions)
        self.checker = checks.ConceptChecker(self.spec.concepts)
        self._concepts_where, self._events_where = f"concepts={config.concepts!r}", f"events={config.events!r}"
        self._concepts_of([probe])  # a wrong shape or kind is named now, not in the first batch
        _close(probe)
        d = len(self.obs_low)
        self.state_layout = _vector_layout(self.num_agents * d, "every agent's observation codes side by side, agent-major")

    def make_env(self) -> Any:
        """One new instance of the user's env, checked to be a ParallelEnv."""
        env = self._make(**self.config.env_kwargs)
        checks.check_parallel(env, self.config.entry_point)
        return env

    def _spec(self, declaration: Declaration, num_actions: int) -> EnvSpec:
        if bool(declaration.events) != bool(self.config.events):
            raise checks.AdapterError(
                f"the declaration names events {[e.name for e in declaration.events]} but events={self.config.events!r}; "
                "give an events function exactly when the declaration names events"
            )
        names = self.config.action_names or tuple(f"action_{i}" for i in range(num_actions))
        if len(names) != num_actions:
            raise checks.AdapterError(f"action_names names {len(names)} actions; the env has Discrete({num_actions})")
        return EnvSpec(
            env_id=ADAPTER_ID,
            agents=self.agents,
            action_names=tuple(names),
            observation=_vector_layout(len(self.obs_low), self._obs_description()),
            concepts=ConceptSet(declaration.concepts, self.agents),
            events=declaration.events,
            config=config_to_dict(self.config),
            team_reward=declaration.team_reward,
            grid=declaration.grid,
        )

    def _obs_description(self) -> str:
        lo, hi = float(self.obs_low.min()), float((self.obs_low + self.obs_scale * LEVELS).max())
        return f"flattened Box observation as uint8 codes: value = low + code * (high - low) / {LEVELS}, low..high within {lo:g}..{hi:g}"

    # -- World protocol -----------------------------------------------------------------------
    def init_state(self, num_envs: int) -> State:
        k, n, d = int(num_envs), self.num_agents, len(self.obs_low)
        return State(
            envs=[self.make_env() for _ in range(k)],
            obs=np.zeros((k, n, 1, 1, d), np.uint8),
            concepts=np.zeros((k, n, self.spec.concepts.gt_dim), np.float32),
        )

    def reset(self, state: State, mask: np.ndarray, rng: np.random.Generator) -> None:
        slots = np.flatnonzero(mask)
        flat = np.zeros((len(slots), self.num_agents, len(self.obs_low)))
        for j, k in enumerate(slots):
            obs, _ = state.envs[k].reset(seed=int(rng.integers(2**31 - 1)))
            self._check_agents(state.envs[k], f"env slot {k} after reset")
            self._gather(obs, flat[j])
        state.obs[slots] = self._quantise(flat)
        state.concepts[slots] = self._concepts_of([state.envs[k] for k in slots])

    def step(self, state: State, actions: np.ndarray, rng: np.random.Generator, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        k, n = actions.shape
        agents, rows, steps = self.agents, actions.tolist(), (t + 1).tolist()
        flat = np.zeros((k, n, len(self.obs_low)))  # (K, N, D) observation values, quantised once for the batch
        rewards, terminated, events = [], np.zeros(k, bool), []
        per_env_events = self._event_fn is not None and not self.config.vectorised
        for i, env in enumerate(state.envs):
            obs, rew, term, trunc, _ = env.step(dict(zip(agents, rows[i], strict=True)))
            terminated[i] = self._ended(env, term, trunc, steps[i])
            rewards.append([float(rew.get(a, 0.0)) for a in agents])
            self._gather(obs, flat[i])
            if per_env_events:
                events.append(checks.event_array(self._event_fn(env), (n, len(self.spec.events)), self._events_where))
        state.obs[:] = self._quantise(flat)
        state.concepts[:] = self._concepts_of(state.envs)
        return np.array(rewards, np.float32), self._all_events(state, events), terminated

    def observe(self, state: State) -> np.ndarray:
        return state.obs.copy()

    def global_state(self, state: State) -> np.ndarray:
        k = len(state.envs)
        return state.obs.reshape(k, 1, 1, -1).copy()

    def concepts(self, state: State) -> np.ndarray:
        return state.concepts.copy()

    def render_rgb(self, state: State, index: int) -> np.ndarray:
        """A 64x64 picture of env ``index``: each position concept as a coloured dot (agents first)."""
        frame = np.full((64, 64, 3), 255, np.uint8)
        colours = np.array([[31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189], [140, 86, 75]], np.uint8)
        positions = [s for s in self.spec.concepts.specs if s.kind is ConceptKind.POSITION]
        for j, spec in enumerate(positions):
            x, y = state.concepts[index, 0, self.spec.concepts.gt_slices[spec.name]]
            if x >= 0 and y >= 0:
                r, c = round(float(y) * 61) + 1, round(float(x) * 61) + 1
                frame[r - 1 : r + 2, c - 1 : c + 2] = colours[j % len(colours)] if spec.owner in self.agents else 0
        return frame

    def render_ascii(self, state: State, index: int) -> str:
        """The ground-truth concepts of env ``index`` as seen by the first agent, one per line."""
        values = state.concepts[index, 0]
        return "\n".join(f"{name} = {values[s].tolist()}" for name, s in self.spec.concepts.gt_slices.items())

    # -- pieces -------------------------------------------------------------------------------
    def _gather(self, obs: dict[str, Any], out: np.ndarray) -> None:
        """Agent → observation dict into ``out`` (N, D): each agent's values flattened, the rest of its row left zero."""
        for i, agent in enumerate(self.agents):
            if agent not in obs:
                missing = [a for a in self.agents if a not in obs]
                raise checks.AdapterError(f"the env returned no observation for {missing}; every agent must observe at every step")
            values = np.ravel(obs[agent])
            out[i, : values.size] = values

    def _quantise(self, flat: np.ndarray) -> np.ndarray:
        """Observation values (K, N, D) → uint8 codes (K, N, 1, 1, D) over ``obs_low`` + ``obs_scale`` · code, clipped."""
        codes = np.clip(np.rint((flat - self.obs_low) / self.obs_scale), 0, LEVELS)
        return codes.astype(np.uint8).reshape(len(flat), self.num_agents, 1, 1, flat.shape[-1])

    def _concepts_of(self, envs: list[Any]) -> np.ndarray:
        """The concepts (S, N, D) float32 of ``envs``: shapes checked call by call, kinds in one pass over them all."""
        if not envs:
            return np.zeros((0, self.num_agents, self.spec.concepts.gt_dim), np.float32)
        fn, n, where = self._concept_fn, self.num_agents, self._concepts_where
        if self.config.vectorised:
            values = self.checker.shaped(fn(list(envs)), n, where, num_envs=len(envs))
        else:
            values = np.stack([self.checker.shaped(fn(env), n, where) for env in envs])
        self.checker.check(values, where)
        return values

    def _all_events(self, state: State, per_env: list[np.ndarray]) -> np.ndarray:
        """Event counts (K, N, E) uint8 after a step: ``per_env`` stacked, or the vectorised function over all K envs."""
        k, n, e = len(state.envs), self.num_agents, len(self.spec.events)
        if self._event_fn is None:
            return np.zeros((k, n, e), np.uint8)
        if self.config.vectorised:
            counts = checks.event_array(self._event_fn(list(state.envs)), (k, n, e), self._events_where)
        else:
            counts = np.stack(per_env)
        return checks.check_events(counts, self._events_where)

    def _ended(self, env: Any, term: dict[str, bool], trunc: dict[str, bool], steps: int) -> bool:
        """Whether all agents terminated at step ``steps``; AdapterError when only some ended or the env truncated early."""
        if not (any(term.values()) or any(trunc.values())):  # the common case: nobody ended
            self._check_agents(env, f"step {steps}")
            return False
        done = {a for a in self.agents if term.get(a, False) or trunc.get(a, False)}
        if done and done != set(self.agents):
            raise checks.AdapterError(
                f"agents {sorted(done)} ended at step {steps} while {sorted(set(self.agents) - done)} go on; the adapter needs every "
                "agent in every step of an episode (agents that die or leave are not supported: keep them in the env, inactive, to the end)"
            )
        if not done:
            self._check_agents(env, f"step {steps}")
            return False
        if all(term.get(a, False) for a in self.agents):
            return True
        if steps < self.horizon:
            raise checks.AdapterError(
                f"the env truncated its episode at step {steps}, before the adapter's horizon {self.horizon}; set horizon to at most "
                "the env's own episode limit (MPE: max_cycles >= horizon)"
            )
        return False

    def _check_agents(self, env: Any, when: str) -> None:
        if tuple(env.agents) != self.agents:
            raise checks.AdapterError(
                f"the env's agents changed at {when}: {list(env.agents)} instead of {list(self.agents)}; the adapter needs the same "
                "agents, in possible_agents order, from reset to the end of the episode"
            )


def _vector_layout(width: int, description: str) -> ObservationLayout:
    return ObservationLayout(
        mode=VECTOR_MODE,
        shape=(1, 1, width),
        channels=tuple(f"obs_{i}" for i in range(width)),
        high=LEVELS,
        channel_high=(LEVELS,) * width,
        description=description,
    )


def _close(env: Any) -> None:
    close = getattr(env, "close", None)
    if callable(close):
        close()
