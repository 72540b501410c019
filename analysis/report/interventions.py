"""The interventions section: one block per study subject, from study/summary.json and study/effects.csv.

Sources: ``analysis.study`` (summary, figures), ``analysis.effects`` (the columns of the effect
table: difference vs control, bootstrap 95% CI, permutation p, corrected p, Hedges' g) and
``analysis.social`` (findings, the dependency and Lasso graphs).

Rules:
- Findings are shown as the detectors' own sentences (they carry the numbers), each with its
  detector and verdict.
- The headline table holds the return outcomes (team and each agent's); every test is in the
  full table below it. Rows significant after the study's correction are highlighted, and the
  corrected p-value is shown beside the raw one.
- The dependency graph is listed edge by edge (only significant edges exist in it).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from analysis.report import html as H
from analysis.report import numbers as fmt
from analysis.report.collect import RunDir, SubjectResults
from analysis.report.training import concept_figure
from envs.interventions import parse_condition
from envs.spec import ConceptKind, ConceptSet, ConceptSpec

FIGURES = {
    "effects_team_return": (
        "Change in team return under each condition against the control, with bootstrap 95% CIs;"
        " faded bars are not significant after correction."
    ),
    "effects_heatmap": (
        "Standardised effect (Hedges' g, clipped at ±3) of every condition on every outcome; * marks tests significant after correction."
    ),
    "dependency_graph": (
        "Dependency graph: an arrow i → j when masking concepts of or about agent i significantly changes agent j's outcome"
        " (label: the difference)."
    ),
    "lasso_graph": (
        "Lasso neighbourhood graph of the conditions over their outcome means: linked conditions predict each other"
        " (blue positive, red negative)."
    ),
}
QUESTIONS = {"coordination": "relies on teammates' concepts?", "lazy_agent": "lazy?"}


def is_significant(value: Any) -> bool:
    return str(value).strip().lower() in ("true", "1", "1.0")


def effect_rows(effects: pd.DataFrame, subject: str) -> tuple[list[list[str]], list[dict[str, Any]]]:
    """Cells and row attributes of an effect table (significant rows get ``class="sig"``)."""
    rows, attrs = [], []
    for r in effects.itertuples(index=False):
        sig = is_significant(r.significant)
        rows.append(
            [
                H.cell(r.condition),
                H.cell(r.outcome),
                H.ncell(r.control_mean, fmt.num(r.control_mean)),
                H.ncell(r.mean, fmt.num(r.mean)),
                H.ncell(r.diff, fmt.signed(r.diff)),
                H.ncell(getattr(r, "rel_diff", None), fmt.percent(getattr(r, "rel_diff", None), 0, sign=True)),
                H.cell(fmt.interval(r.ci_low, r.ci_high), "num"),
                H.ncell(getattr(r, "hedges_g", None), fmt.fixed(getattr(r, "hedges_g", None))),
                H.ncell(r.p_value, fmt.p_value(r.p_value)),
                H.ncell(r.p_adj, fmt.p_value(r.p_adj)),
                H.cell("yes" if sig else "no"),
            ]
        )
        attrs.append({"class": "sig" if sig else None, "data-subject": subject, "data-condition": r.condition, "data-outcome": r.outcome})
    return rows, attrs


def effects_table(effects: pd.DataFrame, subject: str, correction: str, caption: str) -> str:
    head = [
        "condition",
        "outcome",
        "control",
        "intervened",
        "difference",
        "relative",
        "95% CI",
        "Hedges' g",
        "p",
        f"p ({correction})",
        "significant",
    ]
    rows, attrs = effect_rows(effects, subject)
    return H.table(head, rows, caption=caption, row_attrs=attrs)


def headline(effects: pd.DataFrame, agents: list[str]) -> tuple[pd.DataFrame, pd.DataFrame, bool]:
    """Team-return rows, per-agent return rows, and whether every agent's return equals the team's (a shared reward)."""
    outcome = effects["outcome"].astype(str)
    team = effects[outcome == "team_return"]
    per_agent = effects[outcome.isin([f"return_{a}" for a in agents])]
    if team.empty:
        return effects, per_agent.iloc[:0], False
    means = team.set_index("condition")["mean"]
    shared = not per_agent.empty and all(
        np.allclose(rows.set_index("condition")["mean"].reindex(means.index).to_numpy(dtype=float), means.to_numpy(dtype=float))
        for _, rows in per_agent.groupby("outcome")
    )
    return team, per_agent, shared


def agent_pivot(per_agent: pd.DataFrame, agents: list[str], subject: str) -> str:
    """Condition × agent table of the difference in each agent's return (significant cells highlighted)."""
    rows, attrs = [], []
    for condition, group in per_agent.groupby("condition", sort=False):
        by = {str(r.outcome).removeprefix("return_"): r for r in group.itertuples(index=False)}
        cells = [H.cell(condition)]
        for a in agents:
            r = by.get(a)
            cls = "sig" if r is not None and is_significant(r.significant) else ""
            cells.append(H.ncell(None if r is None else r.diff, fmt.DASH if r is None else fmt.signed(r.diff), cls))
        rows.append(cells)
        attrs.append({"data-subject": subject, "data-condition": condition, "data-outcome": "return_by_agent"})
    caption = (
        "Difference in each agent's return against the control (highlighted: significant after correction; CIs in the table of all tests)."
    )
    return H.table(["condition", *agents], rows, caption=caption, row_attrs=attrs)


