"""Figures of a controlled study: effect bars with CIs, a condition × outcome heat map, graphs.

Every figure is written as PNG (for reports) and SVG (for papers) with matplotlib's Agg backend;
each function returns the PNG path.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import networkx as nx
import numpy as np
import pandas as pd


def _save(fig: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path.with_suffix(".png"), dpi=120, bbox_inches="tight")
    fig.savefig(path.with_suffix(".svg"), bbox_inches="tight")
    plt.close(fig)
    return path.with_suffix(".png")


def effect_bars(effect_table: pd.DataFrame, outcome: str, path: str | Path, *, title: str = "") -> Path:
    """Horizontal bars: mean difference vs control per condition, 95% CI whiskers, significant bars filled."""
    rows = effect_table[effect_table["outcome"] == outcome]
    if rows.empty:
        raise ValueError(f"no effects on outcome {outcome!r}; outcomes: {', '.join(sorted(set(effect_table['outcome'])))}")
    rows = rows.iloc[::-1]
    y = np.arange(len(rows))
    diff = rows["diff"].to_numpy()
    err = np.abs(np.vstack([diff - rows["ci_low"].to_numpy(), rows["ci_high"].to_numpy() - diff]))
    colors = ["#c0392b" if d < 0 else "#2471a3" for d in diff]
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(rows) + 1.2))
    bars = ax.barh(y, diff, xerr=err, color=colors, capsize=3, edgecolor="black", linewidth=0.6)
    for bar, sig in zip(bars, rows["significant"], strict=True):
        if not sig:
            bar.set_alpha(0.35)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(y, rows["condition"])
    ax.set_xlabel(f"Δ {outcome} vs control (95% CI; faded: not significant after correction)")
    ax.set_title(title or f"Effect of each condition on {outcome}")
    return _save(fig, Path(path))


def effect_heatmap(effect_table: pd.DataFrame, outcomes: Sequence[str], path: str | Path, *, title: str = "") -> Path:
    """Condition × outcome heat map of Hedges' g (clipped to ±3), * where significant."""
    rows = effect_table[effect_table["outcome"].isin(outcomes)]
    order = list(dict.fromkeys(rows["condition"]))
    g = rows.pivot(index="condition", columns="outcome", values="hedges_g").reindex(index=order, columns=list(outcomes))
    sig = rows.pivot(index="condition", columns="outcome", values="significant").reindex(index=order, columns=list(outcomes))
    values = np.clip(g.to_numpy(dtype=np.float64), -3, 3)
    fig, ax = plt.subplots(figsize=(0.6 * len(outcomes) + 3, 0.45 * len(g) + 1.5))
    image = ax.imshow(np.nan_to_num(values), cmap="RdBu", vmin=-3, vmax=3, aspect="auto")
    for (i, j), s in np.ndenumerate(sig.to_numpy()):
        if s is True or s == 1:
            ax.text(j, i, "*", ha="center", va="center", fontsize=12, color="white" if abs(values[i, j]) > 1.5 else "black")
    ax.set_xticks(range(len(outcomes)), list(outcomes), rotation=60, ha="right")
    ax.set_yticks(range(len(g)), list(g.index))
    fig.colorbar(image, ax=ax, label="Hedges' g vs control (clipped ±3)")
    ax.set_title(title or "Standardised effects (* significant after correction)")
    return _save(fig, Path(path))


def draw_dependency_graph(graph: nx.DiGraph, path: str | Path, *, title: str = "") -> Path:
    """Agents on a circle; arrow i → j when intervening on i significantly changes j (red: lowers)."""
    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    pos = nx.circular_layout(graph)
    nx.draw_networkx_nodes(graph, pos, node_color="#f7dc6f", edgecolors="black", node_size=2400, ax=ax)
    nx.draw_networkx_labels(graph, pos, font_size=8, ax=ax)
    if graph.number_of_edges():
        weights = np.array([d["weight"] for _, _, d in graph.edges(data=True)])
        widths = 1 + 4 * np.abs(weights) / np.abs(weights).max()
        colors = ["#c0392b" if w < 0 else "#2471a3" for w in weights]
        nx.draw_networkx_edges(
            graph, pos, width=widths, edge_color=colors, arrowsize=18, node_size=2400, connectionstyle="arc3,rad=0.12", ax=ax
        )
        labels = {(u, v): f"{d['weight']:+.1f}" for u, v, d in graph.edges(data=True)}
        nx.draw_networkx_edge_labels(graph, pos, edge_labels=labels, font_size=8, label_pos=0.35, ax=ax)
    else:
        ax.text(0.5, 0.02, "no significant dependency", transform=ax.transAxes, ha="center")
    outcome = str(graph.graph.get("outcome", "outcome")).replace("{agent}", "j")
    ax.set_title(title or f"i → j: intervening on i changes {outcome}")
    ax.margins(0.2)
    ax.axis("off")
    return _save(fig, Path(path))


def draw_lasso_graph(graph: nx.Graph, path: str | Path, *, title: str = "") -> Path:
    """Conditions linked where the Lasso neighbourhood regression keeps a coefficient."""
    fig, ax = plt.subplots(figsize=(6, 6))
    pos = nx.spring_layout(graph, seed=0)
    nx.draw_networkx_nodes(graph, pos, node_color="#aed6f1", edgecolors="black", node_size=900, ax=ax)
    nx.draw_networkx_labels(graph, pos, font_size=7, ax=ax)
    if graph.number_of_edges():
        weights = np.array([d["weight"] for _, _, d in graph.edges(data=True)])
        nx.draw_networkx_edges(
            graph,
            pos,
            width=1 + 4 * np.abs(weights) / np.abs(weights).max(),
            edge_color=["#2471a3" if w > 0 else "#c0392b" for w in weights],
            ax=ax,
        )
    ax.set_title(title or f"Lasso neighbourhood graph of conditions (alpha {graph.graph.get('alpha', '?')})")
    ax.axis("off")
    return _save(fig, Path(path))
