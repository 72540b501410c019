"""Linear concept probes on a policy's layers, and TCAV-style sensitivity scores (docs/probes.md).

Offline statistics on activations that ``marl.activations`` computes from a trained policy and a
dataset's observations (this package never imports ``marl``): ``fit_probes`` fits one probe per
(module, layer, concept) and scores it on held-out episodes against chance (``analysis.probes.fit``
states the rules), ``save_probes`` / ``load_probes`` keep them (``probes.json`` +
``probes.safetensors``, with what a LEACE eraser and a steering direction need), and
``SensitivityAccumulator`` turns the action logits' gradients into TCAV scores tested against
random-label probes (``analysis.probes.sensitivity``). The figures are imported on their own
(``analysis.probes.figures``: matplotlib).
"""

from analysis.probes.fit import LayerStats, Probe, ProbeConfig, ProbeError, ProbeScore, Split, split_episodes
from analysis.probes.probeset import FAMILIES, ProbeSet, fit_probes, null_directions
from analysis.probes.saved import ProbeFileError, load_probes, save_probes
from analysis.probes.sensitivity import Direction, SensitivityAccumulator, SensitivityScore, concept_directions, null_test

__all__ = [
    "FAMILIES",
    "Direction",
    "LayerStats",
    "Probe",
    "ProbeConfig",
    "ProbeError",
    "ProbeFileError",
    "ProbeScore",
    "ProbeSet",
    "SensitivityAccumulator",
    "SensitivityScore",
    "Split",
    "concept_directions",
    "fit_probes",
    "load_probes",
    "null_directions",
    "null_test",
    "save_probes",
    "split_episodes",
]
