"""The report's head: what ran, when, where, with which versions, how long each stage took, how to rerun it.

Source: experiment.json (``experiments.pipeline.Journal``). Also the sentence each section shows
when its part is absent, built from the part's path and the stage journal (a stage that was
skipped or failed says so with its note).
"""

from __future__ import annotations

import json
from datetime import datetime

from analysis.report import html as H
from analysis.report import numbers as fmt
from analysis.report.collect import RunDir, SubjectResults
from analysis.report.interventions import is_significant
from analysis.report.training import held_out

PART_STAGES = {"train": ("train", "train/"), "study": ("study", "study/"), "behaviour": ("behaviour", "behaviour/analysis/")}
PART_NAMES = {"train": "No training runs", "study": "No intervention study", "behaviour": "No behaviour analysis"}


def missing_text(rd: RunDir, part: str) -> str:
    """Why a part is absent: its path and what the stage journal says."""
    stage_name, rel = PART_STAGES[part]
    text = f"{PART_NAMES[part]} in this run: {rel} is absent or empty."
    stage = rd.experiment.stage(stage_name)
    if stage is None:
        return text + f" The journal has no {stage_name!r} stage (not run, or the run stopped before it)."
    return text + f" Stage {stage_name!r}: {stage.status}" + (f" ({stage.note})." if stage.note else ".")


def unfinished_text(rd: RunDir) -> str:
    """The stages not done and how to finish the run ("" for a finished run)."""
    e = rd.experiment
    if not e.unfinished:
        return ""
    return e.unfinished + (f" The same command resumes it: rerun {e.commands[-1]} to finish it." if e.commands else "")


def _when(iso: str | None) -> str:
    if not iso:
        return "not finished"
    try:
        return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    except ValueError:
        return iso


def elapsed(rd: RunDir) -> float | None:
    e = rd.experiment
    try:
        return (
            (datetime.fromisoformat(e.finished) - datetime.fromisoformat(e.started)).total_seconds() if e.started and e.finished else None
        )
    except ValueError:
        return None


def contents(rd: RunDir) -> list[str]:
    """One line per part: what it holds, or that it is missing."""
    lines = []
    if rd.runs:
        seeds = sum(len(r.trials) for r in rd.runs)
        lines.append(f"training: {len(rd.runs)} run(s), {seeds} trained seed(s), {len(rd.media)} media file(s)")
    else:
        lines.append("training: missing")
    if rd.study and rd.study.subjects:
        lines.append(f"interventions: {len(rd.study.subjects)} subject(s), {sum(len(s.effects) for s in rd.study.subjects)} tests")
    else:
        lines.append("interventions: missing")
    if rd.behaviour:
        s = rd.behaviour.summary
        lines.append(
            f"behaviours: {s['k_joint'] if s['k_joint'] is not None else 'no'} team-level and {s['k_local']} agent-level"
            f" from {s['episodes']} episodes"
        )
    else:
        lines.append("behaviours: missing")
    return lines


def _study_line(subject: SubjectResults) -> str:
    d, eff = subject.data, subject.effects
    team = eff[eff["outcome"].astype(str) == "team_return"]
    sig = team[team["significant"].map(is_significant)]
    control = fmt.num(d.get("control_team_return"))
    text = f"{d['subject']}: {len(sig)} of {len(team)} conditions change the team return significantly (control {control})"
    if len(sig):
        top = sig.loc[sig["diff"].abs().idxmax()]
        text += f"; largest {top['condition']}: {fmt.num(top['control_mean'])} → {fmt.num(top['mean'])}"
    verdicts = {}
    for f in d.get("findings") or ():
        verdicts.setdefault(f.get("detector"), []).append(f)
    coord = verdicts.get("coordination", [])
    if coord:
        text += f"; relies on teammates' concepts in {sum(bool(f['verdict']) for f in coord)} of {len(coord)} teammate-masking condition(s)"
        labels = sorted({f["label"] for f in coord if f.get("required") is not None and f.get("label")})
        text += f" ({', '.join(labels)})" if labels else ""
    lazy = verdicts.get("lazy_agent", [])
    if lazy:
        names = [f["subject"] for f in lazy if f["verdict"]]
        text += f"; lazy agents: {', '.join(names) if names else 'none'}"
    return text


