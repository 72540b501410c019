"""The MPE simple_spread experiment in numbers: returns, concepts, the study's findings, the behaviours; prints JSON.

Reads a run directory written by ``ethogram experiment experiments/mpe_spread.yaml``
(``train/<run>/seed_<s>/eval.json``, ``study/summary.json``, ``study/analysis/<subject>/effects.csv``,
``behaviour/analysis/summary.json``) and gathers, without recomputing anything:

- per run and seed: the held-out team return (mean of the agents' returns, MPE's own scale:
  negative distances and collision penalties), landmarks covered and collisions per episode
  (``covering`` and ``collided`` events, summed over agents and steps), the env steps trained, and
  for bottleneck runs the worst held-out figure of each concept kind (binary and categorical
  accuracy, position error in cells of 0.1 MPE units) and the concepts off target (accuracy
  < 0.95, position error ≥ 0.5 cells);
- per study subject: the control team return, the conditions whose team-return effect is
  significant after Holm's correction (with the difference and its CI), the lazy-agent verdicts,
  the dependency graph's edges (outcome ``return_{agent}``);
- the planted idle subject: the knock-out lazy test (``idle:<agent>``) must flag exactly agent_2;
- the analyser's behaviours: k joint and local, their descriptions, changes across checkpoints.

Usage: ``python benchmarks/mpe_results.py RUN_DIR [--out FILE]``.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from cleanup_results import knockout_flagged, trained_runs  # benchmarks/ is the script's own folder on sys.path
from train_throughput import emit


def training(run_dir: Path) -> dict:
    events = {"covering": "covering", "collided": "collided"}
    return trained_runs(run_dir, "team_return", events, ("team_return",))


def significant(effects: Path) -> list[str]:
    """Conditions whose team-return effect survives Holm's correction."""
    if not effects.exists():
        return []
    with effects.open() as f:
        rows = [r for r in csv.DictReader(f) if r["outcome"] == "team_return" and r["significant"].lower() == "true"]
    return [f"{r['condition']} {float(r['diff']):+.2f} [{float(r['ci_low']):+.2f}, {float(r['ci_high']):+.2f}]" for r in rows]


def subjects(run_dir: Path) -> dict:
    path = run_dir / "study" / "summary.json"
    if not path.exists():
        return {}
    out = {}
    for s in json.loads(path.read_text())["subjects"]:
        lazy = {f["subject"]: f["label"] for f in s.get("findings") or () if f["detector"] == "lazy_agent"}
        edges = [f"{e['source']}→{e['target']} ({e['diff']:+.2f})" for e in (s.get("dependency_graph") or {}).get("edges", [])]
        out[s["subject"]] = {
            "control_team_return": round(s["control_team_return"], 2),
            "significant": significant(run_dir / "study" / "analysis" / s["subject"] / "effects.csv"),
            "lazy": lazy,
            "dependency_edges": edges,
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args(argv)
    study = subjects(args.run_dir)
    result = {"benchmark": "mpe_results", "run_dir": str(args.run_dir), "training": training(args.run_dir), "study": study}
    for name, s in study.items():
        if name.endswith("planted_idle"):
            flagged = knockout_flagged(s["lazy"])
            result["planted_idle"] = {"knockout_flagged": flagged, "passed": flagged == ["agent_2"]}
    summary = args.run_dir / "behaviour" / "analysis" / "summary.json"
    if summary.exists():
        b = json.loads(summary.read_text())
        keys = ("episodes", "k_joint", "k_local", "descriptions", "changes", "completeness")
        result["behaviour"] = {k: b.get(k) for k in keys}
    return emit(result, args.out)


if __name__ == "__main__":
    sys.exit(main())