def question(finding: dict[str, Any]) -> str:
    """The question a detector answers, e.g. ``lazy?``."""
    detector = str(finding.get("detector", "?"))
    return QUESTIONS.get(detector, f"{detector.replace('_', ' ')}?")


def answer(finding: dict[str, Any]) -> str:
    """``lazy? no``; a coordination verdict in a world that says whether it needs teamwork adds the
    label, e.g. ``relies on teammates' concepts? yes: emergent coordination``."""
    text = f"{question(finding)} {'yes' if finding.get('verdict') else 'no'}"
    return f"{text}: {finding['label']}" if finding.get("required") is not None and finding.get("label") else text


def _findings(data: dict[str, Any]) -> str:
    items = []
    for f in data.get("findings") or ():
        verdict = bool(f.get("verdict"))
        label = answer(f)
        items.append(f"<li>{H.badge(label, 'yes' if verdict else '')} {H.esc(f.get('statement', ''))}</li>")
    if not items:
        return "<p>No detector applied to this subject's conditions.</p>"
    return f'<ul class="findings">{"".join(items)}</ul>'


def _conditions(data: dict[str, Any], accuracy: dict[str, dict[str, Any]] | None) -> str:
    policies = data.get("condition_policies") or {}
    rows = []
    for c, lines in data["conditions"].items():
        what = "; ".join(lines) if lines else (f"seats: {policies[c]}" if c in policies else "none (the control)")
        row = [H.cell(c), H.cell(what, "wrap")]
        if accuracy:
            row.append(H.cell(touched(lines, accuracy, data["agents"]), "wrap"))
        rows.append(row)
    head = ["condition", "interventions", *(["concepts it touches: worst held-out accuracy"] if accuracy else [])]
    return H.details(f"The {len(rows)} conditions and their intervention lines", H.table(head, rows))


def touched(lines: list[str], accuracy: dict[str, dict[str, Any]], agents: list[str]) -> str:
    """The concepts a condition's lines change, grouped by attribute with the worst held-out figure of each group."""
    if not lines:
        return fmt.DASH
    specs = []
    for name, entry in accuracy.items():
        owner, _, attr = name.partition(".")
        kind = ConceptKind(entry["kind"])
        specs.append(ConceptSpec(owner, attr, kind, classes=("a", "b") if kind is ConceptKind.CATEGORICAL else ()))
    concepts = ConceptSet(specs=tuple(specs), agents=tuple(agents))
    try:
        names = {s.name for iv in parse_condition(lines, concepts) for agent in iv.targets for s in concepts.select(iv.selector, agent)}
    except ValueError:
        return fmt.DASH
    groups: dict[str, list[dict[str, Any]]] = {}
    for name in sorted(names):
        groups.setdefault(name.partition(".")[2], []).append(accuracy[name])
    parts = []
    for attr, entries in groups.items():
        key = "accuracy" if "accuracy" in entries[0] else ("error_cells" if entries[0].get("error_cells") is not None else "mse")
        worst = (min if key == "accuracy" else max)(entries, key=lambda e: e.get(key) if e.get(key) is not None else 0.0)
        parts.append(f"{attr} ×{len(entries)}: {concept_figure(worst)}")
    return "; ".join(parts)


def subject_accuracy(rd: RunDir, subject: str) -> dict[str, dict[str, Any]] | None:
    """The held-out per-concept accuracy of the trial a study subject was made from (``<run>_seed<s>[_variant]``)."""
    best = None
    for run in rd.runs:
        for t in run.trials:
            key = f"{run.name}_seed{t.seed}"
            per = ((t.evaluation or {}).get("concept_accuracy") or {}).get("per_concept")
            if per and (subject == key or subject.startswith(key + "_")) and (best is None or len(key) > best[0]):
                best = (len(key), per)
    return best[1] if best else None


