"""Probe interventions at a named layer: ``erase`` and ``steer`` lines compiled against a policy and
the probes fitted on it, applied with forward hooks while the policy acts (docs/probes.md).

The grammar is ``envs.interventions``' (``TARGETS: SELECTOR -> erase @layer=LAYER [@ START:STOP]``,
``... -> steer(V) @layer=LAYER``); the maps are ``analysis.probes.edits``' (LEACE erasure from the
saved moments, minimal-norm steering along the probes' rows). This module checks a condition
against the policy and the probe file, and edits the activations.

Rules:
- The probe file must have been fitted on this very policy: ``probes.json``'s ``meta.policy_digest``
  (written by ``ethogram probe``) equals ``marl.activations.policy_digest`` of the policy's weights,
  and its world (env id, agents, observation shape, concept set) and modules are the policy's;
  otherwise ``ProbeMismatchError``. Probes fitted in another layout of the same world are allowed
  (the guarantees hold on the distribution the moments came from).
- The layer must be one of the policy's probe layers (``UnknownLayerError`` lists them) and probed
  in the file (``MissingProbeError`` names the probed ones). Every selected concept needs a probe
  there, for each target agent's module; a concept constant in the probe's training rows has none:
  ``steer`` refuses it (``MissingProbeError``), ``erase`` leaves it out (its cross-covariance is
  zero: there is nothing linear to erase) unless every concept of the line is constant.
- A target agent's module is the one that acts for it (``marl.routing``). A shared module's rows
  are every agent's, agent-major within each env: only the target agents' rows are edited, with the
  module's pooled probes. Rows outside a line's window (episode step ``t``) are left alone.
- At one layer, for one row, every active ``erase`` line is applied at once (the union of their
  concepts erased jointly: stacked cross-covariances), then every active ``steer`` line at once (all
  targets met by one minimal change), so steered probes read exactly their targets. Layers are
  edited in forward order as the hooks fire. Edits are computed in float64 and cached per
  (module, layer, agent, active lines).
- Every check runs when a condition is compiled (``ProbeEditor(...)``), before any step is taken;
  ``marl.study`` compiles each condition when it plans, before anything is written.
- ``features`` is the concept layer's input: a module with a residual channel (``residual_dim``)
  also feeds the features to its heads past that hook, so edits at ``features`` are refused there.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from analysis.probes import ProbeError, ProbeSet, load_probes
from analysis.probes.edits import Eraser, Steerer, leace_eraser, steer_rows, steerer
from envs.interventions import Intervention
from marl.activations import LayerHooks, check_layers, layer_widths, module_agents, policy_digest

__all__ = [
    "MissingProbeError",
    "NoProbeFileError",
    "ProbeEditError",
    "ProbeEditor",
    "ProbeMismatchError",
    "check_policy_lines",
    "check_probe_file",
    "load_probe_file",
]


class ProbeEditError(ValueError):
    """A probe intervention cannot be applied to this policy; the message says why."""


class NoProbeFileError(ProbeEditError):
    """An ``erase`` or ``steer`` line with no probe file named."""


class ProbeMismatchError(ProbeEditError):
    """The probe file was fitted on another policy, world or module layout."""


class MissingProbeError(ProbeEditError):
    """A layer or concept the line names has no probe in the file."""


@dataclass(frozen=True)
class LineEdit:
    """One ``erase`` / ``steer`` line, resolved: the concepts it edits per target agent."""

    index: int
    """Position of the line in the condition."""
    iv: Intervention
    concepts: dict[int, tuple[str, ...]]
    """Target agent index → the concepts edited in its rows (those with a probe)."""

    def active(self, agents: np.ndarray, t: np.ndarray) -> np.ndarray:
        """(B,) bool: rows of these agents (B,) at episode steps t (B,) that this line edits."""
        inside = (t >= self.iv.start) & ((t < self.iv.stop) if self.iv.stop is not None else True)
        return inside & np.isin(agents, list(self.concepts))


def load_probe_file(probes: ProbeSet | str | Path | None, lines: Sequence[Intervention]) -> ProbeSet | None:
    """The ``ProbeSet`` the layer lines need (loaded from a directory), or None when no line needs one."""
    needing = [iv.text for iv in lines if iv.at_layer]
    if not needing:
        return None
    if probes is None:
        raise NoProbeFileError(
            f"{needing[0]!r} acts through the probes of its layer, but no probe file is named: fit them with "
            "`ethogram probe RUN --dataset DATA` and name the output (a study subject's probe_file, rollout's --probes)"
        )
    return probes if isinstance(probes, ProbeSet) else load_probes(probes)


def check_probe_file(policy: Any, probes: ProbeSet) -> None:
    """``ProbeMismatchError`` unless ``probes`` were fitted on ``policy`` (module docstring)."""
    where = probes.meta.get("checkpoint", "the probe file")
    digest = probes.meta.get("policy_digest")
    if digest is None:
        raise ProbeMismatchError(
            f"{where}: the probes name no policy_digest, so they cannot be matched to {policy.name}; refit them with ethogram probe"
        )
    if digest != policy_digest(policy):
        raise ProbeMismatchError(
            f"the probes ({where}) were fitted on another policy (weights digest {digest[:12]}, this policy's "
            f"{policy_digest(policy)[:12]}): fit probes on this policy with ethogram probe"
        )
    mine, theirs = policy.spec, probes.spec
    same_world = (mine.env_id, mine.agents, mine.observation.shape) == (theirs.env_id, theirs.agents, theirs.observation.shape)
    layout = [(c.name, c.kind.value, c.classes) for c in mine.concepts.specs]
    if not same_world or layout != [(c.name, c.kind.value, c.classes) for c in theirs.concepts.specs]:
        raise ProbeMismatchError(
            f"the probes ({where}) were fitted in world {theirs.env_id} {theirs.agents}, the policy acts in {mine.env_id} {mine.agents}"
        )
    if {m: tuple(a) for m, a in probes.modules.items()} != module_agents(policy):
        raise ProbeMismatchError(f"the probes' modules {probes.modules} are not the policy's {module_agents(policy)}")


class ProbeEditor:
    """A condition's layer lines compiled against a policy and its probes (module docstring)."""

    def __init__(self, policy: Any, lines: Sequence[Intervention], probes: ProbeSet) -> None:
        check_probe_file(policy, probes)
        self.policy, self.probes = policy, probes
        self.agent_module = {i: mid for mid, agents in module_agents(policy).items() for i in agents}
        self._erasers: dict[tuple[str, str, tuple[str, ...]], Eraser] = {}
        self._steerers: dict[tuple[str, str, int, tuple[int, ...]], Steerer] = {}
        known, widths = check_layers(policy, None), layer_widths(policy)
        self.edits = tuple(self._compile(i, iv, widths) for i, iv in enumerate(lines) if iv.at_layer)
        self.layers = tuple(name for name in known if any(e.iv.layer == name for e in self.edits))
        self._at = {  # (module, layer) → the lines editing some of its rows there
            (mid, layer): [e for e in self.edits if e.iv.layer == layer and any(self.agent_module[a] == mid for a in e.concepts)]
            for mid in policy.routing.module_ids
            for layer in self.layers
        }
        for edit in self.edits:  # build every line's maps now: their errors come before any step
            for agent in edit.concepts:
                try:
                    self._map(self.agent_module[agent], edit.iv.layer, agent, (edit,))
                except ProbeError as exc:
                    raise ProbeEditError(f"{edit.iv.text!r}: {exc}") from None

    def _compile(self, index: int, iv: Intervention, widths: dict[str, int]) -> LineEdit:
        check_layers(self.policy, [iv.layer])  # UnknownLayerError with the valid names
        if iv.layer not in self.probes.layers:
            raise MissingProbeError(
                f"{iv.text!r}: the probe file has no probes at {iv.layer} (probed: {', '.join(self.probes.layers)}); "
                f"fit them with ethogram probe RUN --dataset DATA --layers {iv.layer}"
            )
        if self.probes.widths[iv.layer] != widths[iv.layer]:
            raise ProbeMismatchError(
                f"{iv.text!r}: probes of {self.probes.widths[iv.layer]} units at {iv.layer}, the policy's has {widths[iv.layer]}"
            )
        if iv.layer == "features" and any(int(m.model_config.get("residual_dim", 0)) for m in self.policy.modules.values()):
            raise ProbeEditError(
                f"{iv.text!r}: this policy's residual channel reads the features past the hook; edit a layer before or after"
            )
        spec, agents = self.policy.spec, self.policy.spec.agents
        concepts = {}
        for target in iv.targets:
            module, names = self.agent_module[agents.index(target)], []
            for c in spec.concepts.select(iv.selector, target):
                if (module, iv.layer, c.name) in self.probes.probes:
                    names.append(c.name)
                elif iv.op == "steer" or not self._constant(module, iv.layer, c.name):
                    raise MissingProbeError(f"{iv.text!r}: {self._why_missing(module, iv.layer, c.name)}")
            if not names:
                raise MissingProbeError(
                    f"{iv.text!r}: every concept it selects for {target} is constant in the probe's training rows at {iv.layer} "
                    f"(module {module}): nothing to erase"
                )
            concepts[agents.index(target)] = tuple(names)
        return LineEdit(index=index, iv=iv, concepts=concepts)

    def _constant(self, module: str, layer: str, concept: str) -> bool:
        return any((s.module, s.layer, s.concept, s.status) == (module, layer, concept, "constant") for s in self.probes.scores)

    def _why_missing(self, module: str, layer: str, concept: str) -> str:
        if self._constant(module, layer, concept):
            return f"{concept} was constant in the probe's training rows (module {module}, {layer}): it has no probe to steer"
        return f"{concept} has no probe at {layer} for module {module} (not fitted); refit the probes on data where it varies"

    def _map(self, module: str, layer: str, agent: int, active: tuple[LineEdit, ...]) -> Callable[[np.ndarray], np.ndarray]:
        """The edit (B, D) → (B, D) of these active lines on ``agent``'s rows: erasures jointly, then steering."""
        erase = tuple(sorted({c for e in active if e.iv.op == "erase" for c in e.concepts[agent]}))
        steer = tuple(e for e in active if e.iv.op == "steer")
        maps: list[Callable[[np.ndarray], np.ndarray]] = []
        if erase:
            key = (module, layer, erase)
            if key not in self._erasers:
                covs = [self.probes.probes[(module, layer, c)].cross_cov for c in erase]
                self._erasers[key] = leace_eraser(self.probes.stats[(module, layer)], covs)
            maps.append(self._erasers[key])
        if steer:
            key = (module, layer, agent, tuple(e.index for e in steer))
            if key not in self._steerers:
                parts = [self._steer_part(module, layer, e, c) for e in steer for c in e.concepts[agent]]
                self._steerers[key] = steerer(self.probes.stats[(module, layer)], parts)
            maps.append(self._steerers[key])

        def apply(h: np.ndarray) -> np.ndarray:
            for fn in maps:
                h = fn(h)
            return h

        return apply

    def _steer_part(self, module: str, layer: str, edit: LineEdit, concept: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        probe = self.probes.probes[(module, layer, concept)]
        try:
            return steer_rows(probe, edit.iv.args, self.policy.spec.concepts[concept].classes)
        except ProbeError as exc:
            raise MissingProbeError(f"{edit.iv.text!r}: {concept}: {exc}") from None

    def edit(self, module: str, layer: str, h: np.ndarray, agents: np.ndarray, t: np.ndarray) -> np.ndarray | None:
        """Edited copy of a module's activations h (B, D) for rows of ``agents`` (B,) at steps ``t`` (B,); None if none changes."""
        edits = self._at.get((module, layer), [])
        if not edits:
            return None
        active = np.stack([e.active(agents, t) for e in edits], axis=1)  # (B, L)
        if not active.any():
            return None
        out = np.asarray(h, np.float64).copy()
        keys = np.concatenate([agents[:, None], active], axis=1, dtype=np.int64)  # (B, 1 + L): rows with one key share a map
        for key in np.unique(keys[active.any(axis=1)], axis=0):
            rows = (keys == key).all(axis=1)
            chosen = tuple(e for e, on in zip(edits, key[1:], strict=True) if on)
            out[rows] = self._map(module, layer, int(key[0]), chosen)(out[rows])
        return out

    @contextlib.contextmanager
    def attached(self, t: np.ndarray, k: int) -> Iterator[None]:
        """While open, the policy's modules edit their layers for a (K, N) step batch at episode steps t (K,)."""
        n, route = len(self.policy.spec.agents), self.policy.routing
        with contextlib.ExitStack() as stack:
            for i, mid in enumerate(route.module_ids):
                agents = np.tile(np.arange(n), k) if route.shared else np.full(k, i)  # (B,) rows agent-major within each env
                steps = np.repeat(t, n) if route.shared else np.asarray(t)
                layers = [name for name in self.layers if self._at[(mid, name)]]
                if layers:
                    stack.enter_context(LayerHooks(self.policy.modules[mid], layers, self._hook(mid, agents, steps)))
            yield

    def _hook(self, module: str, agents: np.ndarray, t: np.ndarray) -> Callable[[str, torch.Tensor], torch.Tensor | None]:
        def hook(layer: str, h: torch.Tensor) -> torch.Tensor | None:
            new = self.edit(module, layer, h.detach().cpu().numpy(), agents, t)
            return None if new is None else torch.from_numpy(new.astype(np.float32))

        return hook


def check_policy_lines(
    kind: str,
    load: Callable[[], Any],
    conditions: dict[str, Sequence[Intervention]],
    trained: Sequence[str],
    probe_file: ProbeSet | str | Path | None,
    *,
    where: str = "",
) -> None:
    """What a study checks when it plans, per subject: bottleneck lines need a cbp policy (``kind``),
    and every condition's layer lines (parsed; targets narrowed to the ``trained`` seats) compile
    against the policy (``load()`` returns it) and ``probe_file``, both loaded once and only when a
    layer line is there. Errors keep their class and name the condition after ``where``."""
    bottleneck = [(name, iv.text) for name, ivs in conditions.items() for iv in ivs if not iv.at_layer]
    if kind == "baseline" and bottleneck:
        raise ValueError(
            f"{where}this is a baseline policy without concepts: only the control and idle: probes can run, and erase / steer "
            f"lines at a layer; condition {bottleneck[0][0]!r} has the bottleneck line {bottleneck[0][1]!r}"
        )
    policy = probes = None
    for name, ivs in conditions.items():
        narrowed = [dataclasses.replace(iv, targets=tuple(a for a in iv.targets if a in trained)) for iv in ivs if iv.at_layer]
        if not narrowed:
            continue
        try:
            policy = policy or load()
            probes = probes or load_probe_file(probe_file, narrowed)
            ProbeEditor(policy, [iv for iv in narrowed if iv.targets], probes)
        except ValueError as exc:
            raise type(exc)(f"{where}condition {name!r}: {exc}") from None
