"""Figures of a behaviour analysis, as PNG files (matplotlib, Agg backend, no display).

A library of ``write`` (``write.write_figures``); it imports no stage.

- ``latent_map``: a 2-D map of latent vectors (PCA when d > 2) in two panels: coloured by cluster
  and by a chosen label (e.g. bins of team return).
- ``linking_figure``: the joint ↔ local bipartite graph, joint clusters on the left, local on the
  right, edge width ∝ P(local | joint).
- ``occupancy_figure``: cluster occupancy over checkpoints as stacked areas, changepoints as
  dashed lines.
- ``example_strips``: example windows per cluster as film strips. Frames come from the stored
  observations, painted cell by cell from their named channels (``paint_observation``) — the
  worlds' own renderers need their full state, which a dataset does not hold; without
  observations the strip is the window's feature trace (features × time heat map).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import networkx as nx
import numpy as np
from sklearn.decomposition import PCA

CHANNEL_COLOURS = {
    # layer 0: ground
    "outside": (20, 20, 20, 0),
    "wall": (90, 90, 90, 0),
    "counter": (170, 140, 100, 0),
    "river": (70, 120, 220, 0),
    "stream": (110, 160, 240, 0),
    "orchard": (170, 215, 150, 0),
    "serving": (90, 200, 90, 0),
    "pot": (60, 60, 60, 0),
    "dispenser": (230, 200, 60, 0),
    # layer 1: items
    "waste": (120, 80, 30, 1),
    "dirt": (120, 80, 30, 1),
    "apple": (220, 40, 40, 1),
    "onion": (240, 220, 120, 1),
    "tomato": (240, 80, 60, 1),
    "dish": (240, 240, 240, 1),
    "soup": (250, 150, 40, 1),
    "beam": (255, 255, 160, 1),
    # layer 2: agents
    "self": (40, 90, 250, 2),
    "other": (250, 60, 200, 2),
    "agent": (250, 60, 200, 2),
}
"""(R, G, B, layer) of a channel whose name contains the key (first key that matches); lower layers are painted first."""


def _save(fig: plt.Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def project_2d(z: np.ndarray, seed: int = 0) -> np.ndarray:
    """(U, d) → (U, 2): PCA when d > 2 (all at the origin when the points coincide), padded with zeros when d < 2."""
    z = np.asarray(z, dtype=np.float64)
    if z.shape[1] > 2:
        spread = np.ptp(z, axis=0).any()  # PCA of coinciding points divides by a zero variance
        return PCA(2, random_state=seed).fit_transform(z) if spread else np.zeros((len(z), 2))
    return np.pad(z, ((0, 0), (0, 2 - z.shape[1])))


def latent_map(
    z: np.ndarray, clusters: np.ndarray, path: str | Path, title: str, label: np.ndarray | None = None, label_name: str = "label"
) -> Path:
    """Two scatter panels of ``z`` (U, d): by cluster, and by ``label`` when given."""
    xy = project_2d(z)
    panels = 2 if label is not None else 1
    fig, axes = plt.subplots(1, panels, figsize=(5.2 * panels, 4.4), squeeze=False)
    for ax, values, name in zip(axes[0], [clusters, label], ["cluster", label_name]):
        values = np.asarray(values)
        cats = np.unique(values)
        cmap = plt.get_cmap("tab10" if len(cats) <= 10 else "tab20")
        for i, c in enumerate(cats):
            sel = values == c
            ax.scatter(xy[sel, 0], xy[sel, 1], s=10, alpha=0.7, color=cmap(i % cmap.N), label=str(c))
        ax.set_title(f"{title}: by {name}")
        ax.set_xlabel("PC 1")
        ax.set_ylabel("PC 2")
        ax.legend(fontsize=7, markerscale=1.5, loc="best", ncols=2 if len(cats) > 6 else 1)
    return _save(fig, path)


def linking_figure(graph: nx.Graph, path: str | Path, names: dict[str, str] | None = None) -> Path:
    """Draw the bipartite linking graph (edge width ∝ share of the joint cluster)."""
    joint = sorted((n for n, d in graph.nodes(data=True) if d["bipartite"] == 0), key=lambda n: graph.nodes[n]["cluster"])
    local = sorted((n for n, d in graph.nodes(data=True) if d["bipartite"] == 1), key=lambda n: graph.nodes[n]["cluster"])
    pos = {n: (0.0, -i) for i, n in enumerate(joint)}
    pos.update({n: (1.0, -i * max(len(joint) - 1, 1) / max(len(local) - 1, 1)) for i, n in enumerate(local)})
    fig, ax = plt.subplots(figsize=(6, 0.6 * max(len(joint), len(local)) + 1.5))
    widths = [6 * d["share"] for _, _, d in graph.edges(data=True)]
    nx.draw_networkx_edges(graph, pos, ax=ax, width=widths, alpha=0.6, edge_color="tab:gray")
    nx.draw_networkx_nodes(graph, pos, nodelist=joint, node_color="tab:orange", node_size=600, ax=ax)
    nx.draw_networkx_nodes(graph, pos, nodelist=local, node_color="tab:blue", node_size=600, ax=ax)
    labels = {n: (names or {}).get(n, n) for n in graph.nodes}
    nx.draw_networkx_labels(graph, pos, labels=labels, font_size=8, ax=ax)
    ax.set_title("joint (left) ↔ local (right) behaviours; width = P(local | joint)")
    ax.axis("off")
    return _save(fig, path)


def occupancy_figure(iterations: np.ndarray, fractions: np.ndarray, changes: list[int], path: str | Path, prefix: str = "J") -> Path:
    """Stacked occupancy (C, k) over checkpoints, changepoints (indices) as dashed lines."""
    fig, ax = plt.subplots(figsize=(7, 3.8))
    x = np.arange(len(iterations))
    ax.stackplot(x, fractions.T, labels=[f"{prefix}{k}" for k in range(fractions.shape[1])], alpha=0.85)
    for c in changes:
        ax.axvline(c - 0.5, color="black", linestyle="--", linewidth=1.5)
    ax.set_xticks(x, [str(i) for i in iterations], rotation=45 if len(x) > 12 else 0)
    ax.set_xlabel("checkpoint (training iteration)")
    ax.set_ylabel("share of units")
    ax.set_ylim(0, 1)
    ax.set_title("cluster occupancy over training (dashed: changepoints)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _save(fig, path)


def paint_observation(obs: np.ndarray, channels: tuple[str, ...], cell: int = 8) -> np.ndarray:
    """An observation (H, W, C) uint8 with named channels → RGB (H*cell, W*cell, 3) uint8.

    Each channel gets the colour of the first ``CHANNEL_COLOURS`` key in its name (unnamed ones are
    skipped); ground is painted first, then items, then agents.
    """
    h, w, _ = obs.shape
    image = np.full((h, w, 3), 235, dtype=np.uint8)
    painted = []
    for c, name in enumerate(channels):
        lower = name.lower()
        if any(word in lower for word in ("facing", "count", "cooked", "ready", "progress")):
            continue
        colour = next((v for k, v in CHANNEL_COLOURS.items() if k in lower), None)
        if colour is not None:
            painted.append((colour[3], c, colour[:3]))
    for _, c, rgb in sorted(painted):
        image[obs[:, :, c] > 0] = rgb
    return np.repeat(np.repeat(image, cell, axis=0), cell, axis=1)


def example_strips(examples: dict[str, list[np.ndarray]], path: str | Path, title: str, trace_names: list[str] | None = None) -> Path:
    """Examples per cluster: RGB film strips (H, W, 3) one per row, or feature traces (L, F) in a grid."""
    rows = [(k, v) for k, v in examples.items() if v]
    if not rows:
        raise ValueError("no examples to draw")
    if rows[0][1][0].ndim == 3:
        return _strip_rows(rows, path, title)
    cols = max(len(v) for _, v in rows)
    fig, axes = plt.subplots(len(rows), cols, figsize=(2.6 * cols + 1.2, 2.2 * len(rows)), squeeze=False)
    for r, (name, items) in enumerate(rows):
        for c in range(cols):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= len(items):
                ax.axis("off")
                continue
            span = np.ptp(items[c], axis=0)
            scaled = (items[c] - items[c].min(axis=0)) / np.where(span > 0, span, 1.0)
            ax.imshow(scaled.T, aspect="auto", cmap="viridis", interpolation="nearest")
            if c == 0:
                ax.set_ylabel(name, fontsize=9)
                if trace_names:
                    ax.set_yticks(range(len(trace_names)), trace_names, fontsize=5)
    fig.suptitle(f"{title}\n(each row of a panel is one feature over the window's steps, scaled to its range)", fontsize=9)
    return _save(fig, path)


def _strip_rows(rows: list[tuple[str, list[np.ndarray]]], path: str | Path, title: str) -> Path:
    items = [(f"{name} #{i + 1}", strip) for name, strips in rows for i, strip in enumerate(strips)]
    h, w = items[0][1].shape[:2]
    fig, axes = plt.subplots(len(items), 1, figsize=(min(14.0, w / 60 + 1), (h / 60 + 0.3) * len(items) + 0.6), squeeze=False)
    for ax, (label, strip) in zip(axes[:, 0], items):
        ax.imshow(strip, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(label, fontsize=8, rotation=0, ha="right", va="center")
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)
