"""``ethogram report RUN_DIR``: one self-contained HTML report and a Markdown summary of a run directory.

The run directory (written by ``ethogram quickstart`` / ``ethogram experiment``,
``experiments.pipeline``); every part but experiment.json is optional::

    RUN_DIR/
      experiment.json   name, kind (quickstart | experiment), description, config, stages
                        {name: {seconds, status: done | skipped | failed, note}}, versions, machine,
                        started, finished, commands (the command lines that reproduce the run)
      train/<run>/      config.yaml; seed_<s>/progress.csv (marl.train), seed_<s>/checkpoints/,
                        seed_<s>/eval.json (held-out evaluation of the final checkpoint: episodes,
                        team_return_mean, team_return_std, return_per_agent, events_per_episode,
                        concept_accuracy {binary_acc, categorical_acc, regression_mse} | null,
                        env_steps, iteration, policy, env_id, env_config)
      media/<run>_seed<s>.gif   one episode of the final policy (and .png stills)
      study/            ``ethogram study`` output (analysis.study): summary.json, effects.csv, analysis/<subject>/
      behaviour/datasets/<run>_seed<s>/iter_NNNNNN/   episodes recorded from successive checkpoints
      behaviour/analysis/   ``ethogram analyze`` output (analysis.mohba.write)
      report.html, summary.md   written here

Rules: the HTML embeds every figure and GIF as a data URI and needs nothing else (no files, fonts,
scripts or network; one inline script only counts loaded images). Sections appear when their
inputs exist and say plainly what is missing otherwise (``collect`` keeps unreadable parts as
problems rather than failing); a run that stopped part-way names the stages not done, at the top
of both files. Outputs are written atomically (temp file + rename).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from analysis.report import behaviours, interventions, overview, training
from analysis.report import html as H
from analysis.report.collect import RunDir, RunDirError, collect
from analysis.report.markdown import summary_markdown

__all__ = ["ReportFiles", "RunDirError", "collect", "render_html", "write_report"]


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    markdown: Path
    problems: tuple[str, ...]
    """What could not be read (also shown in the report)."""
    unfinished: str = ""
    """The stages of a run that stopped part-way, as one sentence (also shown in the report; "" when finished)."""


def render_html(rd: RunDir) -> str:
    """The whole report as one HTML string."""
    sections = [
        overview.section(rd),
        training.section(rd, overview.missing_text(rd, "train")),
        interventions.section(rd, overview.missing_text(rd, "study")),
        behaviours.section(rd, overview.missing_text(rd, "behaviour")),
    ]
    e = rd.experiment
    subtitle = f"ethogram {e.kind} report" + (f" · {e.started[:10]}" if e.started else "")
    return H.page(e.name, subtitle, overview.intro(rd), sections)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_report(run_dir: str | Path, out: str | Path | None = None, summary: str | Path | None = None) -> ReportFiles:
    """Write ``out`` (default RUN_DIR/report.html) and ``summary`` (default RUN_DIR/summary.md)."""
    rd = collect(run_dir)
    html_path = Path(out) if out is not None else rd.path / "report.html"
    md_path = Path(summary) if summary is not None else rd.path / "summary.md"
    _write(html_path, render_html(rd))
    _write(md_path, summary_markdown(rd, html_path, md_path))
    problems = tuple(f"{part}: {p}" for part, items in rd.problems.items() for p in items)
    return ReportFiles(html_path, md_path, problems, rd.experiment.unfinished)
