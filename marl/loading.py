"""Trained policies as plain batched callables, and the hooks interventions use.

``load_policy(path, env)`` returns a ``TrainedPolicy`` (an ``envs.batched.BatchedPolicy``) from a
checkpoint's ``policy/`` folder (``policy.json`` + one safetensors file per module), a checkpoint
dir, a trial dir (its latest checkpoint) or a run dir with one trial. Nothing of RLlib's
checkpoint machinery is involved, so there is no silent fallback: ``policy.json``'s module class
must be one of ``marl.modules.MODULE_CLASSES`` (checked by name; nothing a checkpoint names is
imported), and a weights file that is missing, truncated or holds a tensor of another shape raises
``PolicyLoadError`` naming the file. For RLlib's own module checkpoints ``load_rllib_module``
checks the restored type (RLlib's ``RLModule.from_checkpoint`` falls back to a bare ``RLModule``
whose forward returns ``{}``).

Complete checkpoints (``marl.train.save_checkpoint`` writes ``algo/``, ``policy/``, then
``progress.json``, then moves the trial's ``checkpoints/latest`` pointer to it): a checkpoint
``iter_N`` is complete when its ``progress.json`` reads back with iteration N, its
``policy/policy.json`` exists, and N is not past the ``latest`` pointer (a newer one was being
written when the run was killed). ``complete_checkpoints`` lists them and ``latest_checkpoint``
picks the newest; training's resume, loading a trial and the experiment's stages all go through
them, and naming an incomplete checkpoint directly is a ``PolicyLoadError``.

``TrainedPolicy.act(env, out)`` runs every module once on all K envs × N agents and returns
``PolicyOutput(actions, concepts, intervened)``: ``concepts`` (K, N, P) is the predicted,
un-intervened bottleneck (None for the baseline), ``intervened`` what the heads saw when an
intervention is set (None otherwise). Under layer edits (``erase`` / ``steer``) a cbp policy runs its
bottleneck a second time without them, so ``concepts`` stays what it predicts unedited and
``intervened`` is the bottleneck computed from the edited layers. ``name`` and ``iteration``
describe the checkpoint.

Hooks for interventions:
- ``policy.intervene(lines, probes=...)`` sets both kinds from ``envs.interventions`` lines:
  bottleneck lines (cbp only) through the hook below, ``erase`` / ``steer`` lines as forward hooks
  at their layer (``marl.probe_edits``, any policy, with the probes fitted on it);
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

import contextlib
import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

import envs
from analysis.dataset import PolicyInfo
from analysis.dataset.format import relative_checkpoint
from envs.batched import BatchedEnv, PolicyOutput, StepOutput
from marl.concept_loss import gt_to_bottleneck
from marl.modules import MODULE_CLASSES, ConceptBottleneckModule
from marl.routing import Routing

POLICY_FORMAT = "ethogram-policy/1"

__all__ = [
    "PolicyLoadError",
    "TrainedPolicy",
    "checkpoint_info",
    "complete_checkpoints",
    "gt_to_bottleneck",
    "latest_checkpoint",
    "load_policy",
    "load_rllib_module",
    "policy_manifest",
    "save_modules",
    "save_policy",
]
LATEST = "latest"
"""The pointer file in a trial's ``checkpoints/`` naming its newest complete checkpoint."""
CHECKPOINT_PREFIX = "iter_"
MANIFEST_KEYS = (
    "module_class",
    "policy",
    "sharing",
    "module_ids",
    "model_config",
    "observation_shape",
    "num_actions",
    "env_spec",
    "seed",
    "iteration",
    "env_steps",
)
"""What ``policy.json`` must hold (``save_policy`` writes these and the training config)."""

InterventionFn = Callable[[torch.Tensor, StepOutput], torch.Tensor]


class PolicyLoadError(ValueError):
    """A checkpoint cannot be turned into a policy; the message says what and where."""


def save_policy(algo: Any, cfg: Any, out: Path, *, seed: int, iteration: int, env_steps: int) -> Path:
    """Write ``policy.json`` + ``module_<id>.safetensors`` for every module of ``algo``."""
    modules = {mid: algo.get_module(mid) for mid in sorted(algo.config.policies)}
    return save_modules(modules, cfg, out, seed=seed, iteration=iteration, env_steps=env_steps)


