"""Dependency graph, Lasso neighbourhood graph and detectors on tables with planted structure."""

from __future__ import annotations

import json

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from analysis.effects import effects
from analysis.social import condition_means, dependency_graph, detect_coordination, detect_lazy, graph_to_json, lasso_graph

AGENTS = ("agent_0", "agent_1", "agent_2")


def _planted(rng, n=25):
    """agent_1 depends on agent_0 (through what it knows about agent_0); agent_2 is lazy."""
    base = {"agent_0": 40.0, "agent_1": 40.0, "agent_2": 0.0}
    shifts = {
        "control": {},
        "own:agent_0": {"agent_0": -30, "agent_1": -20},
        "own:agent_1": {"agent_1": -25},
        "own:agent_2": {},
        "about:agent_0>agent_1": {"agent_1": -20},
        "mask_teammates": {"agent_0": -15, "agent_1": -25},
    }
    rows = []
    for cond, shift in shifts.items():
        for _ in range(n):
            r = {a: base[a] + shift.get(a, 0) + rng.normal(0, 3) for a in AGENTS}
            rows.append({"condition": cond, **{f"return_{a}": v for a, v in r.items()}, "team_return": sum(r.values())})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def table():
    return _planted(np.random.default_rng(0))


@pytest.fixture(scope="module")
def effect_table(table):
    outcomes = ["team_return", *[f"return_{a}" for a in AGENTS]]
    return effects(table, outcomes, n_resamples=999)


def test_dependency_graph_recovers_planted_edges(effect_table):
    probes = {
        "own:agent_0": ("own", "agent_0", "agent_0"),
        "own:agent_1": ("own", "agent_1", "agent_1"),
        "own:agent_2": ("own", "agent_2", "agent_2"),
        "about:agent_0>agent_1": ("about", "agent_0", "agent_1"),
    }
    graph = dependency_graph(effect_table, probes, AGENTS)
    assert set(graph.edges) == {("agent_0", "agent_1")}
    edge = graph.edges["agent_0", "agent_1"]
    assert edge["probes"] == "own+about" and edge["weight"] < -15 and edge["p_adj"] < 0.05
    assert graph.nodes["agent_0"]["self_diff"] < -25
    data = json.loads(json.dumps(graph_to_json(graph)))
    assert nx.node_link_graph(data, edges="edges").has_edge("agent_0", "agent_1")


def test_detectors(effect_table):
    coord = detect_coordination(effect_table, "mask_teammates")
    assert coord.verdict and "relies on teammate concepts" in coord.statement and "95% CI" in coord.statement
    lazy = {f.subject: f for f in detect_lazy(effect_table, {a: f"own:{a}" for a in AGENTS}, margin=0.1)}
    assert lazy["agent_2"].verdict and lazy["agent_2"].evidence["label"] == "lazy"
    assert lazy["agent_0"].evidence["label"] == "active" and not lazy["agent_0"].verdict
    null = detect_coordination(effect_table, "own:agent_2")
    assert not null.verdict
    labels = {
        (cond, required): detect_coordination(effect_table, cond, required=required).evidence["label"]
        for cond in ("mask_teammates", "own:agent_2")
        for required in (True, False)
    }
    assert labels == {
        ("mask_teammates", True): "coordination required",
        ("mask_teammates", False): "emergent coordination",
        ("own:agent_2", True): "no reliance shown, though required",
        ("own:agent_2", False): "independent",
    }
    assert "does not require it" in detect_coordination(effect_table, "mask_teammates", required=False).statement
    with pytest.raises(ValueError, match="conditions: about"):
        detect_coordination(effect_table, "nonexistent")


def test_lasso_graph_links_conditions_with_similar_profiles(table):
    means = condition_means(table, [f"return_{a}" for a in AGENTS] + ["team_return"])
    graph = lasso_graph(means, alpha=0.1)
    assert set(graph.nodes) == set(means.index)
    # the two probes that only hurt agent_1 share one profile and must be linked
    assert graph.has_edge("own:agent_1", "about:agent_0>agent_1") or graph.has_edge("about:agent_0>agent_1", "own:agent_1")
    assert graph.number_of_edges() < len(means) * (len(means) - 1) / 2  # sparse, not complete
    with pytest.raises(ValueError, match="at least 3 conditions"):
        lasso_graph(means.iloc[:2])
    constant = lasso_graph(means * 0)  # nothing varies across conditions: nodes, no edges
    assert set(constant.nodes) == set(means.index) and constant.number_of_edges() == 0


def test_study_figures_are_written(effect_table, table, tmp_path):
    from analysis.study_figures import draw_dependency_graph, draw_lasso_graph, effect_bars, effect_heatmap

    outcomes = ["team_return", *[f"return_{a}" for a in AGENTS]]
    probes = {"about:agent_0>agent_1": ("about", "agent_0", "agent_1")}
    paths = [
        effect_bars(effect_table, "team_return", tmp_path / "bars"),
        effect_heatmap(effect_table, outcomes, tmp_path / "heat"),
        draw_dependency_graph(dependency_graph(effect_table, probes, AGENTS), tmp_path / "deps"),
        draw_lasso_graph(lasso_graph(condition_means(table, outcomes)), tmp_path / "lasso"),
    ]
    for png in paths:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.with_suffix(".svg").stat().st_size > 1000
    with pytest.raises(ValueError, match="outcomes: "):
        effect_bars(effect_table, "soups", tmp_path / "x")
