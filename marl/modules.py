"""RLlib modules: the concept-bottleneck policy and a baseline of matching size.

Concept bottleneck (Grupen et al. 2022; docs/methods.md, 'Architecture')::

    obs uint8 (B, H, W, C) → encoder (conv → MLP) → features (B, E)
      → concept head: one linear layer → concept_logits (B, P)   [P = ConceptSet.pred_dim]
      → bottleneck (B, P): the logits themselves (``bottleneck_mode="logits"``), probabilities
        (sigmoid for binary, softmax per categorical concept, identity for scalar/position) or
        ``hard`` decisions with the probabilities' gradient (``marl.concept_loss.BOTTLENECK_MODES``)
      → policy head (B, A) and value head (B,) that see only [bottleneck | residual | agent one-hot]

Options (``model_config``, see ``module_config``):
- ``concept_training`` (default ``joint``, the paper's): with ``detached`` the heads read the
  bottleneck (and the residual's features) detached, so PPO's gradient stops at the heads and the
  encoder and concept layer learn from the concept loss alone. Joint training lets PPO bend the
  predictions (a scalar concept the policy finds useful at another value drifts from the truth);
  detached training keeps them what the loss says they are.
- ``residual_dim`` (default 0): a small free channel from the features to the heads that the
  concept loss does not supervise. It can help the return, but information the agent uses can
  then bypass the concepts ("leakage"), which weakens what interventions on concepts can show.
  Off by default; interventions never touch it.
- ``vector_high``: the observation's last channel (before the agent index) packs a vector of
  V = len(vector_high) values into its first V cells (``ObservationLayout.vector``, e.g. Cleanup's
  roster); it is read as a vector, each value divided by its high, and joins the flattened (or
  convolved) grid at the encoder's input and the encoder's output: the concept layer sees it
  directly, so concepts that are linear in it (Cleanup's agent and env concepts) are linear in its
  input.
- ``num_agents_onehot``: with shared parameters one module acts for every agent, so it must know
  which one it is: the observation then carries one extra uint8 channel holding the agent index
  (``marl.routing.add_index_channel``), read back as a one-hot that goes to the encoder and, being identity and
  not world state, to the heads too. 0 for independent modules (one per agent).

The baseline (``BaselineModule``) has the same layers and sizes; its P-wide layer is an
unsupervised hidden layer (no concept loss, no probability transform, no concept outputs).

Named outputs of ``_forward``: ``action_dist_inputs``, ``vf_preds``, ``embeddings`` (the heads'
input), and for the bottleneck module ``concept_logits`` (what the loss sees, never intervened) and
``bottleneck``. ``bottleneck`` + ``heads`` are the two inference stages between which
interventions act (``marl.loading``); ``act`` runs both.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.apis.value_function_api import ValueFunctionAPI
from ray.rllib.core.rl_module.torch import TorchRLModule
from torch import nn

from envs.spec import ConceptSet
from marl.concept_loss import BOTTLENECK_MODES, ConceptIndex, concept_loss, to_bottleneck

CONCEPT_LOGITS = "concept_logits"
BOTTLENECK = "bottleneck"
CONCEPT_TARGETS = "concept_targets"
"""Batch column with the ground-truth concepts (B, D) of each step (``gt`` layout)."""


def module_config(
    concepts: ConceptSet,
    *,
    bottleneck_mode: str = "logits",
    residual_dim: int = 0,
    concept_training: str = "joint",
    conv_channels: tuple[int, ...] = (),
    conv_stride: int = 1,
    hidden: tuple[int, ...] = (128, 128),
    head_hidden: tuple[int, ...] = (64,),
    num_agents_onehot: int = 0,
    obs_high: int | Sequence[int] = 1,
    vector_high: Sequence[int] = (),
) -> dict[str, Any]:
    """The ``model_config`` dict both module classes read (JSON-able: it goes into checkpoints)."""
    if bottleneck_mode not in BOTTLENECK_MODES:
        raise ValueError(f"bottleneck_mode={bottleneck_mode!r} is not allowed; choose one of: {', '.join(BOTTLENECK_MODES)}")
    return {
        "concepts": concepts.to_json(),
        "bottleneck_mode": bottleneck_mode,
        "residual_dim": int(residual_dim),
        "concept_training": concept_training,
        "conv_channels": list(conv_channels),
        "conv_stride": int(conv_stride),
        "hidden": list(hidden),
        "head_hidden": list(head_hidden),
        "num_agents_onehot": int(num_agents_onehot),
        "obs_high": [int(x) for x in obs_high] if isinstance(obs_high, Sequence) else int(obs_high),
        "vector_high": [int(x) for x in vector_high],
    }


def _mlp(sizes: list[int], activate_last: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if activate_last or i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class ConceptBottleneckModule(TorchRLModule, ValueFunctionAPI):
    """PPO module whose policy and value depend on the predicted concepts only (module docstring)."""

    supervised = True

    def setup(self) -> None:
        cfg = self.model_config
        self.concept_set = ConceptSet.from_json(cfg["concepts"])
        self.index = ConceptIndex(self.concept_set)
        self.mode = cfg["bottleneck_mode"]
        self.detached = self.supervised and cfg.get("concept_training", "joint") == "detached"
        self.n_onehot = int(cfg["num_agents_onehot"])
        vector_high = torch.as_tensor(cfg.get("vector_high", []), dtype=torch.float32)
        self.n_vector = len(vector_high)
        h, w, c = self.observation_space.shape
        c_in = c - (1 if self.n_onehot else 0)
        high = torch.as_tensor(cfg["obs_high"], dtype=torch.float32).clamp(min=1).expand(c_in)
        c_in -= 1 if self.n_vector else 0
        self.register_buffer("obs_scale", 1.0 / high[:c_in], persistent=False)  # per grid channel, last axis
        self.register_buffer("vector_scale", 1.0 / vector_high.clamp(min=1), persistent=False)
        convs: list[nn.Module] = []
        stride = int(cfg.get("conv_stride", 1))
        for ch in cfg["conv_channels"]:
            convs += [nn.Conv2d(c_in, ch, 3, stride=stride, padding=1), nn.ReLU()]
            c_in, h, w = ch, (h - 1) // stride + 1, (w - 1) // stride + 1
        self.conv = nn.Sequential(*convs)
        self.encoder = _mlp([h * w * c_in + self.n_vector + self.n_onehot, *cfg["hidden"]], activate_last=True)
        width = self.concept_set.pred_dim
        self.concept_head = nn.Linear(cfg["hidden"][-1] + self.n_vector, width)
        self.residual = nn.Linear(self.concept_head.in_features, cfg["residual_dim"]) if cfg["residual_dim"] else None
        head_in = width + int(cfg["residual_dim"]) + self.n_onehot
        self.pi = _mlp([head_in, *cfg["head_hidden"], int(self.action_space.n)], activate_last=False)
        self.vf = _mlp([head_in, *cfg["head_hidden"], 1], activate_last=False)

    # -- pieces -------------------------------------------------------------------------------
    def features(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """obs (B, H, W, C[+1]) uint8 → features (B, E) and the agent one-hot (B, N) or None."""
        onehot = None
        if self.n_onehot:
            onehot = nn.functional.one_hot(obs[:, 0, 0, -1].long(), self.n_onehot).float()
            obs = obs[..., :-1]
        parts = []
        if self.n_vector:
            parts.append(obs[..., -1].reshape(obs.shape[0], -1)[:, : self.n_vector].float() * self.vector_scale)
            obs = obs[..., :-1]
        x = obs.float() * self.obs_scale
        if len(self.conv):
            x = self.conv(x.permute(0, 3, 1, 2))
        x = torch.cat([x.reshape(x.shape[0], -1), *parts, *([onehot] if onehot is not None else [])], dim=-1)
        return torch.cat([self.encoder(x), *parts], dim=-1), onehot

    def head_input(self, bottleneck: torch.Tensor, feats: torch.Tensor, onehot: torch.Tensor | None) -> torch.Tensor:
        parts = [bottleneck]
        if self.residual is not None:
            parts.append(self.residual(feats))
        if onehot is not None:
            parts.append(onehot)
        return torch.cat(parts, dim=-1) if len(parts) > 1 else bottleneck

    def bottleneck_of(self, concept_logits: torch.Tensor) -> torch.Tensor:
        return to_bottleneck(concept_logits, self.index, self.mode)

    # -- RLlib --------------------------------------------------------------------------------
    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        feats, onehot = self.features(batch[Columns.OBS])
        logits = self.concept_head(feats)
        seen, seen_feats = (logits.detach(), feats.detach()) if self.detached else (logits, feats)
        emb = self.head_input(self.bottleneck_of(seen), seen_feats, onehot)
        out = {Columns.ACTION_DIST_INPUTS: self.pi(emb), Columns.EMBEDDINGS: emb}
        if self.supervised:
            out[CONCEPT_LOGITS] = logits
        return out

    def _forward_exploration(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        out = self._forward(batch)
        out[Columns.VF_PREDS] = self.vf(out[Columns.EMBEDDINGS]).squeeze(-1)
        return out

    def compute_values(self, batch: dict[str, Any], embeddings: Any = None) -> torch.Tensor:
        if embeddings is None:
            embeddings = self._forward(batch)[Columns.EMBEDDINGS]
        return self.vf(embeddings).squeeze(-1)

    # -- ethogram -----------------------------------------------------------------------------
    def bottleneck(self, obs: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor | None]]:
        """obs (B, H, W, C') → the bottleneck (B, P) and the context the heads need besides it."""
        feats, onehot = self.features(obs)
        return self.bottleneck_of(self.concept_head(feats)), (feats, onehot)

    def heads(self, z: torch.Tensor, ctx: tuple[torch.Tensor, torch.Tensor | None], values: bool = False) -> dict[str, torch.Tensor]:
        """Policy (and value) heads on a bottleneck ``z`` (B, P), possibly intervened."""
        emb = self.head_input(z, *ctx)
        out = {"action_logits": self.pi(emb)}
        if values:
            out["values"] = self.vf(emb).squeeze(-1)
        return out

    def act(self, obs: torch.Tensor, values: bool = False) -> dict[str, torch.Tensor]:
        """One inference pass: action logits, the bottleneck and (optionally) values."""
        z, ctx = self.bottleneck(obs)
        return {**self.heads(z, ctx, values), BOTTLENECK: z}

    def concept_loss(
        self,
        logits: torch.Tensor,
        targets: torch.Tensor,
        mask: torch.Tensor | None = None,
        position_scale: float = 1.0,
        binary_balance: bool = False,
    ):
        """Typed concept loss and metrics (``marl.concept_loss.concept_loss``)."""
        return concept_loss(logits, targets, self.index, mask, position_scale, binary_balance)


class BaselineModule(ConceptBottleneckModule):
    """Same layers and sizes as the bottleneck module; the P-wide layer is an unsupervised hidden layer."""

    supervised = False

    def bottleneck_of(self, concept_logits: torch.Tensor) -> torch.Tensor:
        return torch.relu(concept_logits)


MODULE_CLASSES = {"cbp": ConceptBottleneckModule, "baseline": BaselineModule}
"""Policy kinds of the config and the module class of each."""
