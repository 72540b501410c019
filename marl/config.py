"""Training configuration: frozen dataclasses, loaded from YAML with ``--set key=value`` overrides.

A config file mirrors ``TrainConfig``; nested sections (``model``, ``ppo``, ``sampling``) are
mappings. Unknown keys and bad values raise ``ConfigError`` naming the field and the allowed values:
types are checked against the fields' hints (``envs.config.config_from_dict``), every numeric field
has a range (NaN and infinities are refused), and ``env_config`` is built into the env's own config
at load time. So a config that loads is one that trains: ``marl.train`` checks it all before it
starts Ray or writes anything. Malformed YAML (in the file or a ``--set`` value) is a
``ConfigError`` naming where it is.
``--set`` takes dotted keys whose values are parsed as YAML: ``--set ppo.lr=1e-4 seeds=[0,1]``.
PPO defaults follow Grupen et al. 2022 (docs/methods.md, 'PPO hyper-parameters').
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from envs.config import ConfigError, check_choice, check_each, check_range, config_from_dict, config_to_dict
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
        check_range("model.residual_dim", self.residual_dim, 0, integer=True)
        check_range("model.conv_stride", self.conv_stride, 1, integer=True)
        if not self.hidden:
            raise ConfigError("model.hidden must name at least one layer width")
        for name in ("conv_channels", "hidden", "head_hidden"):
            check_each(f"model.{name}", getattr(self, name), 1, integer=True)


@dataclass(frozen=True)
class PPOSettings:
    """PPO hyper-parameters (docs/methods.md, 'PPO hyper-parameters') and the concept loss weight."""

    lr: float = 5e-4
    """Initial learning rate, >= 0."""
    lr_final: float = 5e-7
    """Learning rate reached linearly at ``lr_anneal_steps`` env steps, >= 0."""
    lr_anneal_steps: int | None = None
    """Env steps of the linear decay, >= 1 (None: ``max_env_steps``, or 5e6 when stopping on time)."""
    lr_cooldown_steps: int = 0
    """The run's last N env steps (>= 0; needs ``max_env_steps``) take the rate linearly from where the
    decay has got to down to ``lr_final``: a slow decay keeps the rate high enough to keep learning,
    the cool-down lets the jointly trained concepts settle before the run ends (Clean Up, README)."""
    gamma: float = 0.99
    """Discount, in [0, 1]."""
    lambda_: float = 0.95
    """GAE lambda, in [0, 1]."""
    clip: float = 0.2
    """PPO's policy ratio clip, >= 0."""
    entropy: float = 0.01
    """Entropy bonus coefficient, >= 0 (a negative one would punish exploration)."""
    vf_coeff: float = 1.0
    """Value loss coefficient, >= 0."""
    vf_clip: float = 1e6
    """Clip of the squared value error (RLlib's ``vf_clip_param``), > 0; large = off."""
    grad_clip: float = 0.5
    """Clip of the gradients' global norm, > 0."""
    num_epochs: int = 4
    """Passes over each iteration's batch, >= 1."""
    num_minibatches: int = 4
    """Minibatches per epoch; the minibatch size is each module's batch divided by this."""
    concept_loss_weight: float = 0.1
    """Weight of the concept loss beside PPO's, >= 0."""
    position_loss_scale: float = 1.0
    """Multiplies the position slots' squared errors inside the concept loss. Positions are learned
    normalised to [0, 1], so one cell of error in a W-column world costs only 1/W² there: at 1.0 a
    jointly trained bottleneck lets PPO bend positions by cells (Clean Up: ~3). ~W² weighs a cell
    of position error like a confidently wrong binary concept."""
    concept_balance: bool = False
    """Balance each binary concept's BCE between its true and false steps in every minibatch
    (``marl.concept_loss``). Unbalanced, a rarely true concept is learned as "never" and its accuracy
    still looks fine (Clean Up's ``in_river``: recall 0.19 at accuracy 0.98 for an agent in the river
    2% of the time)."""
    reward_scale: float = 1.0
    """Rewards are multiplied by this for learning, > 0 (reported returns are unscaled)."""
    learner_threads: int = 1
    """torch threads of the learner update only (sampling always uses 1). 2 nearly halves the update
    time on a quiet 2-core machine; with other processes on the cores it is many times slower
    (measured 1.1k vs 7.3k env steps/s), so keep 1 unless the trial has the cores to itself."""

    def __post_init__(self) -> None:
        for name in ("lr", "lr_final", "clip", "entropy", "vf_coeff", "concept_loss_weight", "position_loss_scale"):
            check_range(f"ppo.{name}", getattr(self, name), 0)
        for name in ("vf_clip", "grad_clip", "reward_scale"):
            check_range(f"ppo.{name}", getattr(self, name), 0, open_low=True)
        check_range("ppo.gamma", self.gamma, 0, 1)
        check_range("ppo.lambda_", self.lambda_, 0, 1)
        if self.lr_anneal_steps is not None:
            check_range("ppo.lr_anneal_steps", self.lr_anneal_steps, 1, integer=True)
        check_range("ppo.lr_cooldown_steps", self.lr_cooldown_steps, 0, integer=True)
        if not isinstance(self.concept_balance, bool):
            raise ConfigError(f"ppo.concept_balance={self.concept_balance!r} must be true or false")
        for name in ("num_epochs", "num_minibatches", "learner_threads"):
            check_range(f"ppo.{name}", getattr(self, name), 1, integer=True)


