"""Social dynamics from intervention effects: dependency graphs and detectors.

Built on the effect table of ``analysis.effects.effects`` (one row per condition and outcome).

- Dependency graph (directed, networkx): agent i → agent j when intervening on i changes j's
  outcome significantly. Two probes (``envs.interventions.classify``): ``own`` — i's own concepts
  in i's bottleneck (does j's outcome depend on what i knows about itself?); ``about`` — the
  concepts about i in j's bottleneck (does j use what it knows about i?). Edge weight: the mean
  difference in j's outcome; attributes carry the CI, Hedges' g, adjusted p and the probes.
- Lasso neighbourhood graph (Grupen et al. 2022, after Meinshausen & Bühlmann 2006): the
  condition × outcome table of means, each outcome standardised across conditions, then each
  condition's profile regressed on all others with a Lasso (alpha 0.1); an undirected edge where
  either coefficient is non-zero (the "or" rule), weighted by the mean of the two coefficients.
- Detectors, each a stated test: coordination (masking teammates' concepts lowers team return,
  significant after correction; labelled *required* where the world forces teamwork and
  *emergent* where it does not, from ``envs.needs_teammate``); lazy agent (masking an agent's own
  concepts, or knocking it out by seating it idle — the probe that also reaches scripted seats,
  which have no concepts — leaves team return unchanged within ±margin: the whole 95% CI of the
  relative change lies inside the margin — an equivalence test, not a failure to reject).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import pandas as pd
from sklearn.linear_model import Lasso


def dependency_graph(
    effect_table: pd.DataFrame,
    probes: Mapping[str, tuple[str, str, str]],
    agents: Sequence[str],
    *,
    outcome: str = "return_{agent}",
) -> nx.DiGraph:
    """Directed graph over ``agents`` from conditions classified as ``own``/``about`` probes and ``idle`` knock-outs.

    ``probes`` maps a condition id to ``(kind, about_agent, target_agent)``; ``own`` (i's own
    concepts masked) and ``idle`` (i seated idle) affect every other agent, ``about`` the target; ``outcome`` is a
    column template with ``{agent}`` for the affected agent j. Only significant edges are kept;
    a node's ``self_diff`` is the effect of masking its own concepts on its own outcome.
    """
    graph = nx.DiGraph(outcome=outcome)
    graph.add_nodes_from(agents)
    rows = effect_table.set_index(["condition", "outcome"])
    for condition, (kind, about, target) in probes.items():
        affected = [a for a in agents if a != about] if kind in ("own", "idle") else [target]
        if kind == "own" and (condition, outcome.format(agent=about)) in rows.index:
            graph.nodes[about]["self_diff"] = float(rows.loc[(condition, outcome.format(agent=about)), "diff"])
        for j in affected:
            key = (condition, outcome.format(agent=j))
            if key not in rows.index:
                raise ValueError(f"effect table has no row for condition {condition!r} and outcome {key[1]!r}")
            row = rows.loc[key]
            if not bool(row["significant"]):
                continue
            evidence = {
                "kind": kind,
                "condition": condition,
                "diff": float(row["diff"]),
                "ci_low": float(row["ci_low"]),
                "ci_high": float(row["ci_high"]),
                "hedges_g": float(row["hedges_g"]),
                "p_adj": float(row["p_adj"]),
            }
            _add_evidence(graph, about, j, evidence)
    return graph


def _add_evidence(graph: nx.DiGraph, i: str, j: str, evidence: dict) -> None:
    if graph.has_edge(i, j):
        data = graph.edges[i, j]
        data["probes"] = f"{data['probes']}+{evidence['kind']}"
        if abs(evidence["hedges_g"]) <= abs(data["hedges_g"]):
            return
    else:
        graph.add_edge(i, j, probes=evidence["kind"])
    graph.edges[i, j].update({k: v for k, v in evidence.items() if k != "kind"}, weight=evidence["diff"])


def condition_means(table: pd.DataFrame, outcomes: Sequence[str]) -> pd.DataFrame:
    """Condition × outcome table of per-episode means."""
    return table.groupby("condition", sort=False)[list(outcomes)].mean()


def lasso_graph(means: pd.DataFrame, *, alpha: float = 0.1) -> nx.Graph:
    """Lasso neighbourhood graph over the conditions (rows) of a condition × outcome table."""
    if len(means) < 3:
        raise ValueError(f"a neighbourhood graph needs at least 3 conditions, got {len(means)}")
    values = means.to_numpy(dtype=np.float64)
    std = values.std(axis=0)
    keep = std > 0  # outcomes constant across conditions carry no information
    z = (values[:, keep] - values[:, keep].mean(axis=0)) / std[keep]  # (C, O')
    names = list(means.index)
    coef = np.zeros((len(names), len(names)))
    for c in range(len(names) if keep.any() else 0):  # every outcome constant: no edges to find
        others = [o for o in range(len(names)) if o != c]
        model = Lasso(alpha=alpha, fit_intercept=False, max_iter=10000).fit(z[others].T, z[c])
        coef[c, others] = model.coef_
    graph = nx.Graph(alpha=alpha, outcomes_used=int(keep.sum()))
    graph.add_nodes_from(names)
    for a in range(len(names)):
        for b in range(a + 1, len(names)):
            if coef[a, b] != 0 or coef[b, a] != 0:
                graph.add_edge(names[a], names[b], weight=float((coef[a, b] + coef[b, a]) / 2))
    return graph


@dataclass(frozen=True)
class Finding:
    """The verdict of one detector, with the statement a report prints and its numbers."""

    detector: str
    subject: str
    verdict: bool
    statement: str
    evidence: dict = field(default_factory=dict)


def _row(effect_table: pd.DataFrame, condition: str, outcome: str) -> pd.Series:
    rows = effect_table[(effect_table["condition"] == condition) & (effect_table["outcome"] == outcome)]
    if rows.empty:
        known = ", ".join(sorted(set(effect_table["condition"])))
        raise ValueError(f"no effect of condition {condition!r} on {outcome!r}; conditions: {known}")
    return rows.iloc[0]


def _numbers(row: pd.Series) -> str:
    rel = f", {row['rel_diff']:+.0%}" if np.isfinite(row["rel_diff"]) else ""
    g = row["hedges_g"]
    g_text = f"{g:+.2f}" if np.isfinite(g) else f"{'+' if g > 0 else '-'}∞, neither condition varies"
    return (
        f"{row['control_mean']:.1f} → {row['mean']:.1f} (diff {row['diff']:+.1f}{rel}; 95% CI [{row['ci_low']:+.1f}, "
        f"{row['ci_high']:+.1f}]; g = {g_text}; p_adj = {row['p_adj']:.3g})"
    )


def detect_coordination(
    effect_table: pd.DataFrame,
    condition: str,
    *,
    outcome: str = "team_return",
    subject: str = "",
    required: bool | None = None,
    how: str = "masking",
) -> Finding:
    """Coordination: masking teammates' concepts lowers ``outcome`` significantly (after correction).

    ``how`` names the removal in the statement (``masking`` in the bottleneck, ``erasing`` at a layer).
    ``required`` says whether the world forces the agents to work together (``envs.needs_teammate``):
    reliance where it does is *required* coordination, reliance where it does not is *emergent*."""
    row = _row(effect_table, condition, outcome)
    verdict = bool(row["significant"] and row["diff"] < 0)
    word = "relies on teammate concepts" if verdict else "shows no significant reliance on teammate concepts"
    context = {True: "; the world requires it (one agent alone cannot earn the reward)", False: "; the world does not require it"}
    statement = f"{subject or 'The team'} {word}: {how} them ({condition}) moves {outcome} {_numbers(row)}{context.get(required, '')}."
    label = {
        (True, True): "coordination required",
        (True, False): "emergent coordination",
        (False, True): "no reliance shown, though required",
        (False, False): "independent",
    }.get((verdict, required), "relies on teammates" if verdict else "no reliance shown")
    return Finding("coordination", subject or condition, verdict, statement, {**row.to_dict(), "label": label, "required": required})


LAZY_PROBES = {"own": "masking its own concepts", "idle": "seating it idle (its world's scripted idle: no action)"}
"""The lazy-agent test's probes: what the condition of each agent does (``marl.study``'s ``own:`` and
``idle:`` conditions)."""


def detect_lazy(
    effect_table: pd.DataFrame,
    conditions: Mapping[str, str],
    *,
    outcome: str = "team_return",
    margin: float = 0.1,
    probe: str = "own",
) -> list[Finding]:
    """Lazy agents: the agent's probe condition changes ``outcome`` by less than ±margin (relative).

    ``conditions`` maps each agent to its probe condition: ``own`` masks its own concepts (trained
    agents); ``idle`` knocks it out (any agent, scripted seats included). Equivalence test: lazy
    when the whole 95% CI of the difference, divided by |control mean|, lies inside (−margin,
    margin). An agent whose probe lowers the outcome significantly is called active; anything
    else is inconclusive. Findings of the ``idle`` probe name the agent ``<agent> (idle probe)``.
    """
    if probe not in LAZY_PROBES:
        raise ValueError(f"lazy-agent probe {probe!r} is not known; choose one of: {', '.join(LAZY_PROBES)}")
    findings = []
    for agent, condition in conditions.items():
        row = _row(effect_table, condition, outcome)
        scale = abs(row["control_mean"])
        lazy = scale > 0 and -margin < row["ci_low"] / scale and row["ci_high"] / scale < margin
        active = bool(row["significant"]) and row["diff"] < 0
        label = "lazy" if lazy else "active" if active else "inconclusive"
        statement = f"{agent} is {label}: {LAZY_PROBES[probe]} moves {outcome} {_numbers(row)}; equivalence margin ±{margin:.0%}."
        subject = agent if probe == "own" else f"{agent} ({probe} probe)"
        findings.append(Finding("lazy_agent", subject, bool(lazy), statement, {**row.to_dict(), "label": label, "probe": probe}))
    return findings


def graph_to_json(graph: nx.Graph) -> dict:
    """A graph as node-link JSON (networkx's format), numbers as plain floats."""
    return nx.node_link_data(graph, edges="edges")
