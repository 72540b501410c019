"""Real tiny policies with probes, built without Ray, for the probe-intervention tests.

``build(root)`` records a scripted cooking dataset (cramped_room, with observations, ``TEAM``), builds modules
with ``marl.algorithm.build_modules``, trains their encoder and concept layer on the concept loss
alone (so their layers provably hold the concepts), saves them with ``marl.loading.save_modules``
and fits probes on them (``probes.json`` + ``probes.safetensors``, with the policy's digest, as
``ethogram probe`` writes them). Policies (independent modules unless named):

- ``cbp`` and ``baseline``: the trained encoders, untrained heads; probes at features and concept;
- ``shared``: an untrained shared cbp module (rows of both agents in one batch); probes at features;
- the planted-truth pair, baseline modules on ``baseline``'s trained encoder whose heads are wired by
  hand at ``features`` (``wire_needs`` / ``wire_ignores``):
  ``needs``: its policy head reads the probe of its own agent's orientation and moves clockwise of
  where the probe says it faces, so its actions depend on that concept by construction;
  ``ignores``: its head reads four directions orthogonal to the orientation's cross-covariance with
  the layer (standardised readings), so what it does is linearly uncorrelated with the orientation,
  though the orientation is decodable from the very layer it reads (same encoder, same probes).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.linalg
import torch

from analysis.dataset import open_dataset
from analysis.probes import ProbeConfig, ProbeSet, fit_probes, save_probes
from marl.activations import capture, module_agents, policy_digest
from marl.algorithm import build_modules
from marl.loading import load_policy, save_modules
from marl.record import record
from tests.marl.conftest import tiny_config

KITCHEN = {"layout": "cramped_room", "horizon": 40}
TEAM = "scripted:planner@0.2,ingredient@0.2"
"""The recording team: exploration noise makes every episode different (the planners alone repeat one episode)."""
ORIENTATION = "orientation"
GAIN = 4.0
"""Logit scale of the planted heads."""


def train_concepts(modules: dict, data, steps: int = 150) -> None:
    """Fit each independent module's encoder and concept layer to its agent's ground truth (concept loss only)."""
    eps = data.load(fields=("obs", "concepts"))
    for i, mid in enumerate(sorted(modules)):
        module = modules[mid]
        obs, gt = torch.from_numpy(eps.obs[:, :, i][eps.mask]), torch.from_numpy(eps.concepts[:, :, i][eps.mask])
        opt = torch.optim.Adam([*module.encoder.parameters(), *module.concept_head.parameters()], lr=3e-3)
        for _ in range(steps):
            feats, _ = module.features(obs)
            loss, _ = module.concept_loss(module.concept_head(feats), gt)
            opt.zero_grad()
            loss.backward()
            opt.step()


def fit_and_save(path: Path, data, layers: tuple[str, ...], out: Path) -> ProbeSet:
    """Probes of the policy at ``path`` on ``data`` at ``layers``, saved in ``out`` with the policy's digest (as ``ethogram probe``)."""
    policy = load_policy(path, data.manifest.env)
    acts = capture(policy, data, list(layers))
    eps = data.load(fields=("concepts",))
    meta = {"checkpoint": str(path), "policy_digest": policy_digest(policy)}
    probes = fit_probes(acts.layers, eps.concepts, eps.mask, data.manifest.env, module_agents(policy), ProbeConfig(null_draws=0), meta=meta)
    save_probes(probes, out)
    return probes


