"""The fast sampling path: an RLlib EnvRunner over a BatchedEnv, one module call per step.

RLlib's default multi-agent path steps one env at a time through per-agent Python episode objects
(~500 env steps/s here; docs/design.md, 'RLlib and Ray on a CPU'). ``BatchedEnvRunner`` instead
drives ``envs.make_batched(env_id, config, K, auto_reset=True)``:

- each step feeds all K envs × N agents to the policy in one forward per module (a shared module
  sees a (K·N, H, W, C+1) batch; independent modules one (K, H, W, C) batch each: ``marl.routing``), which returns
  action logits and values together; actions are drawn with a seeded ``torch.Generator``;
- a world with a settable ``shaping_scale`` (cooking) gets the annealed ``shaping_weight`` of each
  call (the algorithm anneals it to 0); rewards are then multiplied by ``reward_scale``;
- after ``rollout_length`` steps GAE(γ, λ) runs in numpy, vectorised over K×N. A truncated
  episode bootstraps from the value of ``StepOutput.final_obs``; a terminated one from 0; the
  rollout's last step from the value of the next observation;
- it returns ready train columns per module id (obs, actions, logp, logits, values, advantages,
  value targets, concept targets) and episode statistics. ``marl.algorithm.EthogramPPO`` merges
  the runners' columns into one ``MultiAgentBatch`` for ``LearnerGroup.update(batch=...)``, so no
  per-step episode bookkeeping and no learner connector is involved.

It is a regular ``EnvRunner``: RLlib's ``EnvRunnerGroup`` starts it as remote actors
(``num_env_runners`` > 0, anywhere on a Ray cluster) and syncs weights into it with ``set_state``.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from ray.rllib.core import COMPONENT_RL_MODULE
from ray.rllib.core.columns import Columns
from ray.rllib.env import INPUT_ENV_SPACES
from ray.rllib.env.env_runner import EnvRunner
from ray.rllib.utils.checkpoints import Checkpointable
from ray.rllib.utils.metrics import NUM_ENV_STEPS_SAMPLED_LIFETIME, WEIGHTS_SEQ_NO

import envs
from marl.modules import CONCEPT_TARGETS
from marl.routing import Routing, module_ids

ADVANTAGES, VALUE_TARGETS = "advantages", "value_targets"


@dataclasses.dataclass(frozen=True)
class FastSpec:
    """What a BatchedEnvRunner needs (carried in ``AlgorithmConfig.env_config["ethogram"]``)."""

    env: str
    env_config: dict[str, Any]
    num_envs: int
    rollout_length: int
    shared: bool
    gamma: float
    lambda_: float
    reward_scale: float = 1.0


def observation_space(spec: envs.EnvSpec, shared: bool) -> gym.spaces.Box:
    """The modules' observation space: the env's, plus the agent-index channel when shared."""
    h, w, c = spec.observation.shape
    high = max(spec.observation.high, spec.num_agents - 1) if shared else spec.observation.high
    return gym.spaces.Box(0, high, (h, w, c + int(shared)), np.uint8)


def gae(rewards, values, next_values, terminated, done, gamma: float, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """GAE over a rollout; arrays are (T, K, N) (``terminated``/``done`` broadcast as (T, K, 1)).

    ``next_values[t]`` is the value of the state after step t: the next step's value inside an
    episode, the final observation's value at truncation. Terminated steps bootstrap from 0 and no
    step carries advantages across an episode end.
    """
    delta = rewards + gamma * next_values * ~terminated - values
    adv = np.zeros_like(rewards)
    carry = np.zeros_like(rewards[0])
    for t in range(rewards.shape[0] - 1, -1, -1):
        carry = delta[t] + gamma * lam * ~done[t] * carry
        adv[t] = carry
    return adv, adv + values


class BatchedEnvRunner(EnvRunner, Checkpointable):
    """Samples ready PPO batches from a BatchedEnv (module docstring)."""

    def __init__(self, *, config: Any, **kwargs: Any) -> None:
        super().__init__(config=config, **kwargs)
        torch.set_num_threads(1)
        self.fast = FastSpec(**self.config.env_config["ethogram"])
        self.spaces = kwargs.get("spaces")
        self._weights_seq_no = 0
        self.env: envs.BatchedEnv | None = None
        self.make_env()
        self.routing = Routing(self.env.spec.agents, self.fast.shared)
        self.module = self.config.get_multi_rl_module_spec(spaces=self.get_spaces(), inference_only=True).build()
        seed = self._seed if self._seed is not None else int(np.random.SeedSequence().entropy % 2**31)
        self._generator = torch.Generator().manual_seed(seed)
        self._out = self.env.reset(seed=seed)
        self._returns = np.zeros((self.env.num_envs, self.env.num_agents), dtype=np.float64)
        self._events = np.zeros((self.env.num_envs, self.env.num_agents, len(self.env.spec.events)), dtype=np.float64)

    # -- EnvRunner API ------------------------------------------------------------------------
    def make_env(self) -> None:
        self.env = envs.make_batched(self.fast.env, self.fast.env_config, self.fast.num_envs, auto_reset=True)

    def get_spaces(self) -> dict[str, tuple[gym.Space, gym.Space]]:
        obs = observation_space(self.env.spec, self.fast.shared)
        act = gym.spaces.Discrete(self.env.num_actions)
        return {INPUT_ENV_SPACES: (obs, act), **{m: (obs, act) for m in module_ids(self.env.spec.agents, self.fast.shared)}}

    def assert_healthy(self) -> None:
        assert self.env is not None and self.module is not None

    def sample(self, **kwargs: Any) -> list[Any]:
        """RLlib's generic entry; ethogram calls ``sample_batch`` instead."""
        return [self.sample_batch(kwargs.get("shaping_weight", 1.0))]

    def get_metrics(self) -> dict[str, Any]:
        return {}

    def stop(self) -> None:
        self.env = None

    def get_state(self, components: Any = None, *, not_components: Any = None, **kwargs: Any) -> dict[str, Any]:
        state = {NUM_ENV_STEPS_SAMPLED_LIFETIME: self.num_env_steps_sampled_lifetime}
        if self._check_component(COMPONENT_RL_MODULE, components, not_components):
            state[COMPONENT_RL_MODULE] = self.module.get_state(
                components=self._get_subcomponents(COMPONENT_RL_MODULE, components),
                not_components=self._get_subcomponents(COMPONENT_RL_MODULE, not_components),
                **kwargs,
            )
            state[WEIGHTS_SEQ_NO] = self._weights_seq_no
        return state

    def set_state(self, state: dict[str, Any]) -> None:
        if COMPONENT_RL_MODULE in state:
            seq = state.get(WEIGHTS_SEQ_NO, 0)
            if seq == 0 or self._weights_seq_no < seq:
                weights = state[COMPONENT_RL_MODULE]
                if not isinstance(weights, dict):  # an ObjectRef
                    import ray

                    weights = ray.get(weights)
                self.module.set_state(weights)
            if seq > 0:
                self._weights_seq_no = seq
        if NUM_ENV_STEPS_SAMPLED_LIFETIME in state:
            self.num_env_steps_sampled_lifetime = state[NUM_ENV_STEPS_SAMPLED_LIFETIME]

    def get_ctor_args_and_kwargs(self) -> tuple[tuple, dict]:
        return (), {"config": self.config}

    def get_checkpointable_components(self) -> list:
        return [(COMPONENT_RL_MODULE, self.module)]

    # -- sampling -----------------------------------------------------------------------------
    def _obs(self, obs: np.ndarray) -> np.ndarray:
        return self.routing.observe(obs)

    @torch.inference_mode()
    def _policy(self, obs: np.ndarray, act: bool = True) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None, np.ndarray]:
        """obs (K, N, H, W, C') → actions (K, N), logp (K, N), logits (K, N, A), values (K, N)."""
        k, n = obs.shape[:2]
        route = self.routing
        outs = [self.module[m].act(torch.from_numpy(x), values=True) for m, x in zip(route.module_ids, route.split(obs), strict=True)]
        values = route.merge([o["values"] for o in outs], k)
        if not act:
            return None, None, None, values.numpy()
        logits = route.merge([o["action_logits"] for o in outs], k).reshape(k * n, -1)
        logp_all = torch.log_softmax(logits, -1)
        actions = torch.multinomial(logp_all.exp(), 1, generator=self._generator)
        logp = logp_all.gather(1, actions)
        return actions.reshape(k, n).numpy(), logp.reshape(k, n).numpy(), logits.reshape(k, n, -1).numpy(), values.numpy()

    def sample_batch(self, shaping_weight: float = 1.0) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, Any]]:
        """One rollout of ``rollout_length`` steps × K envs → (columns per module id, stats)."""
        env, fs, t0 = self.env, self.fast, time.perf_counter()
        T, K, N = fs.rollout_length, env.num_envs, env.num_agents
        first = self._obs(self._out.obs)
        obs = np.empty((T, *first.shape), np.uint8)
        gt = np.empty((T, *self._out.concepts.shape), np.float32)
        actions, logp, values, rewards, next_values = (np.empty((T, K, N), dt) for dt in (np.int64, *[np.float32] * 4))
        logits = np.empty((T, K, N, env.num_actions), np.float32)
        terminated, done = np.zeros((T, K, 1), bool), np.zeros((T, K, 1), bool)
        finished: list[np.ndarray] = []
        events_finished: list[np.ndarray] = []
        if hasattr(env.world, "shaping_scale"):
            env.world.shaping_scale = shaping_weight
        out = self._out
        for t in range(T):
            obs[t] = first if t == 0 else self._obs(out.obs)
            gt[t] = out.concepts
            actions[t], logp[t], logits[t], values[t] = self._policy(obs[t])
            out = env.step(actions[t])
            rewards[t] = out.rewards * fs.reward_scale
            self._returns += out.rewards
            self._events += out.events
            if t > 0:
                next_values[t - 1] = np.where(done[t - 1], next_values[t - 1], values[t])
            ended = out.done
            if ended.any():
                terminated[t, :, 0], done[t, :, 0] = out.terminated, ended
                trunc = out.truncated
                if trunc.any():
                    next_values[t] = self._policy(self._obs(out.final_obs), act=False)[3] * trunc[:, None]
                else:
                    next_values[t] = 0.0
                finished.append(self._returns[ended].copy())
                events_finished.append(self._events[ended].copy())
                self._returns[ended] = self._events[ended] = 0.0
        self._out = out
        last = self._policy(self._obs(out.obs), act=False)[3]
        next_values[T - 1] = np.where(done[T - 1], next_values[T - 1], last)
        adv, targets = gae(rewards, values, next_values, terminated, done, fs.gamma, fs.lambda_)
        self.num_env_steps_sampled_lifetime += T * K
        columns = self._columns(obs, actions, logp, logits, values, adv, targets, gt)
        return columns, self._stats(finished, events_finished, T * K, time.perf_counter() - t0)

    def _columns(self, obs, actions, logp, logits, values, adv, targets, gt) -> dict[str, dict[str, np.ndarray]]:
        data = {
            Columns.OBS: obs,
            Columns.ACTIONS: actions,
            Columns.ACTION_LOGP: logp,
            Columns.ACTION_DIST_INPUTS: logits,
            Columns.VF_PREDS: values,
            ADVANTAGES: adv,
            VALUE_TARGETS: targets,
            CONCEPT_TARGETS: gt,
        }
        columns: dict[str, dict[str, np.ndarray]] = {m: {} for m in self.routing.module_ids}
        for key, v in data.items():  # (T, K, N, ...) → (T·K, N, ...) → per module
            for m, part in zip(self.routing.module_ids, self.routing.split(v.reshape(-1, *v.shape[2:])), strict=True):
                columns[m][key] = part
        return columns

    def _stats(self, finished, events, steps: int, seconds: float) -> dict[str, Any]:
        """Episode returns (E, N) (env reward, shaping at its current weight included) and event counts (E, N, V)."""
        returns = np.concatenate(finished) if finished else np.zeros((0, self.env.num_agents))
        counts = np.concatenate(events) if events else np.zeros((0, self.env.num_agents, len(self.env.spec.events)))
        return {
            "env_steps": steps,
            "sample_time_s": seconds,
            "returns": returns,
            "events": counts,
            "event_names": self.env.spec.event_names,
            "team_reward": self.env.spec.team_reward,
        }
