"""Tiny training configs shared by the marl tests."""

from __future__ import annotations

from typing import Any

from marl.config import TrainConfig, load_config

TINY = [
    "env_config={layout: cramped_room, horizon: 20, shaping: true}",
    "model.hidden=[32]",
    "model.head_hidden=[16]",
    "ppo.num_epochs=1",
    "ppo.num_minibatches=2",
    "sampling.num_envs_per_runner=4",
    "sampling.rollout_length=25",
    "max_env_steps=200",
    "checkpoint_every=1",
    "shaping_anneal_steps=400",
]


def tiny_config(*overrides: str, **fields: Any) -> TrainConfig:
    """A config that trains 2 iterations of 100 env steps in a second or two."""
    extra = [f"{k}={v}" for k, v in fields.items()]
    return load_config(None, [*TINY, *overrides, *extra])