def _pass_through(module, rows: np.ndarray, bias: np.ndarray, actions: list[int]) -> None:
    """Wire a baseline module so that action ``actions[k]``'s logit is GAIN × (rows[k] · features + bias[k])
    and the other actions are never taken: ± pairs carry each reading through the two ReLUs."""
    k = len(rows)
    head, first, last = module.concept_head, module.pi[0], module.pi[2]
    with torch.no_grad():
        for p in (head.weight, head.bias, first.weight, first.bias, last.weight):
            p.zero_()
        head.weight[: 2 * k : 2], head.weight[1 : 2 * k : 2] = torch.from_numpy(rows), -torch.from_numpy(rows)
        head.bias[: 2 * k : 2], head.bias[1 : 2 * k : 2] = torch.from_numpy(bias), -torch.from_numpy(bias)
        for j in range(2 * k):  # pi hidden j reads +reading_j/2 − its pair's: relu(±reading)
            first.weight[j, j], first.weight[j, j ^ 1] = 1.0, -1.0
        last.bias.fill_(-20.0)
        for j, action in enumerate(actions):
            last.weight[action, 2 * j], last.weight[action, 2 * j + 1] = GAIN, -GAIN
            last.bias[action] = 0.0


def wire_needs(module, probes: ProbeSet, mid: str, agent: str) -> None:
    """Move clockwise of the orientation the ``features`` probe reads (its class k → action k + 1)."""
    probe = probes.probes[(mid, "features", f"{agent}.{ORIENTATION}")]
    assert probe.outputs == ("up", "right", "down", "left"), probe.outputs
    _pass_through(module, probe.weight.astype(np.float32), probe.bias.astype(np.float32), [1, 2, 3, 0])


def wire_ignores(module, probes: ProbeSet, mid: str, agent: str, seed: int = 0) -> np.ndarray:
    """Read 4 random directions with the orientation's cross-covariance projected out (standardised);
    returns them (4, D) for the tests."""
    stats, probe = probes.stats[(mid, "features")], probes.probes[(mid, "features", f"{agent}.{ORIENTATION}")]
    span = scipy.linalg.orth(probe.cross_cov)  # (D, r)
    rows = np.random.default_rng(seed).standard_normal((4, len(stats.mean)))
    rows -= rows @ span @ span.T
    rows /= np.sqrt(np.einsum("kd,de,ke->k", rows, stats.cov, rows))[:, None]
    _pass_through(module, rows.astype(np.float32), (-rows @ stats.mean).astype(np.float32), [0, 1, 2, 3])
    return rows


def build(root: Path) -> dict[str, Path]:
    """Everything the probe-intervention tests use (module docstring), under ``root``."""
    torch.manual_seed(0)
    record("cooking", KITCHEN, TEAM, 16, root / "scripted", seed=0, num_envs=8, progress=False)
    data = open_dataset(root / "scripted")
    paths: dict[str, Path] = {"scripted": root / "scripted"}
    modules = {}
    for name, cfg, layers in [
        ("cbp", tiny_config(), ("features", "concept")),
        ("baseline", tiny_config(policy="baseline"), ("features", "concept")),
        ("shared", tiny_config(sharing="shared"), ("features",)),
    ]:
        modules[name] = build_modules(cfg)
        if name != "shared":
            train_concepts(modules[name], data)
        paths[name] = save_modules(modules[name], cfg, root / name, seed=0, iteration=1, env_steps=0)
        fit_and_save(paths[name], data, layers, root / f"{name}_probes")
        paths[f"{name}_probes"] = root / f"{name}_probes"
    base_cfg, base_probes = tiny_config(policy="baseline"), fit_and_save(paths["baseline"], data, ("features",), root / "tmp_probes")
    for name, wire in (("needs", wire_needs), ("ignores", wire_ignores)):
        planted = build_modules(base_cfg)
        for mid, agent in zip(sorted(planted), data.manifest.env.agents, strict=True):
            planted[mid].encoder.load_state_dict(modules["baseline"][mid].encoder.state_dict())
            wire(planted[mid], base_probes, mid, agent)
        paths[name] = save_modules(planted, base_cfg, root / name, seed=0, iteration=1, env_steps=0)
        fit_and_save(paths[name], data, ("features",), root / f"{name}_probes")
        paths[f"{name}_probes"] = root / f"{name}_probes"
    return paths
