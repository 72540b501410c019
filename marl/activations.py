"""A trained policy's hidden activations on recorded observations, and the action logits' gradients.

Probes (``analysis.probes``) are fitted on what a policy's layers compute for the observations of a
recorded dataset; this module computes it, with forward hooks (``LayerHooks``), running the
policy's modules exactly as ``marl.loading.TrainedPolicy.act`` does: a shared module reads every
agent's observation with the agent-index channel, independent modules each read their own agent's
(``marl.routing``). No Ray; torch only.

Probe layers (``probe_layers``; the same names for every module of a policy, cbp or baseline):
- ``encoder.relu{i}``: the output of the encoder MLP's i-th ReLU (i = 0, 1, ...), width
  ``model.hidden[i]``;
- ``features``: the concept layer's input, i.e. the encoder's output (joined by the observation's
  packed vector where it has one, e.g. Cleanup's roster), width E;
- ``concept``: the concept layer's output, width P = ``ConceptSet.pred_dim``. For a cbp module these
  are the concept logits (before the bottleneck's probability or hard transform: what the concept
  loss supervises); for a baseline module, its unsupervised P-wide hidden layer *before* its ReLU;
- ``pi.relu{i}``: the output of the policy head's i-th hidden ReLU, width ``model.head_hidden[i]``.
Convolution maps are not probe layers (their (C, H, W) maps are too wide to probe step by step).

Gradients (for sensitivity scores): with ``gradients=True`` every hooked activation h is made to
require grad (a hook returns it as a leaf when nothing upstream requires grad) and, for every
action a, ``torch.autograd.grad`` gives d logit_a / d h: the total derivative through every later
layer (the residual channel included), per step, shape (K, N, A, D).

Arrays: activations (K, N, D) float32 per layer for K steps of N agents; ``capture`` places them
at (E, T, N, D) (0 on padding, ``mask`` (E, T) marks valid steps), reading observations a few
episodes at a time (``batch_episodes``) and running the network ``batch_steps`` steps at a time.

Every check runs before any work (``check_dataset``, ``check_layers``): an unknown layer name
(``UnknownLayerError``, listing the valid ones), a dataset recorded without observations
(``NoObservationsError``), a dataset of another world, agents, observation shape or concept set
than the policy's (``WorldMismatchError``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from analysis.dataset import Dataset
from envs.spec import EnvSpec

__all__ = [
    "ActivationError",
    "Activations",
    "LayerHooks",
    "NoObservationsError",
    "StepBatch",
    "UnknownLayerError",
    "WorldMismatchError",
    "capture",
    "check_dataset",
    "check_layers",
    "iter_steps",
    "layer_widths",
    "module_agents",
    "policy_digest",
    "probe_layers",
]

HookFn = Callable[[str, torch.Tensor], torch.Tensor | None]
"""``fn(layer name, activation (B, D)) -> replacement or None`` (None keeps the activation)."""


class ActivationError(ValueError):
    """Activations cannot be computed for this policy and dataset; the message says why."""


class UnknownLayerError(ActivationError):
    """A layer name that is not one of the policy's probe layers."""


class NoObservationsError(ActivationError):
    """The dataset holds no observations to run the policy on."""


class WorldMismatchError(ActivationError):
    """The dataset was recorded in another world (or agents, observation shape, concepts) than the policy's."""


def probe_layers(module: nn.Module) -> dict[str, tuple[nn.Module, str]]:
    """Layer name → (submodule, ``output`` or ``input``) of a policy module, in forward order (module docstring)."""
    layers: dict[str, tuple[nn.Module, str]] = {}
    for i, relu in enumerate(m for m in module.encoder if isinstance(m, nn.ReLU)):
        layers[f"encoder.relu{i}"] = (relu, "output")
    layers["features"] = (module.concept_head, "input")
    layers["concept"] = (module.concept_head, "output")
    for i, relu in enumerate(m for m in module.pi if isinstance(m, nn.ReLU)):
        layers[f"pi.relu{i}"] = (relu, "output")
    return layers


class LayerHooks:
    """Context manager: while open, ``fn(name, activation)`` sees each named layer's activation of
    ``module`` and may return a replacement (the hooks are removed on exit, also on error)."""

    def __init__(self, module: nn.Module, layers: Sequence[str], fn: HookFn) -> None:
        known = probe_layers(module)
        self._targets = [(name, *known[name]) for name in layers]
        self._fn = fn
        self._handles: list[Any] = []

    def __enter__(self) -> LayerHooks:
        for name, sub, where in self._targets:
            if where == "output":
                self._handles.append(sub.register_forward_hook(self._output_hook(name)))
            else:
                self._handles.append(sub.register_forward_pre_hook(self._input_hook(name)))
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _output_hook(self, name: str) -> Callable[..., torch.Tensor | None]:
        return lambda mod, args, out: self._fn(name, out)

    def _input_hook(self, name: str) -> Callable[..., tuple[torch.Tensor, ...] | None]:
        def hook(mod: nn.Module, args: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...] | None:
            new = self._fn(name, args[0])
            return None if new is None else (new, *args[1:])

        return hook