def key_results(rd: RunDir) -> list[str]:
    """The headline of each part, one line each (shared by the report and summary.md)."""
    lines = []
    for run in rd.runs:
        h = held_out(run)
        if h["seeds"]:
            acc = ""
            if h.get("binary_acc") is not None:
                acc = f"; concepts {fmt.percent(h['binary_acc'], 1)} binary, {fmt.percent(h.get('categorical_acc'), 1)} categorical"
            lines.append(f"{run.name} ({run.policy}): held-out team return {fmt.mean_sd(h['mean'], h['sd'])} (± SD over {h['over']}){acc}")
    lines += [_study_line(subject) for subject in (rd.study.subjects if rd.study else ())]
    if rd.behaviour:
        s = rd.behaviour.summary
        k_joint = "no" if s["k_joint"] is None else fmt.num(s["k_joint"])
        text = f"behaviours: {k_joint} team-level and {fmt.num(s['k_local'])} agent-level in {fmt.num(s['episodes'])} episodes"
        changes = sorted({c["iteration"] for cs in (s.get("changes") or {}).values() for c in cs})
        if s.get("changes") is not None:
            text += f"; changes at iteration {', '.join(map(str, changes))}" if changes else "; no change across checkpoints"
        if s.get("completeness") is not None:
            text += f"; concept completeness {fmt.num(s['completeness'])}"
        lines.append(text)
    return lines


def intro(rd: RunDir) -> str:
    """Description and facts, above the contents."""
    e = rd.experiment
    versions = ", ".join(f"{k} {v}" for k, v in e.versions.items()) or "not recorded"
    machine = ", ".join(f"{k} {v}" for k, v in e.machine.items()) or "not recorded"
    items = [
        ("started", _when(e.started)),
        ("finished", _when(e.finished) + (f" (took {fmt.duration(elapsed(rd))})" if elapsed(rd) is not None else "")),
        ("machine", machine),
        ("versions", versions),
        ("run directory", str(rd.path.resolve())),
        ("holds", "; ".join(contents(rd))),
    ]
    desc = f"<p>{H.esc(e.description)}</p>" if e.description else ""
    if unfinished_text(rd):
        desc = f'<p class="unfinished"><strong>{H.esc(unfinished_text(rd))}</strong></p>' + desc
    keys = key_results(rd)
    key_html = (
        '<div class="key"><strong>Key results</strong><ul>' + "".join(f"<li>{H.esc(k)}</li>" for k in keys) + "</ul></div>" if keys else ""
    )
    return desc + key_html + H.facts(items)


def section(rd: RunDir) -> H.Section:
    """Stage timings, the commands, the configuration, and anything that could not be read."""
    e = rd.experiment
    parts = []
    problems = [f"{part}: {p}" for part, items in rd.problems.items() for p in items]
    if problems:
        parts.append('<h3 id="run-problems">Could not be read</h3><ul>' + "".join(f"<li>{H.esc(p)}</li>" for p in problems) + "</ul>")
    if e.stages:
        rows = [
            [
                H.cell(s.name),
                f"<td>{H.badge(s.status, s.status)}</td>",
                H.ncell(s.seconds, fmt.duration(s.seconds)),
                H.cell(s.note or fmt.DASH, "wrap"),
            ]
            for s in e.stages
        ]
        total = sum(s.seconds or 0 for s in e.stages)
        parts.append(
            '<h3 id="run-stages">Stages</h3>' + H.table(["stage", "status", "time", "note"], rows, caption=f"Total {fmt.duration(total)}.")
        )
    else:
        parts.append('<h3 id="run-stages">Stages</h3><p>experiment.json records no stage timings.</p>')
    commands = "\n".join(e.commands) or "(not recorded)"
    parts.append(f'<h3 id="run-commands">Reproduce</h3><p>The command(s) that produced this run directory:</p><pre>{H.esc(commands)}</pre>')
    if e.config:
        parts.append(H.details("The resolved experiment configuration", f"<pre>{H.esc(json.dumps(e.config, indent=2, default=str))}</pre>"))
    children = ((("run-problems", "Could not be read"),) if problems else ()) + (("run-stages", "Stages"), ("run-commands", "Reproduce"))
    return H.Section("run", "Run", "".join(parts), children)