def _dependency(data: dict[str, Any]) -> str:
    graph = data.get("dependency_graph")
    if not graph:
        return ""
    outcome = (graph.get("graph") or {}).get("outcome", "return_{agent}")
    edges = graph.get("edges") or []
    selfs = [n for n in graph.get("nodes") or () if "self_diff" in n]
    text = "; ".join(f"{n['id']} {fmt.signed(n['self_diff'])}" for n in selfs)
    parts = [f"<h4>Dependencies between agents (outcome {H.esc(outcome)})</h4>"]
    if text:
        parts.append(f"<p>Masking an agent's own concepts changes its own outcome by: {H.esc(text)}.</p>")
    if not edges:
        parts.append("<p>No significant dependency between agents at the corrected level.</p>")
        return "".join(parts)
    rows = [
        [
            H.cell(f"{e['source']} → {e['target']}"),
            H.cell(e.get("probes", e.get("kind", ""))),
            H.cell(e.get("condition", "")),
            H.ncell(e.get("diff"), fmt.signed(e.get("diff"))),
            H.cell(fmt.interval(e.get("ci_low"), e.get("ci_high")), "num"),
            H.ncell(e.get("hedges_g"), fmt.fixed(e.get("hedges_g"))),
            H.ncell(e.get("p_adj"), fmt.p_value(e.get("p_adj"))),
        ]
        for e in edges
    ]
    caption = "An edge i → j: intervening on concepts of or about agent i changes agent j's outcome (strongest probe shown)."
    parts.append(H.table(["edge", "probes", "condition", "difference", "95% CI", "Hedges' g", "p (corrected)"], rows, caption=caption))
    return "".join(parts)


def _lasso(data: dict[str, Any]) -> str:
    edges = sorted((data.get("lasso_graph") or {}).get("edges") or (), key=lambda e: -abs(e.get("weight", 0)))
    if not edges:
        return ""
    rows = [[H.cell(e["source"]), H.cell(e["target"]), H.ncell(e["weight"], fmt.signed(e["weight"], 2))] for e in edges]
    return H.details(f"Lasso graph edges ({len(edges)})", H.table(["condition", "condition", "weight"], rows))


def subject_block(subject: SubjectResults, accuracy: dict[str, dict[str, Any]] | None = None) -> str:
    d = subject.data
    name = str(d["subject"])
    correction = str(d.get("correction", "corrected"))
    parts = [f'<h3 id="{H.slug("subject", name)}">Subject {H.esc(name)}</h3>']
    parts.append(
        H.facts(
            [
                ("env", f"{d['env_id']}, agents {', '.join(d['agents'])}"),
                ("episodes", f"{fmt.num(d['episodes'])} over {len(d['conditions'])} conditions (control included)"),
                ("tests", f"{fmt.num(d.get('tests'))}, p-values corrected with {correction}"),
                ("control team return", fmt.num(d.get("control_team_return"))),
            ]
        )
    )
    parts.append("<h4>Findings</h4>" + _findings(d))
    if d.get("roles_text"):
        roles = H.esc(d["roles_text"])
        parts.append(f"<p><strong>Roles in the control episodes</strong> (each agent's share of the team's activities): {roles}.</p>")
    parts.append(_conditions(d, accuracy))
    eff = subject.effects
    if eff.empty:
        parts.append(H.note(f"study/effects.csv has no rows for {name}."))
    else:
        team, per_agent, shared = headline(eff, d["agents"])
        n_sig = int(eff["significant"].map(is_significant).sum())
        what = "Team return (every agent's return equals it here: a shared reward)" if shared else "Team return"
        caption = (
            f"{what} under each condition against the control;"
            f" highlighted: significant after {correction} correction over all {len(eff)} tests."
        )
        parts.append(effects_table(team, name, correction, caption))
        if not shared and not per_agent.empty:
            parts.append(agent_pivot(per_agent, list(d["agents"]), name))
        full = effects_table(
            eff, name, correction, "Every condition × outcome; outcomes are per-episode team totals unless suffixed with an agent."
        )
        parts.append(H.details(f"All {len(eff)} tests ({n_sig} significant)", full))
    for keys in (("effects_team_return",), ("effects_heatmap",), ("dependency_graph", "lasso_graph")):
        shown = [H.figure(subject.figures[k], FIGURES[k], f"{k} of {name}") for k in keys if k in subject.figures]
        parts.append(f'<div class="pair">{"".join(shown)}</div>' if len(shown) > 1 else "".join(shown))
    parts += [H.figure(p, k.replace("_", " "), f"{k} of {name}") for k, p in subject.figures.items() if k not in FIGURES]
    missing = [k.replace("_", " ") for k in FIGURES if k not in subject.figures]
    if missing:
        parts.append(f"<p>Not drawn for this subject: {H.esc(', '.join(missing))} (too few conditions or probes).</p>")
    parts.append(_dependency(d))
    parts.append(_lasso(d))
    return "".join(parts)


def section(rd: RunDir, missing: str) -> H.Section:
    parts = [H.note(p, error=True) for p in rd.problems.get("study", [])]
    if rd.study is None or not rd.study.subjects:
        parts.append(H.note(missing))
        return H.Section("interventions", "Interventions", "".join(parts))
    parts.append(
        "<p>Each condition switches concepts off (mask), swaps them (shuffle) or overwrites them inside the agents' bottlenecks; "
        "episodes under it are compared with the control's episodes of the same seeds, outcome by outcome.</p>"
    )
    parts += [subject_block(s, subject_accuracy(rd, str(s.data["subject"]))) for s in rd.study.subjects]
    children = tuple((H.slug("subject", s.data["subject"]), f"Subject {s.data['subject']}") for s in rd.study.subjects)
    return H.Section("interventions", "Interventions", "".join(parts), children)