def _policy_modules(policy: Any) -> list[nn.Module]:
    return [policy.modules[m] for m in policy.routing.module_ids]


def check_layers(policy: Any, layers: Sequence[str] | None) -> tuple[str, ...]:
    """The requested layer names (None: every probe layer), in forward order; ``UnknownLayerError`` names the valid ones."""
    known = list(probe_layers(_policy_modules(policy)[0]))
    if layers is None:
        return tuple(known)
    unknown = [name for name in layers if name not in known]
    if unknown or not layers:
        what = f"unknown layer(s) {', '.join(map(repr, unknown))}" if unknown else "no layer named"
        raise UnknownLayerError(f"{what}; this policy's probe layers are: {', '.join(known)}")
    return tuple(name for name in known if name in layers)


def check_dataset(policy_spec: EnvSpec, dataset: Dataset) -> None:
    """Refuse a dataset the policy cannot be run on (module docstring), before any work."""
    found = dataset.manifest.env
    if found.env_id != policy_spec.env_id:
        raise WorldMismatchError(
            f"{dataset.path} was recorded in world {found.env_id!r}, but the policy was trained in {policy_spec.env_id!r}; "
            "probe a policy on recordings of its own world"
        )
    checks = {
        "agents": (found.agents, policy_spec.agents),
        "observation shape": (found.observation.shape, policy_spec.observation.shape),
        "concepts": (_concept_layout(found), _concept_layout(policy_spec)),
    }
    for what, (have, want) in checks.items():
        if have != want:
            raise WorldMismatchError(
                f"{dataset.path}: its {what} differ from the policy's ({_short(have)} vs {_short(want)}); "
                "record the dataset with the same world config the policy was trained on"
            )
    if not dataset.manifest.store_obs:
        raise NoObservationsError(
            f"{dataset.path} was recorded without observations (ethogram rollout --no-obs); probes run the policy on them: "
            "record the dataset again with observations (ethogram rollout without --no-obs)"
        )


def _concept_layout(spec: EnvSpec) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(c.name, c.kind.value, c.classes) for c in spec.concepts.specs]


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def module_agents(policy: Any) -> dict[str, tuple[int, ...]]:
    """Module id → the agent indices whose steps it acts on: every agent for a shared module, its own for independent ones."""
    n = len(policy.spec.agents)
    if policy.routing.shared:
        return {policy.routing.module_ids[0]: tuple(range(n))}
    return {mid: (i,) for i, mid in enumerate(policy.routing.module_ids)}


def policy_digest(policy: Any) -> str:
    """SHA-256 of the policy's weights (every module's tensors, by module id and name): what probes
    fitted on a policy record (``probes.json`` ``meta.policy_digest``) and probe interventions check."""
    digest = hashlib.sha256()
    for mid in sorted(policy.modules):
        for name, tensor in sorted(policy.modules[mid].state_dict().items()):
            digest.update(f"{mid}/{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def layer_widths(policy: Any, layers: Sequence[str] | None = None) -> dict[str, int]:
    """Width D of each probe layer (one forward pass on a blank observation)."""
    names = check_layers(policy, layers)
    obs = np.zeros((1, len(policy.spec.agents), *policy.spec.observation.shape), np.uint8)
    acts, _ = _run(policy, obs, names, gradients=False)
    return {name: int(a.shape[-1]) for name, a in acts.items()}


def _module_pass(
    module: nn.Module, x: np.ndarray, layers: Sequence[str], gradients: bool
) -> tuple[list[torch.Tensor], list[torch.Tensor] | None]:
    """One module on its batch x (B, H, W, C'): the layers' activations (B, D) and, with ``gradients``, d logits / d them (B, A, D)."""
    seen: dict[str, torch.Tensor] = {}

    def keep(name: str, h: torch.Tensor) -> torch.Tensor | None:
        if gradients and not h.requires_grad:
            h = h.detach().requires_grad_(True)
            seen[name] = h
            return h
        seen[name] = h
        return None

    with LayerHooks(module, layers, keep), torch.enable_grad() if gradients else torch.inference_mode():
        logits = module.act(torch.from_numpy(x))["action_logits"]  # (B, A)
        acts = [seen[name] for name in layers]
        if not gradients:
            return acts, None
        grads = []
        for a in range(logits.shape[-1]):
            found = torch.autograd.grad(logits[:, a].sum(), acts, retain_graph=True, allow_unused=True)
            grads.append([torch.zeros_like(h) if g is None else g for h, g in zip(acts, found)])
    per_layer = [torch.stack([g[i] for g in grads], dim=1) for i in range(len(layers))]  # (B, A, D) each
    return [h.detach() for h in acts], per_layer


def _run(
    policy: Any, obs: np.ndarray, layers: Sequence[str], gradients: bool
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray] | None]:
    """obs (K, N, H, W, C) uint8 → activations {layer: (K, N, D)} and, with ``gradients``, {layer: (K, N, A, D)}."""
    route, k = policy.routing, obs.shape[0]
    acts: list[list[torch.Tensor]] = []
    grads: list[list[torch.Tensor]] = []
    for module, x in zip(_policy_modules(policy), route.split(route.observe(obs)), strict=True):
        a, g = _module_pass(module, x, layers, gradients)
        acts.append(a)
        grads.append(g or [])
    out_acts = {name: route.merge([a[i] for a in acts], k).float().numpy() for i, name in enumerate(layers)}
    if not gradients:
        return out_acts, None
    return out_acts, {name: route.merge([g[i] for g in grads], k).float().numpy() for i, name in enumerate(layers)}


