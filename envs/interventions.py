"""Interventions: a declarative spec, parsed once, applied to the concept bottleneck or at a layer.

Grupen et al. 2022 intervene at evaluation time on chosen concept dimensions of a
concept-bottleneck policy and read the change in behaviour. Probe interventions ask the same of any
policy, cbp or baseline, at a named hidden layer, through the linear probes ``ethogram probe``
fitted there (docs/probes.md). This module is the one grammar of both and the numpy application of
the bottleneck operations; ``marl`` applies them (``marl.loading`` at the bottleneck,
``marl.probe_edits`` at a layer), and the lines are recorded in every dataset manifest so that
``analysis`` can read what was done without importing ``marl``.

Grammar (one line per intervention; a *condition* is a list of lines, the control is empty)::

    TARGETS: SELECTOR -> OP [@layer=LAYER] [@ START:STOP]

- TARGETS: ``all``, one agent id, or several separated by ``,`` — whose policy is changed.
- SELECTOR: a concept selector of ``envs.spec.ConceptSet.select`` resolved per target agent:
  ``self.*``, ``teammates.position``, ``objects.*``, ``agents.orientation``, a name glob such as
  ``pot*.count`` or ``agent_1.*``.
- OP on the concept bottleneck (cbp policies; no layer): ``mask`` (0) · ``set(V[,V])`` (the
  ground-truth value V, e.g. a class index, encoded into the bottleneck) · ``mean`` (the concept's
  mean over a reference set of bottlenecks) · ``shuffle`` (the value at another random reference
  step) · ``oracle`` (the ground truth) · ``noise(SIGMA)``.
- OP at a layer (any policy; ``@layer=LAYER`` required, a probe layer of ``marl.activations``:
  ``encoder.reluI``, ``features``, ``concept``, ``pi.reluI``): ``erase`` (LEACE: the selected
  concepts' linear information is removed, jointly when a condition erases several) ·
  ``steer(V)`` (the activation moves, by the smallest change, until the concept's probe reads V:
  binary a probability in [0, 1], categorical a class index, scalar a value in the concept's
  range, position two values ``steer(X,Y)`` in [0, 1]). Both need the probes fitted on the
  policy (a probe file named beside the policy; ``marl.probe_edits`` checks them).
- ``@ START:STOP``: only at episode steps START <= t < STOP (either bound may be omitted). A window
  that starts at or after the episode's horizon would never apply: ``check_windows`` makes it an
  error wherever lines meet a world (the recorder, the experiment's checks). A STOP past the
  horizon is allowed: the window runs to the episode's end. ``@layer=`` and the window may come in
  either order, each at most once.

Example: ``agent_1: teammates.position -> mask``, ``all: pot*.count -> set(3)``,
``agent_0: self.* -> shuffle @ 100:``, ``all: teammates.position -> erase @layer=encoder.relu1``,
``agent_0: agent_1.in_river -> steer(1) @layer=features @ 50:``.

Parsing checks everything the concept set can tell (targets, selectors, operations, arguments,
steering values against each selected concept's kind and range, the window, the layer's form);
whether the layer exists and has probes for the concepts is the policy's and probe file's
business (``marl.probe_edits``).

Values live in the bottleneck ("pred") layout of the ConceptSet. Converting ground truth into that
layout depends on how the policy feeds its heads (logits or probabilities), so ``set`` and
``oracle`` take an ``encode(gt (..., D)) -> (..., P)`` function from the caller.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from envs.spec import ConceptKind, ConceptSet, ConceptSpec

BOTTLENECK_OPS = ("mask", "set", "mean", "shuffle", "oracle", "noise")
"""Operations on the concept bottleneck (``Applier``)."""
LAYER_OPS = ("erase", "steer")
"""Operations at a named layer through its probes (``marl.probe_edits``)."""
OPS = BOTTLENECK_OPS + LAYER_OPS
"""Operation names allowed in a spec."""

_LINE = re.compile(r"^\s*(?P<targets>[^:]+):\s*(?P<selector>\S+)\s*->\s*(?P<op>\w+)(?:\((?P<args>[^)]*)\))?\s*(?P<qualifiers>(?:@[^@]*)*)$")
_LAYER = re.compile(r"[A-Za-z_][\w.]*")

Encoder = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Intervention:
    """One parsed line of the grammar."""

    targets: tuple[str, ...]
    """Agent ids whose policy is changed (``all`` already expanded)."""
    selector: str
    op: str
    args: tuple[float, ...] = ()
    start: int = 0
    stop: int | None = None
    text: str = ""
    """The line as written, for manifests and reports."""
    layer: str | None = None
    """The layer of an ``erase`` or ``steer`` (None for the bottleneck operations)."""

    @property
    def at_layer(self) -> bool:
        """Whether the line acts at a layer through probes (``LAYER_OPS``) rather than on the bottleneck."""
        return self.op in LAYER_OPS


def parse(line: str, concepts: ConceptSet) -> Intervention:
    """Parse and validate one line against ``concepts`` (errors list the valid choices)."""
    match = _LINE.match(line)
    if not match:
        raise ValueError(
            f"intervention {line!r} does not read 'TARGETS: SELECTOR -> OP [@layer=LAYER] [@ START:STOP]', "
            "e.g. 'agent_1: teammates.position -> mask'"
        )
    targets = _targets(match["targets"], concepts.agents)
    op = match["op"]
    if op not in OPS:
        raise ValueError(f"intervention {line!r}: unknown operation {op!r}; valid: {', '.join(OPS)}")
    args = _args(line, op, match["args"])
    layer, window = _qualifiers(line, match["qualifiers"])
    if op in LAYER_OPS and layer is None:
        example = f"{op}(1)" if op == "steer" else op
        raise ValueError(f"intervention {line!r}: {op} acts at a layer; name it, e.g. '... -> {example} @layer=features'")
    if op in BOTTLENECK_OPS and layer is not None:
        raise ValueError(
            f"intervention {line!r}: {op} acts on the concept bottleneck and takes no layer; at a layer use {' or '.join(LAYER_OPS)}"
        )
    for agent in targets:
        chosen = concepts.select(match["selector"], agent)  # raises with the valid groups and names
        if op == "steer":
            for spec in chosen:
                check_steer_value(spec, args, line)
    start, stop = _window(line, window)
    return Intervention(targets, match["selector"], op, args, start, stop, line.strip(), layer)


def parse_condition(lines: Sequence[str], concepts: ConceptSet) -> tuple[Intervention, ...]:
    """Parse a condition (a list of lines; empty for the control)."""
    if isinstance(lines, str):
        lines = [lines]
    return tuple(parse(line, concepts) for line in lines)


def _targets(text: str, agents: tuple[str, ...]) -> tuple[str, ...]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    if names == ["all"]:
        return agents
    unknown = [n for n in names if n not in agents]
    if unknown or not names:
        raise ValueError(f"unknown target agent(s) {unknown or text!r}; valid: all, {', '.join(agents)}")
    return tuple(names)


def _args(line: str, op: str, raw: str | None) -> tuple[float, ...]:
    try:
        args = tuple(float(a) for a in raw.split(",")) if raw and raw.strip() else ()
    except ValueError:
        raise ValueError(f"intervention {line!r}: arguments of {op} must be numbers, got {raw!r}") from None
    wanted = {"set": "one or two values", "steer": "one value, or two (x, y) for a position", "noise": "one value (sigma)"}.get(op)
    if (op in ("set", "steer") and len(args) not in (1, 2)) or (op == "noise" and (len(args) != 1 or args[0] < 0)):
        raise ValueError(f"intervention {line!r}: {op} takes {wanted}, e.g. {op}(1)")
    if op not in ("set", "steer", "noise") and args:
        raise ValueError(f"intervention {line!r}: {op} takes no arguments")
    return args


def _qualifiers(line: str, raw: str) -> tuple[str | None, str | None]:
    """The ``@layer=LAYER`` and ``@ START:STOP`` qualifiers (each at most once) → (layer, window text)."""
    layer = window = None
    for part in raw.split("@")[1:]:
        part = part.strip()
        if part.startswith("layer="):
            name = part.removeprefix("layer=").strip()
            if layer is not None or not _LAYER.fullmatch(name):
                raise ValueError(f"intervention {line!r}: name one layer once, e.g. '@layer=encoder.relu1' or '@layer=features'")
            layer = name
        elif window is not None:
            raise ValueError(f"intervention {line!r}: one window per line (@ START:STOP)")
        else:
            window = part
    return layer, window


def _window(line: str, raw: str | None) -> tuple[int, int | None]:
    if raw is None:
        return 0, None
    m = re.fullmatch(r"(\d*):(\d*)", raw)
    if not m or (m[1] and m[2] and int(m[2]) <= int(m[1])):
        raise ValueError(f"intervention {line!r}: window must read START:STOP with START < STOP (either may be empty)")
    return int(m[1] or 0), int(m[2]) if m[2] else None


def check_windows(interventions: Sequence[Intervention], horizon: int) -> None:
    """Raise ValueError for a line whose window starts at or after ``horizon`` (episode steps are
    0..horizon-1, so it would never apply), naming the line, its start and the horizon."""
    for iv in interventions:
        if iv.start >= horizon:
            raise ValueError(
                f"intervention {iv.text!r}: its window starts at step {iv.start}, but episodes last {horizon} steps "
                f"(steps 0..{horizon - 1}), so it would never apply; start it below {horizon}"
            )


@dataclass(frozen=True)
class Reference:
    """Bottleneck values recorded without intervention, for ``mean`` and ``shuffle``."""

    pool: np.ndarray
    """(M, N, P) float32 bottleneck vectors of M reference steps."""

    @property
    def mean(self) -> np.ndarray:
        """(N, P) per-agent mean."""
        return self.pool.mean(axis=0)


class Applier:
    """A condition compiled against a ConceptSet: slot masks per line, applied to (K, N, P) arrays."""

    def __init__(
        self,
        interventions: Sequence[Intervention],
        concepts: ConceptSet,
        *,
        encode: Encoder | None = None,
        reference: Reference | None = None,
        seed: int | None = None,
    ) -> None:
        self.interventions = tuple(interventions)
        self.concepts = concepts
        self.encode = encode
        self.reference = reference
        self.rng = np.random.default_rng(seed)
        at_layer = [iv.text for iv in self.interventions if iv.at_layer]
        if at_layer:
            raise ValueError(f"{at_layer[0]!r} acts at a layer, not on the bottleneck: marl.probe_edits applies it")
        self.masks = [self._slot_mask(iv) for iv in self.interventions]  # each (N, P) bool
        needs_ref = sorted({iv.op for iv in self.interventions} & {"mean", "shuffle"})
        if needs_ref and reference is None:
            raise ValueError(f"operations {needs_ref} need a reference set of un-intervened bottlenecks")
        if {iv.op for iv in self.interventions} & {"set", "oracle"} and encode is None:
            raise ValueError("operations set/oracle need an encode(gt) -> bottleneck function")

    def reseed(self, seed: int | None) -> None:
        """Restart the generator of ``noise`` and ``shuffle``."""
        self.rng = np.random.default_rng(seed)

    def _slot_mask(self, iv: Intervention) -> np.ndarray:
        agents = self.concepts.agents
        mask = np.zeros((len(agents), self.concepts.pred_dim), dtype=bool)
        for agent in iv.targets:
            for spec in self.concepts.select(iv.selector, agent):
                mask[agents.index(agent), self.concepts.pred_slices[spec.name]] = True
        return mask

    def __call__(self, bottleneck: np.ndarray, gt: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Intervened copy of ``bottleneck`` (K, N, P); ``gt`` (K, N, D) ground truth; ``t`` (K,) episode steps."""
        out = np.array(bottleneck, dtype=np.float32, copy=True)
        for iv, slots in zip(self.interventions, self.masks, strict=True):
            active = (t >= iv.start) & (t < iv.stop if iv.stop is not None else True)  # (K,)
            where = active[:, None, None] & slots[None]  # (K, N, P)
            if where.any():
                out = np.where(where, self._values(iv, out, gt), out)
        return out

    def _values(self, iv: Intervention, current: np.ndarray, gt: np.ndarray) -> np.ndarray:
        """(K, N, P) replacement values for every slot (only the masked ones are used)."""
        k = current.shape[0]
        if iv.op == "mask":
            return np.zeros_like(current)
        if iv.op == "noise":
            return current + self.rng.normal(0.0, iv.args[0], current.shape).astype(np.float32)
        if iv.op == "oracle":
            return self.encode(gt).astype(np.float32)
        if iv.op == "set":
            return self.encode(self._set_gt(iv, gt)).astype(np.float32)
        if iv.op == "mean":
            return np.broadcast_to(self.reference.mean, current.shape).astype(np.float32)
        rows = self.rng.integers(0, len(self.reference.pool), size=k)  # shuffle
        return self.reference.pool[rows].astype(np.float32)

    def _set_gt(self, iv: Intervention, gt: np.ndarray) -> np.ndarray:
        """Ground truth with the selected concepts set to the spec's value (validated per kind)."""
        out = np.array(gt, dtype=np.float32, copy=True)
        for agent in iv.targets:
            for spec in self.concepts.select(iv.selector, agent):
                value = _check_value(spec, iv)
                out[:, self.concepts.agents.index(agent), self.concepts.gt_slices[spec.name]] = value
        return out


