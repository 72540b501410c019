"""The policy modules: the packed observation vector reaches the concept layer; detached concept training
keeps PPO's gradient out of the encoder and the concept layer."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from ray.rllib.core.columns import Columns

import envs
from marl.modules import CONCEPT_LOGITS, ConceptBottleneckModule, module_config
from marl.routing import add_index_channel
from marl.sampling import observation_space

KNOWABLE = {"preset": "concept_paper", "num_agents": 5, "view_radius": 3, "roster": True, "object_concepts": "regions"}


def _module(spec: envs.EnvSpec, **model) -> ConceptBottleneckModule:
    cfg = module_config(
        spec.concepts,
        hidden=(32,),
        head_hidden=(16,),
        num_agents_onehot=spec.num_agents,
        obs_high=spec.observation.highs(),
        vector_high=spec.observation.vector_high,
        **model,
    )
    space = observation_space(spec, shared=True)
    torch.manual_seed(0)
    return ConceptBottleneckModule(observation_space=space, action_space=gym.spaces.Discrete(len(spec.action_names)), model_config=cfg)


@pytest.fixture(scope="module")
def batch():
    env = envs.make_batched("cleanup", KNOWABLE, 2)
    out = env.reset(seed=0)
    obs = add_index_channel(out.obs)
    return env.spec, torch.from_numpy(obs.reshape(-1, *obs.shape[2:])), torch.from_numpy(out.concepts.reshape(-1, out.concepts.shape[-1]))


def test_the_packed_vector_is_read_as_a_vector(batch):
    spec, obs, _ = batch
    module = _module(spec)
    v = len(spec.observation.vector)
    assert module.n_vector == v and module.encoder[0].in_features == 7 * 7 * (obs.shape[-1] - 2) + v + spec.num_agents
    assert module.concept_head.in_features == 32 + v, "the concept layer sees the vector directly"
    base = module._forward({Columns.OBS: obs})[CONCEPT_LOGITS]
    moved = obs.clone()
    moved[:, 0, 0, -2] += 1  # the first roster value (agent_0's column)
    assert not torch.allclose(module._forward({Columns.OBS: moved})[CONCEPT_LOGITS], base)
    padding = obs.clone()
    padding[:, -1, -1, -2] = 7  # a cell of the roster channel past the vector's end
    torch.testing.assert_close(module._forward({Columns.OBS: padding})[CONCEPT_LOGITS], base)


@pytest.mark.parametrize("training", ["joint", "detached"])
def test_detached_training_keeps_ppo_out_of_the_concept_layer(batch, training):
    spec, obs, targets = batch
    module = _module(spec, concept_training=training)
    out = module._forward({Columns.OBS: obs})
    out[Columns.ACTION_DIST_INPUTS].logsumexp(-1).sum().backward()  # any policy loss
    encoder_grad = sum(float(p.grad.abs().sum()) for p in module.encoder.parameters() if p.grad is not None)
    head_grad = sum(float(p.grad.abs().sum()) for p in module.pi.parameters())
    assert head_grad > 0
    assert (encoder_grad == 0) == (training == "detached")
    module.zero_grad()
    loss, _ = module.concept_loss(module._forward({Columns.OBS: obs})[CONCEPT_LOGITS], targets)
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in module.concept_head.parameters())


def test_detached_inference_equals_joint_inference(batch):
    spec, obs, _ = batch
    joint, detached = _module(spec), _module(spec, concept_training="detached")
    detached.load_state_dict(joint.state_dict())
    np.testing.assert_allclose(joint.act(obs)["action_logits"].detach(), detached.act(obs)["action_logits"].detach())
