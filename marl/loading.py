"""Trained policies as plain batched callables, and the hooks interventions use.

``load_policy(path, env)`` returns a ``TrainedPolicy`` (an ``envs.batched.BatchedPolicy``) from a
checkpoint's ``policy/`` folder (``policy.json`` + one safetensors file per module), a checkpoint
dir, a trial dir (its latest checkpoint) or a run dir with one trial. Nothing of RLlib's
checkpoint machinery is involved, so there is no silent fallback: a module class that cannot be
imported, or is not one of ``marl.modules``' classes, raises ``PolicyLoadError`` naming it. For
RLlib's own module checkpoints ``load_rllib_module`` checks the restored type (RLlib's
``RLModule.from_checkpoint`` falls back to a bare ``RLModule`` whose forward returns ``{}``).

``TrainedPolicy.act(env, out)`` runs every module once on all K envs × N agents and returns
``PolicyOutput(actions, concepts, intervened)``: ``concepts`` (K, N, P) is the predicted,
un-intervened bottleneck (None for the baseline), ``intervened`` what the heads saw when an
intervention hook is set (None otherwise). ``name`` and ``iteration`` describe the checkpoint.

Hooks for interventions:
- ``policy.intervention``: ``None`` or ``fn(bottleneck (K, N, P) torch tensor, out: StepOutput)
  -> (K, N, P) tensor``, applied between the concept layer and the heads at inference only (the
  concept loss of training always sees un-intervened predictions; the free residual channel, if
  any, is not touched);
- ``gt_to_bottleneck(gt (..., D), concept_set, mode)`` (re-exported from ``marl.concept_loss``)
  maps ground truth into the bottleneck layout, for ``set`` and ``oracle`` interventions;
  ``policy.encode`` is that function bound to the policy's concept set and mode.

``deterministic=True`` takes the argmax action; otherwise actions are sampled with a
``torch.Generator`` seeded by ``seed`` (same seed → same actions).
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

import envs
from envs.batched import BatchedEnv, PolicyOutput, StepOutput
from marl.concept_loss import gt_to_bottleneck
from marl.modules import ConceptBottleneckModule, add_index_channel

POLICY_FORMAT = "ethogram-policy/1"

__all__ = ["PolicyLoadError", "TrainedPolicy", "gt_to_bottleneck", "load_policy", "load_rllib_module", "policy_manifest", "save_policy"]

InterventionFn = Callable[[torch.Tensor, StepOutput], torch.Tensor]


class PolicyLoadError(ValueError):
    """A checkpoint cannot be turned into a policy; the message says what and where."""


def save_policy(algo: Any, cfg: Any, out: Path, *, seed: int, iteration: int, env_steps: int) -> Path:
    """Write ``policy.json`` + ``module_<id>.safetensors`` for every module of ``algo``."""
    from safetensors.torch import save_file

    from marl.algorithm import env_spec

    out.mkdir(parents=True, exist_ok=True)
    spec = env_spec(cfg)
    mids = sorted(algo.config.policies)
    first = algo.get_module(mids[0])
    manifest = {
        "format": POLICY_FORMAT,
        "module_class": f"{type(first).__module__}.{type(first).__qualname__}",
        "policy": cfg.policy,
        "sharing": cfg.sharing,
        "module_ids": mids,
        "model_config": first.model_config,
        "observation_shape": list(first.observation_space.shape),
        "num_actions": int(first.action_space.n),
        "env_spec": spec.to_json(),
        "train_config": cfg.to_dict(),
        "seed": seed,
        "iteration": iteration,
        "env_steps": int(env_steps),
    }
    for mid in mids:
        state = {k: v.detach().cpu().contiguous() for k, v in algo.get_module(mid).state_dict().items()}
        save_file(state, str(out / f"module_{mid}.safetensors"))
    (out / "policy.json").write_text(json.dumps(manifest, indent=1, default=float))
    return out


def _policy_dir(path: Path) -> Path:
    if (path / "policy.json").exists():
        return path
    if (path / "policy" / "policy.json").exists():
        return path / "policy"
    from marl.train import latest_checkpoint

    trials = [path] if (path / "checkpoints").exists() else sorted(p for p in path.glob("seed_*") if (p / "checkpoints").exists())
    if len(trials) == 1 and (ckpt := latest_checkpoint(trials[0])) is not None:
        return ckpt / "policy"
    if len(trials) > 1:
        raise PolicyLoadError(f"{path} holds several trials ({', '.join(p.name for p in trials)}); name one of them")
    raise PolicyLoadError(f"no policy found at {path}: expected policy.json, a checkpoint, a trial dir or a run dir")


def policy_manifest(path: str | Path) -> dict[str, Any]:
    """The ``policy.json`` of a policy, checkpoint, trial or run directory (no weights loaded)."""
    pdir = _policy_dir(Path(path))
    manifest = json.loads((pdir / "policy.json").read_text())
    if manifest.get("format") != POLICY_FORMAT:
        raise PolicyLoadError(f"{pdir / 'policy.json'}: format {manifest.get('format')!r}, expected {POLICY_FORMAT!r}")
    return manifest


def _module_class(name: str) -> type[ConceptBottleneckModule]:
    mod, _, cls_name = name.rpartition(".")
    try:
        cls = getattr(importlib.import_module(mod), cls_name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise PolicyLoadError(f"module class {name!r} of this checkpoint cannot be imported ({exc}); it was saved by other code") from exc
    if not (isinstance(cls, type) and issubclass(cls, ConceptBottleneckModule)):
        raise PolicyLoadError(
            f"module class {name!r} is not an ethogram policy module (marl.modules.ConceptBottleneckModule or BaselineModule)"
        )
    return cls


def load_policy(path: str | Path, env: BatchedEnv, *, deterministic: bool = False, seed: int | None = None) -> TrainedPolicy:
    """A ``TrainedPolicy`` for ``env`` from a checkpoint (module docstring)."""
    import gymnasium as gym
    from safetensors.torch import load_file

    pdir = _policy_dir(Path(path))
    manifest = policy_manifest(pdir)
    cls = _module_class(manifest["module_class"])
    saved = envs.EnvSpec.from_json(manifest["env_spec"])
    if saved.env_id != env.spec.env_id or saved.observation.shape != env.spec.observation.shape or saved.agents != env.spec.agents:
        raise PolicyLoadError(
            f"policy was trained on {saved.env_id} obs {saved.observation.shape} agents {saved.agents}; "
            f"this env is {env.spec.env_id} obs {env.spec.observation.shape} agents {env.spec.agents}"
        )
    if _layout(saved.concepts) != _layout(env.spec.concepts):
        raise PolicyLoadError("the env's concept set differs from the one the policy was trained with (names, kinds or classes)")
    obs_space = gym.spaces.Box(0, 255, tuple(manifest["observation_shape"]), np.uint8)
    modules = {}
    for mid in manifest["module_ids"]:
        module = cls(
            observation_space=obs_space,
            action_space=gym.spaces.Discrete(manifest["num_actions"]),
            inference_only=True,
            model_config=manifest["model_config"],
        )
        missing, unexpected = module.load_state_dict(load_file(str(pdir / f"module_{mid}.safetensors")), strict=False)
        if missing or unexpected:
            raise PolicyLoadError(f"weights of module {mid!r} do not fit {cls.__name__}: missing {missing}, unexpected {unexpected}")
        modules[mid] = module.eval()
    return TrainedPolicy(modules, manifest, env.spec, deterministic=deterministic, seed=seed)


def _layout(concepts: envs.ConceptSet) -> list[tuple[str, str, tuple[str, ...]]]:
    """What the bottleneck's layout depends on (descriptions and ranges may change)."""
    return [(c.name, c.kind.value, c.classes) for c in concepts.specs]


