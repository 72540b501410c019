"""Analysis of a controlled study directory, from its datasets alone.

``analyze_study(OUT)`` reads the datasets the study planned: ``OUT/study.json`` (written by
``marl.study`` before any task runs) lists every task's subject, dataset (relative to OUT, or
absolute in older studies) and episode count, and exactly those datasets and, of each, exactly its
first ``episodes`` episodes are read; a planned dataset that holds fewer is a ``DatasetError``.
Datasets left on disk by an earlier run with more seeds, conditions or episodes are never counted.
Without a study.json (datasets recorded by anything else, with condition ids and intervention specs
in their manifests) every ``OUT/datasets/<subject>/<condition>/seed_<s>/`` is read, whole.
It writes, per subject, under ``OUT/analysis/<subject>/`` (emptied first: nothing of an earlier run stays):

- ``outcomes.csv`` (one row per episode), ``effects.csv`` (every condition vs the control on every
  outcome: difference, bootstrap CI, permutation p, corrected p, Hedges' g; ``analysis.effects``);
- ``dependency.graphml`` / ``.json`` (``analysis.social.dependency_graph`` over the ``own:`` and
  ``about:`` probes) and ``lasso.json`` (the Lasso neighbourhood graph of conditions);
- ``roles.csv``: each agent's share of the world's activities and its role in the control
  episodes (``analysis.roles``; worlds that name roles);
- ``findings.json``: the detectors' verdicts (coordination for every condition that removes only
  teammates' concepts: ``mask`` in the bottleneck or ``erase`` at a layer; lazy/active for every
  ``own:`` and ``idle:`` probe), each with its statement;
- figures (PNG + SVG): effect bars on team return, a heat map, the two graphs.

and ``OUT/summary.json`` + ``OUT/effects.csv`` + ``OUT/findings.md`` across subjects.

Mixed teams (``marl.seats``) need nothing special: a subject's ``policy`` (the control's) and
``condition_policies`` (conditions whose policy differs, e.g. an ``idle:`` knock-out) name the
scripted seats; the probes a scripted seat cannot take are simply absent, so the dependency graph
keeps every agent as a node with the edges its probes show, and roles are read from events.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from analysis.dataset import Dataset, DatasetError, load, open_dataset
from analysis.effects import effects, episode_outcomes
from analysis.roles import describe, team_roles
from analysis.social import (
    LAZY_PROBES,
    Finding,
    condition_means,
    dependency_graph,
    detect_coordination,
    detect_lazy,
    graph_to_json,
    lasso_graph,
)
from analysis.study_figures import draw_dependency_graph, draw_lasso_graph, effect_bars, effect_heatmap
from envs import ENV_IDS, needs_teammate, role_events
from envs.interventions import classify, parse_condition
from envs.spec import EnvSpec

logger = logging.getLogger(__name__)

CONTROL = "control"
PLAN_FILE = "study.json"
"""The study's plan in its output directory (``marl.study.write_plan``)."""

Planned = list[tuple[Path, int]]
"""A subject's planned datasets: (dataset directory, episodes to read)."""


def read_plan(out: Path) -> dict[str, Planned] | None:
    """Subject → its planned datasets, from ``OUT/study.json`` (None when there is none)."""
    path = out / PLAN_FILE
    if not path.exists():
        return None
    try:
        tasks = json.loads(path.read_text())["tasks"]
        plan: dict[str, Planned] = {}
        for t in tasks:
            where = Path(t["path"])
            plan.setdefault(str(t["subject"]), []).append((where if where.is_absolute() else out / where, int(t["episodes"])))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DatasetError(f"{path}: not a study plan ({type(exc).__name__}: {exc}); rerun the study to write it again") from None
    if not plan:
        raise DatasetError(f"{path}: plans no task")
    return plan


def _condition_lines(paths: Sequence[Path]) -> tuple[dict[str, tuple[str, ...]], dict[str, str]]:
    """Condition id → intervention lines, and condition id → the policy that acted (its name names
    any scripted seats, ``marl.seats``), from the datasets' manifests."""
    out, policies = {}, {}
    for path in paths:
        manifest = open_dataset(path).manifest
        condition = manifest.condition
        lines = tuple(json.loads(condition.spec)) if condition.spec else ()
        if out.setdefault(condition.id, lines) != lines:
            raise DatasetError(f"{path}: condition {condition.id!r} recorded with two different specs")
        policies.setdefault(condition.id, manifest.policy.name)
    return out, policies


def default_outcomes(spec: EnvSpec) -> list[str]:
    """Team return, each agent's return, and each event's team total."""
    return ["team_return", *[f"return_{a}" for a in spec.agents], *spec.event_names]