@dataclass(frozen=True)
class SamplingConfig:
    """Who samples and how much per iteration."""

    sampler: str = "fast"
    """``fast`` (``marl.sampling``) or ``rllib`` (RLlib's MultiAgentEnvRunner over the PettingZoo env)."""
    num_env_runners: int = 0
    """Remote env runner actors, >= 0 (0: sample in the training process)."""
    num_envs_per_runner: int = 32
    """Envs each runner steps together, >= 1."""
    rollout_length: int = 400
    """Steps per env per iteration, >= 1; iteration batch = rollout_length × num_envs × max(1, runners)."""
    cpus_per_runner: float = 1.0
    """CPUs Ray reserves for each remote env runner, >= 0."""
    runner_resources: dict[str, float] = field(default_factory=dict)
    """Custom Ray resources each env runner needs, each >= 0 (e.g. ``{worker_node: 0.01}``)."""

    def __post_init__(self) -> None:
        check_choice("sampling.sampler", self.sampler, SAMPLERS)
        check_range("sampling.num_env_runners", self.num_env_runners, 0, integer=True)
        check_range("sampling.num_envs_per_runner", self.num_envs_per_runner, 1, integer=True)
        check_range("sampling.rollout_length", self.rollout_length, 1, integer=True)
        check_range("sampling.cpus_per_runner", self.cpus_per_runner, 0)
        if not isinstance(self.runner_resources, dict):
            raise ConfigError(f"sampling.runner_resources={self.runner_resources!r} must be a mapping of resource name to amount")
        for name, amount in self.runner_resources.items():
            check_range(f"sampling.runner_resources.{name}", amount, 0)


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
    """Env steps (>= 0) over which the world's ``shaping_scale`` falls linearly from 1 to 0 (fast sampler;
    the env config must turn shaping on, e.g. cooking's ``shaping: true``)."""
    max_env_steps: int | None = 100_000
    """Stop after this many env steps, >= 1 (None: no step limit)."""
    max_time_s: float | None = None
    """Stop after this many seconds of training, > 0 (None: no time limit)."""
    seeds: tuple[int, ...] = (0,)
    """One trial per seed (each >= 0), run in parallel as Ray actors."""
    checkpoint_every: int = 10
    """Save a checkpoint every N >= 1 iterations (and always at the end)."""
    out_dir: str = "runs/train"
    """The run directory (``config.yaml`` and one ``seed_S/`` per trial)."""
    trial_cpus: float = 1.0
    """CPUs reserved for each trial's driver (its learner), >= 0; ``marl.train`` checks the cluster has them."""

    def __post_init__(self) -> None:
        from envs import resolve_env

        if not isinstance(self.env_config, dict):
            raise ConfigError(f"env_config={self.env_config!r} must be a mapping of the {self.env} config's fields")
        env, env_config = resolve_env(self.env, self.env_config)  # cooking_v0 is recorded as cooking; pettingzoo:M:F as pettingzoo
        object.__setattr__(self, "env", env)
        object.__setattr__(self, "env_config", env_config)
        check_choice("policy", self.policy, POLICIES)
        check_choice("sharing", self.sharing, SHARING)
        if self.max_env_steps is None and self.max_time_s is None:
            raise ConfigError("max_env_steps and max_time_s are both null; set at least one stop condition")
        if self.max_env_steps is not None:
            check_range("max_env_steps", self.max_env_steps, 1, integer=True)
        if self.max_time_s is not None:
            check_range("max_time_s", self.max_time_s, 0, open_low=True)
        cooldown = self.ppo.lr_cooldown_steps
        if cooldown and (self.max_env_steps is None or cooldown >= self.max_env_steps):
            raise ConfigError(
                f"ppo.lr_cooldown_steps={cooldown} must be below max_env_steps={self.max_env_steps}: "
                "the cool-down is the run's last steps, so the run needs a step limit longer than it"
            )
        if isinstance(self.seeds, str) or not isinstance(self.seeds, tuple | list):
            raise ConfigError(f"seeds={self.seeds!r} must be a list of integers, e.g. [0, 1]")
        if not self.seeds:
            raise ConfigError("seeds must list at least one seed")
        repeated = [str(s) for s in dict.fromkeys(s for s in self.seeds if list(self.seeds).count(s) > 1)]
        if repeated:  # two trials would train into one seed_<s>/
            verb = "appears" if len(repeated) == 1 else "appear"
            raise ConfigError(f"seeds must not repeat a seed; {', '.join(repeated)} {verb} more than once in {list(self.seeds)}")
        check_each("seeds", self.seeds, 0, integer=True)
        check_range("checkpoint_every", self.checkpoint_every, 1, integer=True)
        check_range("shaping_anneal_steps", self.shaping_anneal_steps, 0, integer=True)
        check_range("trial_cpus", self.trial_cpus, 0)
        if not isinstance(self.out_dir, str) or not self.out_dir:
            raise ConfigError(f"out_dir={self.out_dir!r} must be a directory path")
        self._check_env_config()
        if self.env_config.get("shaping") and self.sampling.sampler != "fast":
            raise ConfigError(
                "env_config.shaping=true is annealed by the fast sampler only; set sampling.sampler=fast or env_config.shaping=false"
            )

    def lr_schedule(self) -> list[list[float]]:
        """The learning rate as RLlib's piecewise-linear ``[env_step, lr]`` points (``ppo.lr*`` fields)."""
        p = self.ppo
        anneal = p.lr_anneal_steps or self.max_env_steps or 5_000_000
        points = [[0, p.lr], [anneal, p.lr_final]]
        if p.lr_cooldown_steps:
            start = self.max_env_steps - p.lr_cooldown_steps
            reached = p.lr + (p.lr_final - p.lr) * min(start / anneal, 1.0)
            points = [[0, p.lr], [start, reached], [self.max_env_steps, p.lr_final]]
        return points

    def _check_env_config(self) -> None:
        """Build the env's own config now, so that a bad ``env_config`` fails at load time (not in a trial)."""
        from envs import make_config

        if not isinstance(self.env_config, dict):
            raise ConfigError(f"env_config={self.env_config!r} must be a mapping of the {self.env} config's fields")
        try:
            make_config(self.env, self.env_config)
        except ConfigError as exc:
            raise ConfigError(f"env_config ({self.env}): {exc}") from None

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
        try:
            node[leaf] = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise ConfigError(f"--set {item!r}: not valid YAML ({_yaml_problem(exc)})") from None
    return out


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """The YAML error's problem and position in one line."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else problem


def read_yaml(path: str | Path) -> Any:
    """The YAML document in ``path``; malformed YAML is a ConfigError naming the file and the position."""
    try:
        return yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({_yaml_problem(exc)})") from None


def merge_dicts(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` merged in, nested mappings merged key by key."""
    out = dict(base)
    for k, v in extra.items():
        out[k] = merge_dicts(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> TrainConfig:
    """A TrainConfig from a YAML file (or defaults) with ``--set`` overrides applied."""
    data: dict[str, Any] = {}
    if path is not None:
        data = read_yaml(path) or {}
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping at the top level")
    return from_dict(merge_dicts(data, parse_overrides(overrides)))


def from_dict(data: dict[str, Any]) -> TrainConfig:
    """A validated TrainConfig from a (nested) dict; numbers may come as YAML 1.1 strings (``1e-4``)."""
    return config_from_dict(TrainConfig, data)