@dataclass(frozen=True)
class StepBatch:
    """Activations (and gradients) of K valid steps of some of the requested episodes."""

    episode: np.ndarray
    """(K,) int64 position of each step's episode in the requested (sorted) episode ids."""
    step: np.ndarray
    """(K,) int64 step index within its episode."""
    activations: dict[str, np.ndarray]
    """Layer → (K, N, D) float32."""
    logit_grads: dict[str, np.ndarray] | None
    """Layer → (K, N, A, D) float32 d action-logit / d activation; None unless requested."""


def _episode_ids(dataset: Dataset, episode_ids: Sequence[int] | np.ndarray | None) -> np.ndarray:
    ids = dataset.episode_ids if episode_ids is None else np.unique(np.asarray(episode_ids, dtype=np.int64))
    missing = np.setdiff1d(ids, dataset.episode_ids)
    if missing.size:
        raise ActivationError(f"{dataset.path} has no episode(s) {missing[:10].tolist()}")
    return ids


def iter_steps(
    policy: Any,
    dataset: Dataset,
    layers: Sequence[str] | None = None,
    episode_ids: Sequence[int] | np.ndarray | None = None,
    *,
    gradients: bool = False,
    batch_episodes: int = 16,
    batch_steps: int = 1024,
) -> Iterator[StepBatch]:
    """The layers' activations on every valid step of the episodes (sorted ids; None: all), ``batch_steps`` at a time."""
    check_dataset(policy.spec, dataset)
    names = check_layers(policy, layers)
    ids = _episode_ids(dataset, episode_ids)
    for start in range(0, len(ids), batch_episodes):
        eps = dataset.load(fields=("obs",), episodes=ids[start : start + batch_episodes])
        b, t = np.nonzero(eps.mask)  # valid (episode, step) pairs, episode-major
        for lo in range(0, len(b), batch_steps):
            sb, st = b[lo : lo + batch_steps], t[lo : lo + batch_steps]
            acts, grads = _run(policy, eps.obs[sb, st], names, gradients)  # obs (K, N, H, W, C)
            yield StepBatch(episode=(sb + start).astype(np.int64), step=st.astype(np.int64), activations=acts, logit_grads=grads)


@dataclass(frozen=True)
class Activations:
    """The layers' activations on whole episodes."""

    episode_ids: np.ndarray
    """(E,) int64 dataset episode ids, sorted."""
    mask: np.ndarray
    """(E, T) bool valid steps (T: the longest of these episodes)."""
    layers: dict[str, np.ndarray]
    """Layer → (E, T, N, D) float32, 0 on padding."""


def capture(
    policy: Any,
    dataset: Dataset,
    layers: Sequence[str] | None = None,
    episode_ids: Sequence[int] | np.ndarray | None = None,
    *,
    batch_episodes: int = 16,
    batch_steps: int = 1024,
) -> Activations:
    """The layers' activations on the episodes (sorted ids; None: all), laid out (E, T, N, D) like ``Dataset.load``'s arrays."""
    check_dataset(policy.spec, dataset)
    names = check_layers(policy, layers)
    ids = _episode_ids(dataset, episode_ids)
    lengths = dataset.lengths[np.searchsorted(dataset.episode_ids, ids)]  # (E,)
    horizon, n = int(lengths.max(initial=0)), len(policy.spec.agents)
    widths = layer_widths(policy, names)
    out = {name: np.zeros((len(ids), horizon, n, widths[name]), np.float32) for name in names}
    for batch in iter_steps(policy, dataset, names, ids, batch_episodes=batch_episodes, batch_steps=batch_steps):
        for name in names:
            out[name][batch.episode, batch.step] = batch.activations[name]
    mask = np.arange(horizon)[None, :] < lengths[:, None]
    return Activations(episode_ids=ids, mask=mask, layers=out)
