"""``ethogram report``: a complete run, numbers read back against their sources, partial runs, bad run dirs."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analysis.report import RunDirError, write_report
from analysis.report import numbers as fmt
from experiments.cli import main
from tests.report.page import Page


def _report(run_dir: Path, tmp_path: Path, capsys) -> tuple[Page, str, str]:
    out, md = tmp_path / "report.html", tmp_path / "summary.md"
    assert main(["report", str(run_dir), "--out", str(out), "--summary", str(md)]) == 0
    printed = capsys.readouterr()
    assert printed.out.strip().splitlines()[-1] == str(out)
    return Page.read(out), md.read_text(), printed.err


def _experiment_only(root: Path, **fields) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "experiment.json").write_text(json.dumps({"name": "bare", "kind": "experiment", **fields}))
    return root


@pytest.mark.ray
def test_complete_run_is_one_self_contained_file(run_dir, tmp_path, capsys):
    page, md, err = _report(run_dir, tmp_path, capsys)
    assert err == "", "a complete run has nothing unreadable"
    study = json.loads((run_dir / "study" / "summary.json").read_text())
    behaviour = json.loads((run_dir / "behaviour" / "analysis" / "summary.json").read_text())
    # learning curves + the GIF + the study's figures + the analyser's figures, all embedded
    expected = 1 + 1 + sum(len(s["figures"]) for s in study["subjects"]) + len(behaviour["figures"])
    assert len(page.images) == expected and len(study["subjects"][0]["figures"]) == 4
    assert all(re.fullmatch(r"data:image/(png|gif);base64,[A-Za-z0-9+/=]+", src) for src in page.images)
    assert sum(src.startswith("data:image/gif") for src in page.images) == 1
    assert all(href.startswith("#") for href in page.links), "only in-page links"
    assert page.scripts == [{}], "one inline script, nothing loaded"
    raw = (tmp_path / "report.html").read_text()
    assert not re.search(r"url\(|@import|https?://", raw)
    assert {"run", "training", "interventions", "behaviours", "run-cbp", "subject-cbp_seed0", "beh-team", "beh-changes"} <= page.ids
    assert "is absent" not in page.text and "not readable" not in page.text
    assert "Key results" in page.text and "relies on teammates' concepts?" in page.text
    for part in ("## Key results", "## Training", "## Interventions", "## Behaviours", "[report.html](report.html)"):
        assert part in md
    assert "Missing" not in md
    # the pipeline's own report stage wrote the same report into the run directory
    assert (run_dir / "report.html").stat().st_size > 10_000 and (run_dir / "summary.md").exists()


@pytest.mark.ray
def test_numbers_in_the_report_are_those_of_the_source_files(run_dir, tmp_path, capsys):
    page, md, _ = _report(run_dir, tmp_path, capsys)
    effects = pd.read_csv(run_dir / "study" / "effects.csv")
    row = effects[(effects["condition"] == "mask_teammates") & (effects["outcome"] == "team_return")].iloc[0]
    shown = page.rows_where(subject="cbp_seed0", condition="mask_teammates", outcome="team_return")
    assert len(shown) == 2, "in the headline table and in the table of all tests"
    for r in shown:
        values, texts = r.values(), r.texts()
        assert [float(v) for v in values[2:5]] == [row["control_mean"], row["mean"], row["diff"]]
        assert (
            float(values[9]) == row["p_adj"]
            and texts[4] == fmt.signed(row["diff"])
            and texts[6] == fmt.interval(row["ci_low"], row["ci_high"])
        )
        assert ("sig" in r.attrs.get("class", "")) == bool(row["significant"])
    team_rows = [r for r in page.rows_where(subject="cbp_seed0") if r.attrs["data-outcome"] == "team_return"]
    assert len(team_rows) == 2 * int((effects["outcome"] == "team_return").sum())
    evaluation = json.loads((run_dir / "train" / "cbp" / "seed_0" / "eval.json").read_text())
    (seed,) = page.rows_where(seed="0")
    assert float(seed.values()[5]) == evaluation["team_return_mean"]
    assert float(seed.values()[6]) == evaluation["concept_accuracy"]["binary_acc"]
    assert seed.texts()[6] == fmt.percent(evaluation["concept_accuracy"]["binary_acc"], 1)
    (run,) = page.rows_where(run="cbp")
    assert float(run.values()[5]) == evaluation["team_return_mean"]
    profiles = json.loads((run_dir / "behaviour" / "analysis" / "profiles.json").read_text())
    for p in profiles["local"] + profiles.get("joint", []):
        (r,) = page.rows_where(cluster=p["cluster"])
        assert int(r.values()[1]) == p["size"] and r.texts()[2] == fmt.percent(p["share"])
    assert fmt.mean_sd(evaluation["team_return_mean"], evaluation["team_return_std"]) in md
    assert f"| mask_teammates | {fmt.num(row['mean'])} | {fmt.signed(row['diff'])} |" in md


@pytest.mark.ray
def test_partial_run_renders_and_says_what_is_missing(run_dir, tmp_path, capsys):
    part = tmp_path / "partial"
    shutil.copytree(run_dir / "train", part / "train")
    journal = json.loads((run_dir / "experiment.json").read_text())
    journal["stages"] = {
        "train": journal["stages"]["train"],
        "study": {"seconds": 0.1, "status": "skipped", "note": "skipped: no study configured"},
    }
    (part / "experiment.json").write_text(json.dumps(journal))
    # a second run shaped like a baseline's: no concept columns, no concept accuracy
    base = part / "train" / "base" / "seed_0"
    base.mkdir(parents=True)
    progress = pd.read_csv(run_dir / "train" / "cbp" / "seed_0" / "progress.csv")
    progress.drop(columns=[c for c in progress if c.endswith("_acc")]).to_csv(base / "progress.csv", index=False)
    evaluation = json.loads((run_dir / "train" / "cbp" / "seed_0" / "eval.json").read_text())
    (base / "eval.json").write_text(json.dumps({**evaluation, "policy": "baseline", "concept_accuracy": None}))
    (part / "behaviour" / "analysis").mkdir(parents=True)
    (part / "behaviour" / "analysis" / "summary.json").write_text("{not json")
    (part / "train" / "cbp" / "seed_0" / "eval.json").unlink()
    page, md, err = _report(part, tmp_path, capsys)
    assert (
        "No intervention study in this run: study/ is absent or empty. Stage 'study': skipped (skipped: no study configured)." in page.text
    )
    assert "behaviour/analysis/summary.json: not readable as JSON" in page.text and "behaviour/analysis/summary.json" in err
    assert "No held-out evaluation (eval.json) for seed(s) 0 of cbp." in page.text
    assert len(page.images) == 3, "two learning-curve figures and their comparison; no GIF, no study or behaviour figures"
    (base_row,) = page.rows_where(run="base")
    assert base_row.texts()[6:8] == [fmt.DASH, fmt.DASH], "no concept accuracy for a run without concepts"
    assert "## Missing or unreadable" in md and "No intervention study" in md


def test_run_dir_with_only_experiment_json(tmp_path, capsys):
    root = _experiment_only(tmp_path / "bare", stages={"train": {"seconds": 3.0, "status": "failed", "note": "ray died"}})
    page, md, _ = _report(root, tmp_path, capsys)
    assert page.images == []
    assert "No training runs in this run: train/ is absent or empty. Stage 'train': failed (ray died)." in page.text
    assert "No behaviour analysis in this run: behaviour/analysis/ is absent or empty. The journal has no 'behaviour' stage" in page.text
    assert md.count("\n- No ") == 3


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda p: p / "absent", "does not exist"),
        (lambda p: (p / "file").write_text("x") and p / "file", "is not a directory"),
        (lambda p: p, "has no experiment.json"),
        (lambda p: (p / "experiment.json").write_text("{oops") and p, "experiment.json: not valid JSON"),
        (lambda p: _experiment_only(p, kind="study"), r"kind='study' is not allowed; choose one of: quickstart, experiment"),
        (lambda p: _experiment_only(p, name=""), r"'name' must be a non-empty string"),
        (
            lambda p: _experiment_only(p, stages={"train": {"status": "running"}}),
            r"stages\.train\.status='running' is not allowed; choose one of: done, skipped, failed",
        ),
    ],
)
def test_bad_run_dir_is_a_clear_error(tmp_path, capsys, setup, message):
    target = setup(tmp_path)
    with pytest.raises(RunDirError, match=message):
        write_report(target)
    assert main(["report", str(target)]) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "report.html").exists()


def test_analysis_report_never_imports_ray_or_marl(tmp_path):
    root = _experiment_only(tmp_path / "bare")
    code = (
        "import sys; from analysis.report import write_report\n"
        f"write_report({str(root)!r})\n"
        "bad = [m for m in ('ray', 'marl') if m in sys.modules]\n"
        "print(bad); sys.exit(bool(bad))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_number_formats():
    assert [fmt.num(x) for x in (5004800, 220.0, 8.75, -211.25, 0.0156, 1.2e-5, None, float("nan"), float("-inf"), 0.0)] == [
        "5,004,800",
        "220",
        "8.75",
        "-211",
        "0.0156",
        "1.20e-05",
        "—",
        "—",
        "-inf",
        "0",
    ]
    assert [fmt.p_value(p) for p in (0.0004, 0.0156, 0.5)] == ["<0.001", "0.016", "0.50"]
    assert [fmt.steps(s) for s in (300, 320_000, 5_004_800)] == ["300", "320k", "5.0M"]
    assert [fmt.duration(s) for s in (14.12, 185, 4213)] == ["14.1 s", "3 min 5 s", "1 h 10 min"]
    assert fmt.mean_sd(229.4, 12.41) == "229 ± 12.4" and fmt.percent(-0.96, sign=True) == "-96%" and fmt.signed(3) == "+3"


def test_agents_with_their_own_returns_get_a_condition_by_agent_table():
    """Where agents' returns differ from the team's (no shared reward), each agent's change is tabled."""
    import numpy as np

    from analysis.effects import effects
    from analysis.report.collect import SubjectResults
    from analysis.report.interventions import subject_block

    rng = np.random.default_rng(0)
    n = 12
    a0, a1 = rng.normal(10, 1, 2 * n), rng.normal(5, 1, 2 * n)
    a1[n:] -= 4  # the condition hurts agent_1 only
    table = pd.DataFrame({"condition": ["control"] * n + ["mask"] * n, "return_agent_0": a0, "return_agent_1": a1, "team_return": a0 + a1})
    eff = effects(table, ["team_return", "return_agent_0", "return_agent_1"], control="control", n_resamples=199)
    data = {
        "subject": "s",
        "env_id": "x",
        "agents": ["agent_0", "agent_1"],
        "episodes": 2 * n,
        "conditions": {"control": [], "mask": ["m"]},
    }
    page = Page(subject_block(SubjectResults({**data, "findings": [], "correction": "holm"}, eff, {})))
    (row,) = page.rows_where(condition="mask", outcome="return_by_agent")
    by_agent = eff.set_index("outcome")["diff"]
    assert [float(v) for v in row.values()[1:]] == [by_agent["return_agent_0"], by_agent["return_agent_1"]]
    assert [c[0].get("class") for c in row.cells[1:]] == ["num", "num sig"], "only agent_1's change is significant"
