"""``ethogram report`` on a run that stopped part-way names the stages not done; a copied run dir resumes and reports."""

from __future__ import annotations

import json
import shutil

import pytest

from analysis.report.collect import RUN_STAGES
from experiments.cli import main
from experiments.pipeline import STAGES
from tests.report.page import Page


def _half_run(root, stages, **fields):
    root.mkdir(parents=True)
    journal = {"name": "half", "kind": "experiment", "stages": stages, "commands": ["ethogram experiment e.yaml --out half"], **fields}
    (root / "experiment.json").write_text(json.dumps(journal))
    return root


def _report(root, tmp_path, capsys):
    html, md = tmp_path / "report.html", tmp_path / "summary.md"
    assert main(["report", str(root), "--out", str(html), "--summary", str(md)]) == 0
    return Page.read(html).text, md.read_text(), capsys.readouterr().err


def test_stages_not_done_are_named_in_the_report_the_summary_and_on_stderr(tmp_path, capsys):
    root = _half_run(tmp_path / "half", {"train": {"seconds": 3.0, "status": "done", "note": ""}})
    text, md, err = _report(root, tmp_path, capsys)
    said = "This run is not finished: stage(s) evaluate, study, behaviour not done (not run, or the run stopped in them)."
    assert said in text and said in md and said in err
    assert "rerun ethogram experiment e.yaml --out half to finish it" in text


def test_a_failed_stage_is_named_with_its_note(tmp_path, capsys):
    stages = {
        "train": {"seconds": 3.0, "status": "done", "note": ""},
        "evaluate": {"seconds": 1.0, "status": "failed", "note": "ray died"},
    }
    text, md, err = _report(_half_run(tmp_path / "half", stages), tmp_path, capsys)
    assert "stage evaluate failed (ray died)" in md and "stage(s) study, behaviour not done" in err
    assert "stage evaluate failed (ray died)" in text


def test_a_finished_run_says_nothing_and_the_stage_list_is_the_pipeline_s(tmp_path, capsys):
    assert (*RUN_STAGES, "report") == STAGES
    done = {s: {"seconds": 1.0, "status": "done" if s != "study" else "skipped", "note": ""} for s in RUN_STAGES}
    finished = {"started": "2025-01-01T00:00:00+00:00", "finished": "2025-01-01T01:00:00+00:00"}
    text, md, err = _report(_half_run(tmp_path / "full", done, **finished), tmp_path, capsys)
    assert "not done" not in text + md and err == ""


@pytest.mark.ray
def test_a_copied_run_directory_resumes_and_reports(run_dir, tmp_path, capsys):
    copy = tmp_path / "copied"
    shutil.copytree(run_dir, copy)
    assert main(["experiment", str(run_dir.parent / "experiment.yaml"), "--out", str(copy)]) == 0
    journal = json.loads((copy / "experiment.json").read_text())
    assert {journal["stages"][s]["status"] for s in ("train", "study", "behaviour")} == {"done"}
    assert journal["stages"]["evaluate"]["status"] == "skipped"
    recorded = [json.loads(m.read_text())["policy"]["checkpoint"] for m in copy.glob("*/datasets/**/manifest.json")]
    assert recorded and all(not c.startswith("/") for c in recorded), "checkpoints are stored relative to their datasets"
    capsys.readouterr()
    _, _, err = _report(copy, tmp_path, capsys)
    assert err == ""
