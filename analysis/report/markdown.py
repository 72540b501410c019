"""summary.md: the run in a page of Markdown (headline numbers, findings, behaviours), pointing to the HTML report.

Rules: the same numbers and formatting as the HTML report (``analysis.report.numbers``), the
same run-level held-out returns (``training.held_out``); only headlines (the return outcome of
each condition, the behaviour descriptions); absent parts are listed with the same reason.
"""

from __future__ import annotations

from pathlib import Path

from analysis.report import numbers as fmt
from analysis.report.collect import RunDir, SubjectResults
from analysis.report.interventions import answer, is_significant
from analysis.report.overview import elapsed, key_results, missing_text, unfinished_text
from analysis.report.training import held_out, steps_range


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    return [_row(head), _row(["---"] * len(head)), *[_row(r) for r in rows], ""]


def _training(rd: RunDir) -> list[str]:
    rows = []
    for run in rd.runs:
        h = held_out(run)
        rows.append(
            [
                run.name,
                run.policy,
                str(len(run.trials)),
                steps_range(h.get("env_steps", (None, None))),
                fmt.mean_sd(h.get("mean"), h.get("sd")) + (f" (SD over {h['over']})" if h.get("over") else ""),
                fmt.percent(h.get("binary_acc"), 1),
                fmt.percent(h.get("categorical_acc"), 1),
            ]
        )
    head = ["run", "policy", "seeds", "env steps", "held-out team return", "binary concepts", "categorical concepts"]
    return ["## Training", "", *_table(head, rows)]


def _subject(s: SubjectResults) -> list[str]:
    d = s.data
    correction = d.get("correction", "corrected")
    lines = [
        f"### {d['subject']}",
        "",
        f"{d['env_id']}, {fmt.num(d['episodes'])} episodes over {len(d['conditions'])} conditions; "
        f"control team return {fmt.num(d.get('control_team_return'))}; {fmt.num(d.get('tests'))} tests, p corrected with {correction}.",
        "",
    ]
    lines += [f"- **{answer(f)}** — {f.get('statement', '')}" for f in d.get("findings") or ()]
    if d.get("roles_text"):
        lines += [f"- **roles** (control episodes): {d['roles_text']}."]
    team = s.effects[s.effects["outcome"].astype(str) == "team_return"]
    if len(team):
        rows = [
            [
                str(r.condition),
                fmt.num(r.mean),
                fmt.signed(r.diff),
                fmt.interval(r.ci_low, r.ci_high),
                fmt.p_value(r.p_adj),
                "yes" if is_significant(r.significant) else "no",
            ]
            for r in team.itertuples(index=False)
        ]
        lines += ["", *_table(["condition", "team return", "difference", "95% CI", f"p ({correction})", "significant"], rows)]
    return [*lines, ""]


def _behaviours(rd: RunDir) -> list[str]:
    b = rd.behaviour
    assert b is not None
    s = b.summary
    k_joint = "no" if s["k_joint"] is None else fmt.num(s["k_joint"])
    iters = sorted({d.iteration for d in b.datasets})
    source = f" recorded at {len(iters)} checkpoint(s) (iterations {', '.join(map(str, iters))})" if iters else ""
    lines = [
        "## Behaviours",
        "",
        f"{k_joint} team-level and {fmt.num(s['k_local'])} agent-level behaviours in {fmt.num(s['episodes'])} episodes{source}:",
        "",
    ]
    lines += [f"- {text}" for text in s.get("descriptions") or ()]
    for level, changes in sorted((s.get("changes") or {}).items()):
        name = "team" if level == "joint" else "agent"
        found = ", ".join(f"iteration {c['iteration']} (JSD {fmt.num(c['jsd'])})" for c in changes) or "none"
        lines.append(f"\nChanges of {name}-level behaviour across checkpoints: {found}.")
    if s.get("completeness") is not None:
        lines.append(f"\nConcept discovery: completeness η = {fmt.num(s['completeness'])}.")
    if b.roles:
        r = b.roles
        clusters = ", ".join(f"{c} {v['role']} ({fmt.percent(v['purity'])} pure)" for c, v in sorted(r["clusters"].items()))
        lines.append(
            f"\nAgent-level behaviours against the agents' roles in their episodes: {clusters}; "
            f"ARI {fmt.fixed(r['adjusted_rand_index'], sign=False)}, NMI {fmt.fixed(r['normalized_mutual_info'], sign=False)}."
        )
    return [*lines, ""]


def summary_markdown(rd: RunDir, report_path: Path, summary_path: Path) -> str:
    """The Markdown text (module docstring)."""
    e = rd.experiment
    try:
        link = report_path.resolve().relative_to(summary_path.resolve().parent)
    except ValueError:
        link = report_path.resolve()
    took = elapsed(rd)
    when = f"started {e.started or 'unknown'}" + (
        f", finished {e.finished} (took {fmt.duration(took)})" if e.finished else ", not finished"
    )
    lines = [f"# {e.name}", "", f"{e.kind.capitalize()} run, {when}. Full report: [{link.name}]({link.as_posix()}).", ""]
    if unfinished_text(rd):
        lines += [f"**{unfinished_text(rd)}**", ""]
    if e.description:
        lines += [e.description, ""]
    keys = key_results(rd)
    if keys:
        lines += ["## Key results", "", *[f"- {k}" for k in keys], ""]
    missing = []
    if rd.runs:
        lines += _training(rd)
    else:
        missing.append(missing_text(rd, "train"))
    if rd.study and rd.study.subjects:
        lines += ["## Interventions", ""]
        for s in rd.study.subjects:
            lines += _subject(s)
    else:
        missing.append(missing_text(rd, "study"))
    if rd.behaviour:
        lines += _behaviours(rd)
    else:
        missing.append(missing_text(rd, "behaviour"))
    problems = [f"{part}: {p}" for part, items in rd.problems.items() for p in items]
    if missing or problems:
        lines += ["## Missing or unreadable", "", *[f"- {m}" for m in [*missing, *problems]], ""]
    return "\n".join(lines)