def _teammate_removal(lines: tuple[str, ...], spec: EnvSpec) -> str | None:
    """How a condition removes teammates' concepts only (``masking``, ``erasing`` or both), None if it does something else."""
    ops = {iv.op if iv.selector.split(".")[0] == "teammates" else "other" for iv in parse_condition(lines, spec.concepts)}
    if not ops or not ops <= {"mask", "erase"}:
        return None
    return " and ".join(w for op, w in (("mask", "masking"), ("erase", "erasing")) if op in ops)


def _findings(eff: pd.DataFrame, lines: dict[str, tuple[str, ...]], spec: EnvSpec, subject: str, margin: float) -> list[Finding]:
    required = needs_teammate(spec.env_id, spec.config) if spec.env_id in ENV_IDS else None  # datasets of other envs: unknown
    removals = {cond: how for cond, ls in lines.items() if cond != CONTROL and (how := _teammate_removal(ls, spec))}
    findings = [detect_coordination(eff, cond, subject=f"{subject} ({cond})", required=required, how=how) for cond, how in removals.items()]
    for probe in LAZY_PROBES:  # own: masks an agent's own concepts; idle: knocks it out (scripted seats too)
        probes = {a: f"{probe}:{a}" for a in spec.agents if f"{probe}:{a}" in lines}
        if probes:
            findings += detect_lazy(eff, probes, margin=margin, probe=probe)
    return findings


def _open_planned(planned: Planned) -> list[Dataset]:
    """The planned datasets, each checked to hold its planned episodes 0..n-1."""
    datasets = []
    for path, n in planned:
        ds = open_dataset(path)
        held = int(np.isin(np.arange(n), ds.episode_ids).sum())
        if held < n:
            raise DatasetError(
                f"{path} holds {held} of the {n} planned episodes (the study stopped before recording them); rerun the study to finish it"
            )
        datasets.append(ds)
    return datasets


def _load_subject(subject_dir: Path, planned: Planned | None = None):
    """Conditions, policies and episodes of a subject: the planned ones, or every dataset there."""
    if planned is None:
        paths = sorted(p.parent for p in subject_dir.glob("*/seed_*/manifest.json"))
        if not paths:
            raise DatasetError(f"{subject_dir}: no datasets (expected <condition>/seed_<s>/manifest.json)")
        datasets, wanted = [open_dataset(p) for p in paths], None
    else:
        datasets = _open_planned(planned)
        wanted = {str(ds.path): n for ds, (_, n) in zip(datasets, planned, strict=True)}
    lines, policies = _condition_lines([ds.path for ds in datasets])
    if CONTROL not in lines:
        raise DatasetError(f"{subject_dir}: no {CONTROL!r} condition; found {', '.join(lines)}")
    if wanted is None:
        return lines, policies, load(datasets, fields=("actions", "rewards", "events"))
    eps = load(datasets, fields=("actions", "rewards", "events"), episodes=range(max(wanted.values())))
    limit = np.array([wanted[src] for src in eps.source])
    return lines, policies, eps if (eps.episode_ids < limit).all() else eps.select(eps.episode_ids < limit)


def _graphs(eff, table, lines, spec, chosen, dependency_outcome, out: Path) -> tuple[dict[str, Any], dict[str, Path]]:
    """Dependency graph over the probes and the Lasso graph over all conditions, saved and drawn."""
    result, figures = {}, {}
    probes = {c: p for c, ls in lines.items() if c != CONTROL and (p := classify(parse_condition(ls, spec.concepts), spec.concepts))}
    # idle:<agent> knock-outs (no intervention lines: the agent's seat is scripted idle) reach scripted seats too
    probes.update({f"idle:{a}": ("idle", a, "") for a in spec.agents if f"idle:{a}" in lines})
    if probes:
        graph = dependency_graph(eff, probes, spec.agents, outcome=dependency_outcome)
        nx.write_graphml(graph, out / "dependency.graphml")
        result["dependency_graph"] = graph_to_json(graph)
        figures["dependency_graph"] = draw_dependency_graph(graph, out / "dependency_graph")
    if len(lines) >= 3:
        lasso = lasso_graph(condition_means(table, chosen))
        result["lasso_graph"] = graph_to_json(lasso)
        figures["lasso_graph"] = draw_lasso_graph(lasso, out / "lasso_graph")
    for name in ("dependency_graph", "lasso_graph"):
        if name in result:
            (out / f"{name.split('_')[0]}.json").write_text(json.dumps(result[name], indent=2, default=float))
    return result, figures