def _check_value(spec: ConceptSpec, iv: Intervention) -> np.ndarray:
    args = np.asarray(iv.args, dtype=np.float32)
    if spec.kind is ConceptKind.POSITION:
        return np.resize(args, 2)
    if len(args) != 1:
        raise ValueError(f"{iv.text!r}: {spec.name} is {spec.kind.value} and takes one value")
    if spec.kind is ConceptKind.CATEGORICAL and (args[0] != int(args[0]) or not 0 <= args[0] < len(spec.classes)):
        raise ValueError(f"{iv.text!r}: {spec.name} takes a class index 0..{len(spec.classes) - 1} ({', '.join(spec.classes)})")
    if spec.kind is ConceptKind.BINARY and args[0] not in (0.0, 1.0):
        raise ValueError(f"{iv.text!r}: {spec.name} is binary and takes 0 or 1")
    return args


def check_steer_value(spec: ConceptSpec, args: tuple[float, ...], line: str) -> None:
    """Refuse a ``steer`` value the concept cannot take: binary a probability in [0, 1], categorical a
    class index, scalar a value in [low, high], position two values in [0, 1]."""
    kind, name = spec.kind, spec.name
    if kind is ConceptKind.POSITION:
        if len(args) != 2 or not all(0.0 <= a <= 1.0 for a in args):
            raise ValueError(f"{line!r}: {name} is a position: steer it to two values in [0, 1], steer(X,Y) (normalised column, row)")
        return
    if len(args) != 1:
        raise ValueError(f"{line!r}: {name} is {kind.value} and takes one value")
    value = args[0]
    if kind is ConceptKind.BINARY and not 0.0 <= value <= 1.0:
        raise ValueError(f"{line!r}: {name} is binary: steer it to a probability in [0, 1] (0 and 1: the probe's logit at ∓4)")
    if kind is ConceptKind.CATEGORICAL and (value != int(value) or not 0 <= value < len(spec.classes)):
        classes = ", ".join(f"{i}={c}" for i, c in enumerate(spec.classes))
        raise ValueError(f"{line!r}: {name} takes a class index 0..{len(spec.classes) - 1} ({classes})")
    if kind is ConceptKind.SCALAR and not spec.low <= value <= spec.high:
        raise ValueError(f"{line!r}: {name} ranges over [{spec.low:g}, {spec.high:g}]; {value:g} is outside it")


def classify(interventions: Sequence[Intervention], concepts: ConceptSet) -> tuple[str, str, str] | None:
    """Which dependency a condition probes, for the dependency graph.

    ``("own", i, i)``: only agent i's bottleneck, only concepts about i (``self``).
    ``("about", i, j)``: only agent j's bottleneck, only concepts about another agent i.
    None otherwise (a mixed or object-level condition).
    """
    pairs = set()
    for iv in interventions:
        for target in iv.targets:
            owners = {s.owner for s in concepts.select(iv.selector, target)}
            if len(owners) != 1 or next(iter(owners)) not in concepts.agents:
                return None
            pairs.add((next(iter(owners)), target))
    if len(pairs) != 1:
        return None
    about, target = pairs.pop()
    return ("own", about, target) if about == target else ("about", about, target)
