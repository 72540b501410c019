"""PPO learner with the concept loss, and the connector that brings concept targets to it.

Loss of a bottleneck module = PPO (RLlib's ``PPOTorchLearner``) + ``concept_loss_weight`` × the
typed concept loss (``marl.concept_loss``; weight 0.1 as in Grupen et al.; position slots scaled by
``position_loss_scale``), computed on the un-intervened concept logits of ``_forward_train``. Rows with ``Columns.LOSS_MASK`` false
(RLlib's artificial bootstrap step) are left out. Baseline modules get plain PPO.

Targets: the batch column ``concept_targets`` (B, D), the env's ground-truth concepts of each step.
The fast sampler (``marl.sampling``) writes it directly; on RLlib's default multi-agent path the
learner connector ``ConceptTargetsFromInfos`` copies it from each step's ``infos["concepts"]``
(what ``envs.parallel.ParallelFacade`` reports).

Metrics per module under ``concepts/``: each loss term, per-kind accuracy / MSE and per-concept
``acc/NAME`` / ``mse/NAME``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner
from ray.rllib.connectors.connector_v2 import ConnectorV2
from ray.rllib.core.columns import Columns

from marl.modules import CONCEPT_LOGITS, CONCEPT_TARGETS

DEFAULT_CONCEPT_LOSS_WEIGHT = 0.1


class ConceptPPOLearner(PPOTorchLearner):
    """``PPOTorchLearner`` + weight × concept loss (weight from ``learner_config_dict``)."""

    def compute_loss_for_module(self, *, module_id: str, config: Any, batch: dict[str, Any], fwd_out: dict[str, Any]) -> Any:
        total = super().compute_loss_for_module(module_id=module_id, config=config, batch=batch, fwd_out=fwd_out)
        module = self.module[module_id].unwrapped()
        if not getattr(module, "supervised", False):
            return total
        if CONCEPT_TARGETS not in batch:
            raise KeyError(f"module {module_id!r} is a concept bottleneck but the train batch has no {CONCEPT_TARGETS!r} column")
        mask = batch.get(Columns.LOSS_MASK)
        settings = self.config.learner_config_dict
        position_scale = float(settings.get("position_loss_scale", 1.0))
        balance = bool(settings.get("concept_balance", False))
        loss, metrics = module.concept_loss(fwd_out[CONCEPT_LOGITS], batch[CONCEPT_TARGETS], mask, position_scale, balance)
        weight = float(settings.get("concept_loss_weight", DEFAULT_CONCEPT_LOSS_WEIGHT))
        self.metrics.log_dict(metrics, key=(module_id, "concepts"), window=1)
        return total + weight * loss


class ConceptTargetsFromInfos(ConnectorV2):
    """Learner connector: ``infos["concepts"]`` of every step → batch column ``concept_targets``.

    Runs after RLlib's ``AddOneTsToEpisodesAndTruncate`` (PPO prepends it), so each episode chunk
    is one step longer than sampled; the extra step repeats the last info (masked out of the loss).
    """

    def __call__(self, *, rl_module: Any, batch: dict[str, Any], episodes: list[Any], **kwargs: Any) -> Any:
        for sa_episode in self.single_agent_episode_iterator(episodes, agents_that_stepped_only=False):
            n = len(sa_episode)
            infos = sa_episode.get_infos(slice(0, n))
            targets = [np.asarray(info["concepts"], dtype=np.float32) for info in infos]
            self.add_n_batch_items(batch, CONCEPT_TARGETS, items_to_add=targets, num_items=n, single_agent_episode=sa_episode)
        return batch
