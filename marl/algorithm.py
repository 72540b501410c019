"""The RLlib algorithm: PPO whose training step can use the fast batched sampler.

``build_algorithm_config(cfg, seed)`` turns a ``TrainConfig`` into an RLlib ``PPOConfig`` (new API
stack) for ``EthogramPPO``:
- modules: one ``MultiRLModuleSpec`` with a ``shared`` module (agent index as an extra obs channel)
  or one module per agent id (independent, the paper's setup), of class ``cbp`` or ``baseline``;
- learner: ``ConceptPPOLearner`` (PPO + weight × concept loss), lr linear from ``ppo.lr`` to
  ``ppo.lr_final`` over ``lr_anneal_steps`` env steps with an optional cool-down at the end
  (``TrainConfig.lr_schedule``), grad clip by global norm;
- ``sampling.sampler = fast``: env runners are ``marl.sampling.BatchedEnvRunner``; the training step
  collects their ready columns, standardises advantages per module and calls
  ``LearnerGroup.update(batch=MultiAgentBatch)``, then syncs weights back;
- ``sampling.sampler = rllib``: RLlib's ``MultiAgentEnvRunner`` over the PettingZoo facade
  (``WorldMultiAgentEnv``, an RLlib ``ParallelPettingZooEnv``) and its stock PPO training step,
  concept targets coming from infos.

The algorithm keeps its own env-step counter (``env_steps``), restored by ``marl.train`` from the
checkpoint's progress file, which drives the lr schedule and the shaping annealing.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from ray.rllib.algorithms.ppo import PPO, PPOConfig
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv
from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch
from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME

import envs
from envs.spec import team_return
from marl.config import TrainConfig
from marl.learner import ConceptPPOLearner, ConceptTargetsFromInfos
from marl.modules import MODULE_CLASSES, module_config
from marl.routing import SHARED_MODULE, module_ids
from marl.sampling import ADVANTAGES, BatchedEnvRunner, observation_space


def shaping_weight(env_steps: int, anneal_steps: int) -> float:
    """Linear 1 → 0 over ``anneal_steps`` env steps (0 steps: no shaping)."""
    return 0.0 if anneal_steps <= 0 else max(0.0, 1.0 - env_steps / anneal_steps)


class WorldMultiAgentEnv(ParallelPettingZooEnv):
    """RLlib MultiAgentEnv over ``envs.make_parallel`` (the default path); index channel when shared."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(envs.make_parallel(config["env"], config["env_config"]))
        self._shared = bool(config["shared"])
        self._index = {a: i for i, a in enumerate(self.par_env.possible_agents)}
        if self._shared:
            import gymnasium as gym

            space = observation_space(self.par_env.spec, True)
            self.observation_space = gym.spaces.Dict(dict.fromkeys(self.par_env.possible_agents, space))

    def _with_index(self, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if not self._shared:
            return obs
        return {a: np.concatenate([o, np.full((*o.shape[:2], 1), self._index[a], np.uint8)], -1) for a, o in obs.items()}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        obs, infos = super().reset(seed=seed, options=options)
        return self._with_index(obs), infos

    def step(self, action_dict: dict[str, int]):
        obs, rew, term, trunc, infos = super().step(action_dict)
        return self._with_index(obs), rew, term, trunc, infos


def _module_spec(cfg: TrainConfig, spec: envs.EnvSpec) -> MultiRLModuleSpec:
    shared = cfg.sharing == "shared"
    obs_space = observation_space(spec, shared)
    import gymnasium as gym

    act_space = gym.spaces.Discrete(len(spec.action_names))
    m = cfg.model
    model_cfg = module_config(
        spec.concepts,
        bottleneck_mode=m.bottleneck_mode,
        residual_dim=m.residual_dim,
        concept_training=m.concept_training,
        conv_channels=m.conv_channels,
        conv_stride=m.conv_stride,
        hidden=m.hidden,
        head_hidden=m.head_hidden,
        num_agents_onehot=spec.num_agents if shared else 0,
        obs_high=spec.observation.highs(),
        vector_high=spec.observation.vector_high,
    )
    cls = MODULE_CLASSES[cfg.policy]
    return MultiRLModuleSpec(
        rl_module_specs={
            mid: RLModuleSpec(module_class=cls, observation_space=obs_space, action_space=act_space, model_config=model_cfg)
            for mid in module_ids(spec.agents, shared)
        }
    )


def build_modules(cfg: TrainConfig) -> dict[str, Any]:
    """The policy's freshly initialised modules (module id → module) without an algorithm or Ray,
    e.g. to train parts of them by hand and save them with ``marl.loading.save_modules``."""
    specs = _module_spec(cfg, env_spec(cfg)).rl_module_specs
    return {mid: spec.build() for mid, spec in specs.items()}


def env_spec(cfg: TrainConfig) -> envs.EnvSpec:
    return envs.make_batched(cfg.env, cfg.env_config, 1).spec


def build_algorithm_config(cfg: TrainConfig, seed: int) -> PPOConfig:
    """The RLlib config of one trial (module docstring)."""
    spec = env_spec(cfg)
    shared = cfg.sharing == "shared"
    s, p = cfg.sampling, cfg.ppo
    runners = max(1, s.num_env_runners)
    batch_env_steps = s.rollout_length * s.num_envs_per_runner * runners
    # Fast path: each module's batch holds batch_env_steps x (agents it acts for) samples; RLlib's
    # own path samples batch_env_steps env steps and splits them as it sees fit.
    module_batch = batch_env_steps * (spec.num_agents if shared and s.sampler == "fast" else 1)
    config = (
        PPOConfig(algo_class=EthogramPPO)
        .api_stack(enable_rl_module_and_learner=True, enable_env_runner_and_connector_v2=True)
        .framework("torch")
        .debugging(seed=seed, log_level="ERROR")
        .rl_module(rl_module_spec=_module_spec(cfg, spec))
        .multi_agent(
            policies=set(module_ids(spec.agents, shared)),
            policy_mapping_fn=(lambda agent_id, episode, **kw: SHARED_MODULE) if shared else (lambda agent_id, episode, **kw: agent_id),
        )
        .training(
            lr=cfg.lr_schedule(),
            gamma=p.gamma,
            lambda_=p.lambda_,
            clip_param=p.clip,
            entropy_coeff=p.entropy,
            vf_loss_coeff=p.vf_coeff,
            vf_clip_param=p.vf_clip,
            grad_clip=p.grad_clip,
            grad_clip_by="global_norm",
            use_kl_loss=False,
            kl_coeff=0.0,
            num_epochs=p.num_epochs,
            train_batch_size_per_learner=module_batch,
            minibatch_size=max(1, module_batch // p.num_minibatches),
            shuffle_batch_per_epoch=True,
        )
        .learners(
            num_learners=0,
            learner_class=ConceptPPOLearner,
            learner_config_dict={
                "concept_loss_weight": p.concept_loss_weight,
                "position_loss_scale": p.position_loss_scale,
                "concept_balance": p.concept_balance,
            },
        )
        .env_runners(
            num_env_runners=s.num_env_runners,
            num_cpus_per_env_runner=s.cpus_per_runner,
            custom_resources_per_env_runner=dict(s.runner_resources),
            num_envs_per_env_runner=s.num_envs_per_runner if s.sampler == "rllib" else 1,
            rollout_fragment_length=s.rollout_length,
            create_local_env_runner=True,
            env_runner_cls=BatchedEnvRunner if s.sampler == "fast" else None,
        )
    )
    if s.sampler == "fast":
        fast = {
            "env": cfg.env,
            "env_config": dict(cfg.env_config),
            "num_envs": s.num_envs_per_runner,
            "rollout_length": s.rollout_length,
            "shared": shared,
            "gamma": p.gamma,
            "lambda_": p.lambda_,
            "reward_scale": p.reward_scale,
        }
        config.environment(env=None, env_config={"ethogram": fast})
    else:
        config.environment(env=WorldMultiAgentEnv, env_config={"env": cfg.env, "env_config": dict(cfg.env_config), "shared": shared})
        config.training(learner_connector=lambda *args, **kw: ConceptTargetsFromInfos())
    config.env_config.update(shaping_anneal_steps=cfg.shaping_anneal_steps, learner_threads=p.learner_threads)
    return config


class EthogramPPO(PPO):
    """PPO with the fast batched training step (module docstring)."""

    env_steps: int = 0

    def training_step(self) -> None:
        if not isinstance(self.config.env_runner_cls, type) or not issubclass(self.config.env_runner_cls, BatchedEnvRunner):
            key = (ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME)
            before = int(self.metrics.peek(key, default=0))
            with _threads(self.config.env_config.get("learner_threads", 1)):
                super().training_step()
            self.env_steps += int(self.metrics.peek(key, default=0)) - before
            self.metrics.log_dict({"env_steps_total": self.env_steps}, key="ethogram", window=1)
            return None
        t0 = time.perf_counter()
        weight = shaping_weight(self.env_steps, int(self.config.env_config.get("shaping_anneal_steps", 0)))
        group = self.env_runner_group
        results = group.foreach_env_runner(lambda r: r.sample_batch(weight), local_env_runner=group.num_remote_workers() == 0)
        t1 = time.perf_counter()
        batch, stats = _merge(results)
        self.env_steps += stats["env_steps"]
        with _threads(self.config.env_config.get("learner_threads", 1)):
            learner_results = self.learner_group.update(
                batch=batch,
                timesteps={NUM_ENV_STEPS_SAMPLED_LIFETIME: self.env_steps},
                num_epochs=self.config.num_epochs,
                minibatch_size=self.config.minibatch_size,
                shuffle_batch_per_epoch=self.config.shuffle_batch_per_epoch,
            )
        self.metrics.aggregate(learner_results, key="learners")
        t2 = time.perf_counter()
        group.sync_weights(from_worker_or_learner_group=self.learner_group, inference_only=True)
        stats.update(shaping_weight=weight, sample_s=t1 - t0, learn_s=t2 - t1, env_steps_total=self.env_steps)
        self.metrics.log_dict(stats, key="ethogram", window=1)


@contextlib.contextmanager
def _threads(n: int) -> Iterator[None]:
    """torch intra-op threads = n inside the block (the learner update), restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _merge(results: list[tuple[dict[str, dict[str, np.ndarray]], dict[str, Any]]]) -> tuple[MultiAgentBatch, dict[str, Any]]:
    """Concatenate runners' columns per module, standardise advantages; aggregate episode stats."""
    columns = [r[0] for r in results]
    policy_batches = {}
    for mid in columns[0]:
        cols = {k: np.concatenate([c[mid][k] for c in columns]) for k in columns[0][mid]}
        adv = cols[ADVANTAGES]
        cols[ADVANTAGES] = (adv - adv.mean()) / max(float(adv.std()), 1e-4)
        policy_batches[mid] = SampleBatch(cols)
    env_steps = sum(r[1]["env_steps"] for r in results)
    returns = np.concatenate([r[1]["returns"] for r in results])
    events = np.concatenate([r[1]["events"] for r in results])
    stats: dict[str, Any] = {"env_steps": env_steps, "episodes": int(returns.shape[0])}
    if returns.shape[0]:
        stats["return_mean"] = float(returns.mean())
        stats["team_return_mean"] = float(team_return(returns, results[0][1]["team_reward"]).mean())
        team_events = events.sum(1).mean(0)  # per episode, summed over agents
        stats.update({f"events/{n}": float(v) for n, v in zip(results[0][1]["event_names"], team_events)})
    return MultiAgentBatch(policy_batches, env_steps=env_steps), stats
