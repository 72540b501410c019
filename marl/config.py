"""Training configuration: frozen dataclasses, loaded from YAML with ``--set key=value`` overrides.

A config file mirrors ``TrainConfig``; nested sections (``model``, ``ppo``, ``sampling``) are
mappings. Unknown keys and bad values raise ``ConfigError`` naming the field and the allowed values.
``--set`` takes dotted keys whose values are parsed as YAML: ``--set ppo.lr=1e-4 seeds=[0,1]``.
PPO defaults follow REFERENCE §3 (Grupen et al. / Carroll et al.).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from envs.config import ConfigError, check_choice, check_range, config_from_dict, config_to_dict
from marl.concept_loss import BOTTLENECK_MODES

POLICIES = ("cbp", "baseline")
SHARING = ("independent", "shared")
SAMPLERS = ("fast", "rllib")
CONCEPT_TRAINING = ("joint", "detached")


@dataclass(frozen=True)
class ModelConfig:
    """Module architecture (``marl.modules``)."""

    bottleneck_mode: str = "logits"
    """How predicted concepts feed the heads: ``logits``, ``probs`` or ``hard`` (``marl.concept_loss.BOTTLENECK_MODES``)."""
    concept_training: str = "joint"
    """``joint`` (the paper's: PPO's gradient and the concept loss both train the encoder and the concept
    layer) or ``detached`` (the heads read the concepts detached, so the encoder and the concept layer
    learn from the concept loss alone: predictions PPO cannot bend away from the truth; Koh et al.
    2020's sequential training, run concurrently). The baseline has no concept loss and ignores it."""
    residual_dim: int = 0
    """Width of the free, unsupervised channel beside the concepts (0: none; leakage trade-off)."""
    conv_channels: tuple[int, ...] = ()
    """3x3 conv layers before the MLP encoder (empty: flatten the observation)."""
    conv_stride: int = 1
    """Stride of every conv layer (2 shrinks a 15x15 Cleanup view to 8x8, then 4x4: far cheaper to learn)."""
    hidden: tuple[int, ...] = (128, 128)
    """Encoder MLP widths."""
    head_hidden: tuple[int, ...] = (64,)
    """Hidden widths of the policy and value heads."""

    def __post_init__(self) -> None:
        check_choice("model.bottleneck_mode", self.bottleneck_mode, BOTTLENECK_MODES)
        check_choice("model.concept_training", self.concept_training, CONCEPT_TRAINING)
        check_range("model.residual_dim", self.residual_dim, 0)
        check_range("model.conv_stride", self.conv_stride, 1)
        if not self.hidden:
            raise ConfigError("model.hidden must name at least one layer width")


@dataclass(frozen=True)
class PPOSettings:
    """PPO hyper-parameters (REFERENCE §3) and the concept loss weight."""

    lr: float = 5e-4
    lr_final: float = 5e-7
    """Learning rate reached linearly at ``lr_anneal_steps`` env steps."""
    lr_anneal_steps: int | None = None
    """Env steps of the linear decay (None: ``max_env_steps``, or 5e6 when stopping on time)."""
    gamma: float = 0.99
    lambda_: float = 0.95
    clip: float = 0.2
    entropy: float = 0.01
    vf_coeff: float = 1.0
    vf_clip: float = 1e6
    """Clip of the squared value error (RLlib's ``vf_clip_param``); large = off."""
    grad_clip: float = 0.5
    num_epochs: int = 4
    num_minibatches: int = 4
    """Minibatches per epoch; the minibatch size is each module's batch divided by this."""
    concept_loss_weight: float = 0.1
    position_loss_scale: float = 1.0
    """Multiplies the position slots' squared errors inside the concept loss. Positions are learned
    normalised to [0, 1], so one cell of error in a W-column world costs only 1/W² there: at 1.0 a
    jointly trained bottleneck lets PPO bend positions by cells (Clean Up: ~3). ~W² weighs a cell
    of position error like a confidently wrong binary concept."""
    reward_scale: float = 1.0
    """Rewards are multiplied by this for learning (reported returns are unscaled)."""
    learner_threads: int = 1
    """torch threads of the learner update only (sampling always uses 1). 2 nearly halves the update
    time on a quiet 2-core machine; with other processes on the cores it is many times slower
    (measured 1.1k vs 7.3k env steps/s), so keep 1 unless the trial has the cores to itself."""

    def __post_init__(self) -> None:
        check_range("ppo.lr", self.lr, 0)
        check_range("ppo.gamma", self.gamma, 0, 1)
        check_range("ppo.lambda_", self.lambda_, 0, 1)
        check_range("ppo.clip", self.clip, 0)
        check_range("ppo.num_epochs", self.num_epochs, 1)
        check_range("ppo.num_minibatches", self.num_minibatches, 1)
        check_range("ppo.concept_loss_weight", self.concept_loss_weight, 0)
        check_range("ppo.position_loss_scale", self.position_loss_scale, 0)
        check_range("ppo.learner_threads", self.learner_threads, 1)


@dataclass(frozen=True)
class SamplingConfig:
    """Who samples and how much per iteration."""

    sampler: str = "fast"
    """``fast`` (``marl.sampling``) or ``rllib`` (RLlib's MultiAgentEnvRunner over the PettingZoo env)."""
    num_env_runners: int = 0
    """Remote env runner actors (0: sample in the training process)."""
    num_envs_per_runner: int = 32
    rollout_length: int = 400
    """Steps per env per iteration; iteration batch = rollout_length × num_envs × max(1, runners)."""
    cpus_per_runner: float = 1.0
    runner_resources: dict[str, float] = field(default_factory=dict)
    """Custom Ray resources each env runner needs (e.g. ``{worker_node: 0.01}``)."""

    def __post_init__(self) -> None:
        check_choice("sampling.sampler", self.sampler, SAMPLERS)
        check_range("sampling.num_env_runners", self.num_env_runners, 0)
        check_range("sampling.num_envs_per_runner", self.num_envs_per_runner, 1)
        check_range("sampling.rollout_length", self.rollout_length, 1)


@dataclass(frozen=True)
class TrainConfig:
    """One training study: env, policy, PPO, sampling, stopping, seeds and outputs."""

    env: str = "cooking"
    env_config: dict[str, Any] = field(default_factory=lambda: {"layout": "cramped_room"})
    """The env's config (``envs.make_config``), e.g. ``{layout: cramped_room}``."""
    policy: str = "cbp"
    """``cbp`` (concept bottleneck) or ``baseline`` (same size, no concepts)."""
    sharing: str = "independent"
    """``independent`` (one module per agent, the paper's setup) or ``shared`` (one module + agent index)."""
    model: ModelConfig = field(default_factory=ModelConfig)
    ppo: PPOSettings = field(default_factory=PPOSettings)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    shaping_anneal_steps: int = 2_500_000
    """Env steps over which the world's ``shaping_scale`` falls linearly from 1 to 0 (fast sampler;
    the env config must turn shaping on, e.g. cooking's ``shaping: true``)."""
    max_env_steps: int | None = 100_000
    """Stop after this many env steps (None: no step limit)."""
    max_time_s: float | None = None
    """Stop after this many seconds of training (None: no time limit)."""
    seeds: tuple[int, ...] = (0,)
    """One trial per seed, run in parallel as Ray actors."""
    checkpoint_every: int = 10
    """Save a checkpoint every N iterations (and always at the end)."""
    out_dir: str = "runs/train"
    trial_cpus: float = 1.0
    """CPUs reserved for each trial's driver (its learner)."""

    def __post_init__(self) -> None:
        from envs import ENV_IDS

        check_choice("env", self.env, ENV_IDS)
        check_choice("policy", self.policy, POLICIES)
        check_choice("sharing", self.sharing, SHARING)
        if self.max_env_steps is None and self.max_time_s is None:
            raise ConfigError("max_env_steps and max_time_s are both null; set at least one stop condition")
        if not self.seeds:
            raise ConfigError("seeds must list at least one seed")
        check_range("checkpoint_every", self.checkpoint_every, 1)
        check_range("shaping_anneal_steps", self.shaping_anneal_steps, 0)
        if self.env_config.get("shaping") and self.sampling.sampler != "fast":
            raise ConfigError(
                "env_config.shaping=true is annealed by the fast sampler only; set sampling.sampler=fast or env_config.shaping=false"
            )

    def to_dict(self) -> dict[str, Any]:
        return config_to_dict(self)


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    """``["ppo.lr=1e-4", "seeds=[0,1]"]`` → nested dict of YAML-parsed values."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. ppo.lr=1e-4")
        node = out
        *parents, leaf = key.strip().split(".")
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {item!r}: {p} is not a section")
        node[leaf] = yaml.safe_load(raw)
    return out


def merge_dicts(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` merged in, nested mappings merged key by key."""
    out = dict(base)
    for k, v in extra.items():
        out[k] = merge_dicts(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _numbers(cls: type, data: dict[str, Any], where: str = "") -> dict[str, Any]:
    """Coerce numeric fields: YAML reads ``1e-4`` as a string; anything non-numeric is an error."""
    hints = typing.get_type_hints(cls)
    out = dict(data)
    for f in dataclasses.fields(cls):
        if f.name not in out or out[f.name] is None:
            continue
        hint, value, name = hints[f.name], out[f.name], f"{where}{f.name}"
        if dataclasses.is_dataclass(hint) and isinstance(value, dict):
            out[f.name] = _numbers(hint, value, f"{name}.")
            continue
        union = typing.get_origin(hint) in (typing.Union, types.UnionType)
        kinds = {t for t in (typing.get_args(hint) if union else (hint,)) if t in (int, float)}
        if not kinds:
            continue
        if isinstance(value, bool):
            raise ConfigError(f"{name}={value!r} must be a number")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name}={value!r} must be a number") from None
        if float in kinds:
            out[f.name] = number
        elif number != int(number):
            raise ConfigError(f"{name}={value!r} must be an integer")
        else:
            out[f.name] = int(number)
    return out


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> TrainConfig:
    """A TrainConfig from a YAML file (or defaults) with ``--set`` overrides applied."""
    data: dict[str, Any] = {}
    if path is not None:
        text = Path(path).read_text()
        data = yaml.safe_load(text) or {}
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping at the top level")
    data = merge_dicts(data, parse_overrides(overrides))
    unknown = sorted(set(data) - {f.name for f in dataclasses.fields(TrainConfig)})
    if unknown:  # named by config_from_dict with the allowed fields
        return config_from_dict(TrainConfig, data)
    return config_from_dict(TrainConfig, _numbers(TrainConfig, data))


def from_dict(data: dict[str, Any]) -> TrainConfig:
    return config_from_dict(TrainConfig, _numbers(TrainConfig, data))
