"""Which module acts for which agent: a (K, N, ...) batch of K envs × N agents split among the
policy's modules, and their outputs gathered back into (K, N, ...).

Two sharings (``marl.config.TrainConfig.sharing``):
- ``shared``: one module, ``SHARED_MODULE``, acts for every agent. It reads all K·N observations
  as one batch, agent-major within each env, each with one extra uint8 channel holding the agent's
  index (``add_index_channel``) so that it knows which agent it acts for.
- ``independent``: one module per agent, named by the agent id, reads that agent's K observations.

``Routing`` is the one place this is written: the fast sampler (``marl.sampling``) and trained
policies (``marl.loading``) both split their batches with it and merge the modules' outputs with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np
import torch

SHARED_MODULE = "shared"
"""Module id of the shared-parameter policy; independent policies use the agent ids."""

Batch = TypeVar("Batch", np.ndarray, torch.Tensor)


def module_ids(agents: Sequence[str], shared: bool) -> list[str]:
    """The policy's module ids, in the order ``Routing.split`` returns their batches."""
    return [SHARED_MODULE] if shared else list(agents)


def add_index_channel(obs: np.ndarray) -> np.ndarray:
    """(K, N, H, W, C) uint8 → (K, N, H, W, C+1): the extra channel holds each agent's index."""
    k, n, h, w, _ = obs.shape
    index = np.broadcast_to(np.arange(n, dtype=np.uint8)[None, :, None, None, None], (k, n, h, w, 1))
    return np.concatenate([obs, index], axis=-1)


class Routing:
    """The routing of one policy's agents to its modules (module docstring)."""

    def __init__(self, agents: Sequence[str], shared: bool) -> None:
        self.shared = bool(shared)
        self.module_ids = module_ids(agents, self.shared)

    def observe(self, obs: np.ndarray) -> np.ndarray:
        """Env observations (K, N, H, W, C) → what the modules read (K, N, H, W, C'): the index channel added when shared."""
        return add_index_channel(obs) if self.shared else obs

    def split(self, x: Batch) -> list[Batch]:
        """(K, N, ...) → one batch per module, in ``module_ids`` order: (K·N, ...) when shared, else (K, ...) per agent.

        Arrays come out contiguous (ready for ``torch.from_numpy``); tensors as views.
        """
        k, n = x.shape[:2]
        if self.shared:
            return [x.reshape(k * n, *x.shape[2:])]
        if isinstance(x, np.ndarray):
            return [np.ascontiguousarray(x[:, i]) for i in range(n)]
        return [x[:, i] for i in range(n)]

    def merge(self, parts: Sequence[torch.Tensor], k: int) -> torch.Tensor:
        """The modules' outputs for ``split``'s batches, in ``module_ids`` order, (B_m, ...) → (K, N, ...)."""
        rest = parts[0].shape[1:]
        return torch.stack([p.reshape(k, -1, *rest) for p in parts], 1).reshape(k, -1, *rest)