def save_modules(modules: dict[str, ConceptBottleneckModule], cfg: Any, out: Path, *, seed: int, iteration: int, env_steps: int) -> Path:
    """Write ``policy.json`` + ``module_<id>.safetensors`` for ``modules`` (module id → module,
    e.g. ``marl.algorithm.build_modules(cfg)`` trained outside RLlib) of training config ``cfg``."""
    from safetensors.torch import save_file

    from marl.algorithm import env_spec

    out.mkdir(parents=True, exist_ok=True)
    spec = env_spec(cfg)
    mids = sorted(modules)
    first = modules[mids[0]]
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
        state = {k: v.detach().cpu().contiguous() for k, v in modules[mid].state_dict().items()}
        save_file(state, str(out / f"module_{mid}.safetensors"))
    (out / "policy.json").write_text(json.dumps(manifest, indent=1, default=float))
    return out


def checkpoint_info(checkpoint: str | Path, dataset: str | Path, policy: Any) -> PolicyInfo:
    """A dataset manifest's entry for ``policy``, loaded from ``checkpoint`` and recorded into
    ``dataset``: the checkpoint is stored relative to the dataset directory, so a run directory
    moved or copied whole keeps its recordings valid and resumable."""
    return PolicyInfo(
        kind="checkpoint",
        name=str(policy.name),
        checkpoint=relative_checkpoint(checkpoint, dataset),
        iteration=int(getattr(policy, "iteration", -1)),
    )


def _iteration(ckpt: Path) -> int | None:
    """N of a checkpoint directory ``iter_N`` (None for any other name)."""
    digits = ckpt.name.removeprefix(CHECKPOINT_PREFIX)
    return int(digits) if ckpt.name.startswith(CHECKPOINT_PREFIX) and digits.isdigit() else None