def analyze_subject(
    subject_dir: Path,
    out: Path,
    *,
    outcomes: Sequence[str] = (),
    dependency_outcome: str = "return_{agent}",
    correction: str = "holm",
    alpha: float = 0.05,
    lazy_margin: float = 0.1,
    n_resamples: int = 9999,
    planned: Planned | None = None,
) -> dict[str, Any]:
    """Effects, graphs, findings and figures of one subject's datasets: ``planned`` (dataset,
    episodes) pairs, or (None) every dataset under ``subject_dir`` (module docstring)."""
    lines, policies, eps = _load_subject(subject_dir, planned)
    spec, name = eps.spec, subject_dir.name
    table = episode_outcomes(eps)
    # common random numbers: episode i of seed s is seeded alike under every condition, so it pairs
    table["pair"] = [f"{Path(src).name}/{i}" for src, i in zip(eps.source, eps.episode_ids, strict=True)]
    dep_cols = [dependency_outcome.format(agent=a) for a in spec.agents]
    chosen = list(dict.fromkeys([*(outcomes or default_outcomes(spec)), *dep_cols]))
    eff = effects(table, chosen, control=CONTROL, correction=correction, alpha=alpha, n_resamples=n_resamples, pair="pair")
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "outcomes.csv", index=False)
    eff.to_csv(out / "effects.csv", index=False)
    figures = {
        "effects_team_return": effect_bars(eff, "team_return", out / "effects_team_return", title=f"{name}: team return"),
        "effects_heatmap": effect_heatmap(eff, chosen, out / "effects_heatmap", title=f"{name}: standardised effects"),
    }
    graphs, graph_figures = _graphs(eff, table, lines, spec, chosen, dependency_outcome, out)
    findings = _findings(eff, lines, spec, name, lazy_margin)
    result: dict[str, Any] = {
        "subject": name,
        "env_id": spec.env_id,
        "agents": list(spec.agents),
        "episodes": len(table),
        "conditions": {c: list(ls) for c, ls in lines.items()},
        "policy": policies[CONTROL],
        "condition_policies": {c: p for c, p in policies.items() if p != policies[CONTROL]},
        "tests": len(eff),
        "correction": correction,
        "control_team_return": float(table.loc[table["condition"] == CONTROL, "team_return"].mean()),
        "findings": [
            {
                "detector": f.detector,
                "subject": f.subject,
                "verdict": f.verdict,
                "label": f.evidence.get("label", ""),
                "required": f.evidence.get("required"),
                "statement": f.statement,
            }
            for f in findings
        ],
        **graphs,
        **_roles(table, spec, out),
        "figures": {k: str(v.relative_to(out.parent.parent)) for k, v in {**figures, **graph_figures}.items()},
    }
    (out / "findings.json").write_text(json.dumps(result["findings"], indent=2))
    return result


def _roles(table: pd.DataFrame, spec: EnvSpec, out: Path) -> dict[str, Any]:
    """Roles in the control episodes (``analysis.roles``), where the world names roles; writes roles.csv."""
    defs = role_events(spec.env_id, spec.config) if spec.env_id in ENV_IDS else {}
    if not defs:
        return {}
    roles = team_roles(table[table["condition"] == CONTROL], spec.agents, defs)
    roles.to_csv(out / "roles.csv", index_label="agent")
    return {"roles": roles.reset_index(names="agent").to_dict(orient="records"), "roles_text": describe(roles)}


def analyze_study(out: str | Path, *, name: str = "", log: Callable[[str], Any] = logger.info, **options: Any) -> dict[str, Any]:
    """Analyse every planned subject of a study directory; writes the summary files (module docstring).
    ``log`` gets a line per subject (default: this module's logger, at INFO)."""
    out = Path(out)
    plan = read_plan(out)
    if plan is None:
        subjects = sorted(p.name for p in (out / "datasets").glob("*") if p.is_dir())
        if not subjects:
            raise DatasetError(f"{out}: no study datasets under {out / 'datasets'}")
    else:
        subjects = sorted(plan)
    results = []
    for subject in subjects:
        log(f"analysing {subject}")
        planned = None if plan is None else plan[subject]
        shutil.rmtree(out / "analysis" / subject, ignore_errors=True)  # derived files: none of an earlier run may stay
        results.append(analyze_subject(out / "datasets" / subject, out / "analysis" / subject, planned=planned, **options))
    pd.concat([pd.read_csv(out / "analysis" / r["subject"] / "effects.csv").assign(subject=r["subject"]) for r in results]).to_csv(
        out / "effects.csv", index=False
    )
    summary = {"study": name or out.name, "subjects": results}
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
    lines = [f"# Study {name or out.name}", ""]
    for r in results:
        lines += [
            f"## {r['subject']} ({r['env_id']}, {r['episodes']} episodes)",
            "",
            f"Policy: {r['policy']}. Control team return: {r['control_team_return']:.1f}",
            "",
        ]
        if r.get("roles_text"):
            lines += [f"Roles in the control episodes: {r['roles_text']}.", ""]
        lines += [f"- {'**yes**' if f['verdict'] else 'no'} — {f['statement']}" for f in r["findings"]] + [""]
    (out / "findings.md").write_text("\n".join(lines))
    return summary
