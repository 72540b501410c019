"""Figures of probes and sensitivity: one layer × concept heatmap per module (matplotlib, Agg, PNG).

- ``plot_probe_skill``: each cell is the probe's held-out skill (1 − loss / chance's loss; 0 is
  chance, 1 perfect, below 0 worse than chance), so every kind reads "above chance" the same way;
  constant concepts (no probe) and cells whose skill is undefined (no held-out row, or held-out rows
  of a single value) are grey.
- ``plot_sensitivity``: each cell is the largest |z| over the concept's directions and the actions
  (z: the TCAV score's distance from the null mean in null SDs; capped at ``Z_MAX``), marked ``*``
  where at least one of those tests is significant after the run's correction; concepts without a
  probe are grey. (|TCAV − 0.5| alone would mislead: near the logits most random directions score
  close to 0 or 1 too.)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from analysis.probes.probeset import ProbeSet
from analysis.probes.sensitivity import SensitivityScore

Z_MAX = 5.0
"""Colour-scale cap of the sensitivity map's |z|."""


def _panels(n: int, concepts: int, layers: int) -> tuple[plt.Figure, list[plt.Axes]]:
    width = min(4 + 0.32 * concepts, 30)
    fig, axes = plt.subplots(n, 1, figsize=(width, (1.2 + 0.45 * layers) * n + 1.6), squeeze=False)
    return fig, list(axes[:, 0])


def _heatmap(ax: plt.Axes, grid: np.ndarray, layers: Sequence[str], concepts: Sequence[str], title: str, vmin: float, vmax: float):
    cmap = plt.get_cmap("viridis").with_extremes(bad="#d0d0d0")
    image = ax.imshow(np.ma.masked_invalid(grid), aspect="auto", cmap=cmap, vmin=vmin, vmax=vmax)
    ax.set_yticks(range(len(layers)), layers, fontsize=8)
    ax.set_xticks(range(len(concepts)), concepts, rotation=90, fontsize=7)
    ax.set_title(title, fontsize=9)
    return image


def plot_probe_skill(probes: ProbeSet, path: str | os.PathLike) -> Path:
    """Layer × concept heatmap of held-out skill, one panel per module (module docstring)."""
    concepts = list(probes.spec.concepts.names)
    modules = list(probes.modules)
    fig, axes = _panels(len(modules), len(concepts), len(probes.layers))
    for ax, module in zip(axes, modules):
        grid = np.full((len(probes.layers), len(concepts)), np.nan)
        for s in probes.scores:
            if s.module == module and s.status == "fitted":
                grid[probes.layers.index(s.layer), concepts.index(s.concept)] = s.skill
        image = _heatmap(ax, np.clip(grid, -1, 1), probes.layers, concepts, f"probe skill over chance — module {module}", -0.2, 1.0)
        fig.colorbar(image, ax=ax, fraction=0.02, pad=0.01, label="skill")
    fig.tight_layout()
    return _save(fig, path)


def plot_sensitivity(scores: Sequence[SensitivityScore], probes: ProbeSet, path: str | os.PathLike) -> Path:
    """Layer × concept heatmap of the largest |z|, ``*`` where significant (module docstring)."""
    concepts = list(probes.spec.concepts.names)
    modules = list(probes.modules)
    fig, axes = _panels(len(modules), len(concepts), len(probes.layers))
    for ax, module in zip(axes, modules):
        grid = np.full((len(probes.layers), len(concepts)), np.nan)
        marked = np.zeros(grid.shape, bool)
        for s in scores:
            if s.module != module:
                continue
            cell = probes.layers.index(s.layer), concepts.index(s.concept)
            grid[cell] = np.nanmax([grid[cell], min(abs(s.z), Z_MAX)])
            marked[cell] |= s.significant
        title = f"TCAV: largest |z| against random-label directions (* significant after correction) — module {module}"
        image = _heatmap(ax, grid, probes.layers, concepts, title, 0.0, Z_MAX)
        for i, j in zip(*np.nonzero(marked)):
            ax.text(j, i, "*", ha="center", va="center", color="white", fontsize=10, fontweight="bold")
        fig.colorbar(image, ax=ax, fraction=0.02, pad=0.01, label="|z|")
    fig.tight_layout()
    return _save(fig, path)


def _save(fig: plt.Figure, path: str | os.PathLike) -> Path:
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return path