def _written(ckpt: Path) -> bool:
    """Whether every part of a checkpoint was written (``progress.json`` last, naming its iteration)."""
    try:
        progress = json.loads((ckpt / "progress.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(progress, dict) and progress.get("iteration") == _iteration(ckpt) and (ckpt / "policy" / "policy.json").is_file()


def complete_checkpoints(trial_dir: str | Path) -> list[Path]:
    """A trial's complete checkpoints, oldest first (module docstring); [] before the first."""
    ckpts = Path(trial_dir) / "checkpoints"
    try:
        newest = _iteration(ckpts / (ckpts / LATEST).read_text().strip())
    except (OSError, ValueError):
        return []
    if newest is None:
        return []
    found = [(n, p) for p in ckpts.glob(f"{CHECKPOINT_PREFIX}*") if p.is_dir() and (n := _iteration(p)) is not None and n <= newest]
    return [p for _, p in sorted(found) if _written(p)]


def latest_checkpoint(trial_dir: str | Path) -> Path | None:
    """The newest complete checkpoint of a trial (None before the first)."""
    complete = complete_checkpoints(trial_dir)
    return complete[-1] if complete else None


def _check_complete(ckpt: Path) -> None:
    """Refuse a checkpoint of a trial (``.../checkpoints/iter_N``) that is not complete."""
    if ckpt.parent.name != "checkpoints" or _iteration(ckpt) is None or ckpt in complete_checkpoints(ckpt.parent.parent):
        return
    complete = ", ".join(p.name for p in complete_checkpoints(ckpt.parent.parent)) or "none"
    raise PolicyLoadError(
        f"{ckpt} is not a complete checkpoint (a run was killed while writing it, or it is newer than the trial's "
        f"'{LATEST}' pointer); the trial's complete checkpoints: {complete}"
    )


def _policy_dir(path: Path) -> Path:
    if (path / "policy.json").exists():
        _check_complete(path.parent if path.name == "policy" else path)
        return path
    if (path / "policy" / "policy.json").exists():
        _check_complete(path)
        return path / "policy"
    trials = [path] if (path / "checkpoints").exists() else sorted(p for p in path.glob("seed_*") if (p / "checkpoints").exists())
    if len(trials) == 1 and (ckpt := latest_checkpoint(trials[0])) is not None:
        return ckpt / "policy"
    if len(trials) > 1:
        raise PolicyLoadError(f"{path} holds several trials ({', '.join(p.name for p in trials)}); name one of them")
    if trials:
        raise PolicyLoadError(f"{trials[0]} has no complete checkpoint yet (training was stopped before its first one was written)")
    raise PolicyLoadError(f"no policy found at {path}: expected policy.json, a checkpoint, a trial dir or a run dir")


def policy_manifest(path: str | Path) -> dict[str, Any]:
    """The ``policy.json`` of a policy, checkpoint, trial or run directory (no weights loaded)."""
    pdir = _policy_dir(Path(path))
    target = pdir / "policy.json"
    try:
        manifest = json.loads(target.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise PolicyLoadError(f"{target}: not readable as JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != POLICY_FORMAT:
        got = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise PolicyLoadError(f"{target}: format {got!r}, expected {POLICY_FORMAT!r}")
    missing = [k for k in MANIFEST_KEYS if k not in manifest]
    if missing:
        raise PolicyLoadError(f"{target}: missing {', '.join(missing)}")
    return manifest


def _module_class(name: str) -> type[ConceptBottleneckModule]:
    """The known module class ``name`` names; checked by name, so nothing a checkpoint names is imported."""
    known = {f"{cls.__module__}.{cls.__qualname__}": cls for cls in MODULE_CLASSES.values()}
    if name not in known:
        raise PolicyLoadError(
            f"module class {name!r} of this checkpoint is not an ethogram policy module ({', '.join(known)}); "
            "other classes cannot be imported from a checkpoint (it was saved by other code)"
        )
    return known[name]


def _weights(file: Path, module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A module's tensors from its safetensors file, every one of the module's shape."""
    from safetensors.torch import load_file

    if not file.is_file():
        raise PolicyLoadError(f"{file}: missing (every module of policy.json needs its weights file)")
    try:
        state = load_file(str(file))
    except Exception as exc:  # safetensors raises its own SafetensorError (and OSError) for damaged files
        raise PolicyLoadError(f"{file}: cannot be read (truncated or corrupt safetensors file: {exc})") from None
    expected = module.state_dict()
    for key, tensor in state.items():
        if key in expected and tuple(tensor.shape) != tuple(expected[key].shape):
            raise PolicyLoadError(
                f"{file}: tensor {key!r} has shape {tuple(tensor.shape)}, expected {tuple(expected[key].shape)} "
                "for the model_config of policy.json"
            )
    return state


def load_policy(path: str | Path, env: BatchedEnv | envs.EnvSpec, *, deterministic: bool = False, seed: int | None = None) -> TrainedPolicy:
    """A ``TrainedPolicy`` for ``env`` (or an env of that ``EnvSpec``, e.g. a dataset's) from a checkpoint (module docstring)."""
    import gymnasium as gym

    spec = env if isinstance(env, envs.EnvSpec) else env.spec
    pdir = _policy_dir(Path(path))
    manifest = policy_manifest(pdir)
    cls = _module_class(manifest["module_class"])
    saved = envs.EnvSpec.from_json(manifest["env_spec"])
    if saved.env_id != spec.env_id or saved.observation.shape != spec.observation.shape or saved.agents != spec.agents:
        raise PolicyLoadError(
            f"policy was trained on {saved.env_id} obs {saved.observation.shape} agents {saved.agents}; "
            f"this env is {spec.env_id} obs {spec.observation.shape} agents {spec.agents}"
        )
    if _layout(saved.concepts) != _layout(spec.concepts):
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
        missing, unexpected = module.load_state_dict(_weights(pdir / f"module_{mid}.safetensors", module), strict=False)
        if missing or unexpected:
            raise PolicyLoadError(f"weights of module {mid!r} do not fit {cls.__name__}: missing {missing}, unexpected {unexpected}")
        modules[mid] = module.eval()
    return TrainedPolicy(modules, manifest, spec, deterministic=deterministic, seed=seed)


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
        self.routing = Routing(spec.agents, self.shared)
        self.supervised = next(iter(modules.values())).supervised
        self.mode = manifest["model_config"]["bottleneck_mode"]
        self.deterministic = deterministic
        self.generator = torch.Generator().manual_seed(int(seed) if seed is not None else int(np.random.SeedSequence().entropy % 2**31))
        self.intervention: InterventionFn | None = None
        """Hook on the bottleneck at inference (module docstring); ``intervene`` sets it from spec lines."""
        self._applier = None
        self._editor = None
        """The layer edits of ``erase`` / ``steer`` lines (``marl.probe_edits.ProbeEditor``), or None."""
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
        probes: Any = None,
    ) -> None:
        """Set the intervention of ``envs.interventions`` lines (``[]`` clears it).

        Bottleneck lines act between the concept layer and the heads (cbp policies only);
        ``erase`` / ``steer`` lines act at their layer (any policy) through ``probes`` (a
        ``ProbeSet`` or an ``ethogram probe`` output directory fitted on this policy;
        ``marl.probe_edits``). ``reference`` (M, N, P) holds un-intervened bottlenecks for ``mean``
        and ``shuffle``. ``agents`` (None: every agent) are the seats this policy plays
        (``marl.seats``): each line's targets are narrowed to them, and a line left with no target
        is dropped. Every line is checked before anything is set.
        """
        from envs.interventions import Applier, Reference, parse_condition
        from marl.probe_edits import ProbeEditor, load_probe_file

        interventions = parse_condition(lines, self.spec.concepts)
        if agents is not None:
            narrowed = (dataclasses.replace(iv, targets=tuple(a for a in iv.targets if a in agents)) for iv in interventions)
            interventions = tuple(iv for iv in narrowed if iv.targets)
        bottleneck = [iv for iv in interventions if not iv.at_layer]
        if bottleneck and not self.supervised:
            raise ValueError(
                f"{self.name} is a baseline policy: it has no concept bottleneck for {bottleneck[0].text!r}; "
                "erase and steer act at a named layer of any policy (docs/probes.md)"
            )
        at_layer = [iv for iv in interventions if iv.at_layer]
        editor = ProbeEditor(self, at_layer, load_probe_file(probes, at_layer)) if at_layer else None
        ref = Reference(np.asarray(reference, np.float32)) if reference is not None else None
        applier = Applier(bottleneck, self.spec.concepts, encode=self.encode, reference=ref, seed=seed) if bottleneck else None
        self._applier, self._editor = applier, editor
        self.intervention = None if applier is None else (lambda z, out: torch.from_numpy(applier(z.numpy(), out.concepts, out.t)))

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
        route, modules = self.routing, [self.modules[m] for m in self.routing.module_ids]
        xs = [torch.from_numpy(x) for x in route.split(route.observe(out.obs))]
        edits = self._editor.attached(out.t, k) if self._editor is not None else contextlib.nullcontext()
        with edits:  # layer edits (marl.probe_edits) fire inside the modules while they run
            stages = [m.bottleneck(x) for m, x in zip(modules, xs, strict=True)]
            z = route.merge([s[0] for s in stages], k)  # (K, N, P)
            zi = self.intervention(z, out) if self.intervention is not None and self.supervised else z
            heads = [m.heads(x, s[1])["action_logits"] for m, x, s in zip(modules, route.split(zi), stages, strict=True)]
        logits = route.merge(heads, k)  # (K, N, A)
        if self.deterministic:
            actions = logits.argmax(-1)
        else:
            actions = torch.multinomial(torch.softmax(logits.reshape(k * n, -1), -1), 1, generator=self.generator).reshape(k, n)
        actions = actions.numpy().astype(np.int64)
        if not self.supervised:
            return PolicyOutput(actions=actions)
        if self._editor is None:
            intervened = zi.numpy().copy() if self.intervention is not None else None
            return PolicyOutput(actions=actions, concepts=z.numpy().copy(), intervened=intervened)
        plain = route.merge([m.bottleneck(x)[0] for m, x in zip(modules, xs, strict=True)], k)  # what it predicts unedited
        return PolicyOutput(actions=actions, concepts=plain.numpy().copy(), intervened=zi.numpy().copy())