def load_rllib_module(path: str | Path, expected: type = ConceptBottleneckModule) -> Any:
    """``RLModule.from_checkpoint`` with a type check instead of RLlib's silent fallback."""
    from ray.rllib.core.rl_module.rl_module import RLModule

    module = RLModule.from_checkpoint(str(Path(path).resolve()))
    found = [module] if not hasattr(module, "_rl_modules") else list(module._rl_modules.values())
    for m in found:
        if not isinstance(m, expected):
            raise PolicyLoadError(
                f"{path}: restored a {type(m).__module__}.{type(m).__name__}, not a {expected.__name__}; its class could not be restored"
            )
    return module


class TrainedPolicy:
    """A trained policy acting in a BatchedEnv (module docstring)."""

    def __init__(
        self,
        modules: dict[str, ConceptBottleneckModule],
        manifest: dict[str, Any],
        spec: envs.EnvSpec,
        *,
        deterministic: bool,
        seed: int | None,
    ) -> None:
        self.modules = modules
        self.manifest = manifest
        self.spec = spec
        self.shared = manifest["sharing"] == "shared"
        self.supervised = next(iter(modules.values())).supervised
        self.mode = manifest["model_config"]["bottleneck_mode"]
        self.deterministic = deterministic
        self.generator = torch.Generator().manual_seed(int(seed) if seed is not None else int(np.random.SeedSequence().entropy % 2**31))
        self.intervention: InterventionFn | None = None
        """Hook on the bottleneck at inference (module docstring); ``intervene`` sets it from spec lines."""
        self._applier = None
        self.name = f"{manifest['policy']}/{manifest['sharing']}@{manifest['env_steps']}"
        self.iteration = int(manifest["iteration"])

    @property
    def concept_set(self) -> envs.ConceptSet:
        return self.spec.concepts

    def encode(self, gt: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """Ground truth (..., D) → bottleneck values (..., P) in this policy's mode."""
        return gt_to_bottleneck(gt, self.spec.concepts, self.mode)

    def intervene(
        self,
        lines: str | list[str] | tuple[str, ...],
        *,
        reference: np.ndarray | None = None,
        seed: int | None = None,
        agents: tuple[str, ...] | None = None,
    ) -> None:
        """Set the intervention of ``envs.interventions`` lines on the bottleneck (``[]`` clears it).

        ``reference`` (M, N, P) holds un-intervened bottlenecks for ``mean`` and ``shuffle``.
        ``agents`` (None: every agent) are the seats this policy plays (``marl.seats``): each line's
        targets are narrowed to them, and a line left with no target is dropped.
        """
        from envs.interventions import Applier, Reference, parse_condition

        interventions = parse_condition(lines, self.spec.concepts)
        if agents is not None:
            narrowed = (dataclasses.replace(iv, targets=tuple(a for a in iv.targets if a in agents)) for iv in interventions)
            interventions = tuple(iv for iv in narrowed if iv.targets)
        self._applier = None
        if not interventions:
            self.intervention = None
            return
        if not self.supervised:
            raise ValueError(f"{self.name} is a baseline policy: it has no concept bottleneck to intervene on")
        ref = Reference(np.asarray(reference, np.float32)) if reference is not None else None
        self._applier = applier = Applier(interventions, self.spec.concepts, encode=self.encode, reference=ref, seed=seed)
        self.intervention = lambda z, out: torch.from_numpy(applier(z.numpy(), out.concepts, out.t))

    def seed(self, seed: int) -> None:
        """Reseed action sampling and the intervention (the recorder calls this per batch for exact resumes)."""
        self.generator.manual_seed(int(seed))
        if self._applier is not None:
            self._applier.reseed(seed)

    def reset(self, env: BatchedEnv, mask: np.ndarray) -> None:
        """Stateless policy: nothing to reset."""

    @torch.inference_mode()
    def act(self, env: BatchedEnv, out: StepOutput) -> PolicyOutput:
        k, n = out.obs.shape[:2]
        obs = add_index_channel(out.obs) if self.shared else out.obs
        if self.shared:
            module = self.modules["shared"]
            z, ctx = module.bottleneck(torch.from_numpy(obs.reshape(k * n, *obs.shape[2:])))
            z = z.reshape(k, n, -1)
        else:
            stages = [self.modules[m].bottleneck(torch.from_numpy(np.ascontiguousarray(obs[:, i]))) for i, m in enumerate(self.spec.agents)]
            z = torch.stack([s[0] for s in stages], 1)  # (K, N, P)
        zi = self.intervention(z, out) if self.intervention is not None and self.supervised else z
        if self.shared:
            logits = module.heads(zi.reshape(k * n, -1), ctx)["action_logits"].reshape(k, n, -1)
        else:
            logits = torch.stack(
                [self.modules[m].heads(zi[:, i], stages[i][1])["action_logits"] for i, m in enumerate(self.spec.agents)], 1
            )
        if self.deterministic:
            actions = logits.argmax(-1)
        else:
            actions = torch.multinomial(torch.softmax(logits.reshape(k * n, -1), -1), 1, generator=self.generator).reshape(k, n)
        actions = actions.numpy().astype(np.int64)
        if not self.supervised:
            return PolicyOutput(actions=actions)
        intervened = zi.numpy().copy() if self.intervention is not None else None
        return PolicyOutput(actions=actions, concepts=z.numpy().copy(), intervened=intervened)
