"""The Clean Up social-dynamics experiment in numbers: returns, roles, concepts, detectors, planted truth; prints JSON.

Reads a run directory written by ``ethogram experiment experiments/cleanup_social.yaml``
(``train/<run>/seed_<s>/eval.json``, ``study/summary.json``, ``behaviour/analysis/roles.json``) and
gathers, recomputing only what an older run's ``eval.json`` lacks (the binary concepts' balanced
accuracy, from the held-out episodes in ``eval/<run>_<seed>``):

- per run and seed: the held-out collective return, apples eaten and waste cells cleaned per
  episode (team totals), and for bottleneck runs the worst held-out figure of each concept kind
  (binary and categorical accuracy, position error in cells) and the concepts off target
  (accuracy < 0.95, position error ≥ 0.5 cells), and the binary concepts whose balanced accuracy
  (mean of the accuracies on true and on false steps) is < 0.95;
- the cbp / baseline parity of the collective return (mean over seeds);
- per study subject: roles (each agent's share of the team's cleaning and eating), whether the
  team divides labour (one agent does ≥ 50% of the cleaning while the others eat more than it),
  the lazy-agent verdicts and the dependency graph's edges;
- the planted validations: the ``planted_idle`` subject's knock-out lazy test (``idle:<agent>``)
  must flag exactly the seated idle agent (the own-concept mask's verdict is reported beside it),
  and in the ``planted_cleaner`` subject every trained agent's return must depend on
  the seated cleaner;
- the analyser's agent-level behaviours against the per-episode roles (ARI, NMI).

Usage: ``python benchmarks/cleanup_results.py RUN_DIR [--out FILE]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import yaml
from train_throughput import emit  # benchmarks/ is the script's own folder on sys.path

ACCURACY_TARGET, CELLS_TARGET = 0.95, 0.5


def concept_summary(per_concept: dict[str, dict]) -> dict:
    """Worst figure per concept kind, the concepts that miss their target, and the binary concepts
    whose balanced accuracy (the mean of the accuracies on true and on false steps) misses it: those
    pass on accuracy only through their base rate."""
    worst: dict[str, float] = {}
    off, unbalanced = [], []
    for name, e in per_concept.items():
        if "accuracy" in e:
            worst[e["kind"]] = min(worst.get(e["kind"], 1.0), e["accuracy"])
            if e["accuracy"] < ACCURACY_TARGET:
                off.append(f"{name} {e['accuracy']:.3f}")
            if e.get("balanced_accuracy") is not None:
                worst["binary_balanced"] = min(worst.get("binary_balanced", 1.0), e["balanced_accuracy"])
                if e["balanced_accuracy"] < ACCURACY_TARGET:
                    unbalanced.append(f"{name} {e['balanced_accuracy']:.3f}")
        elif e.get("error_cells") is not None:
            worst["position_cells"] = max(worst.get("position_cells", 0.0), e["error_cells"])
            if e["error_cells"] >= CELLS_TARGET:
                off.append(f"{name} {e['error_cells']:.2f} cells")
        else:
            worst["scalar_mse"] = max(worst.get("scalar_mse", 0.0), e["mse"])
    return {"worst": {k: round(v, 4) for k, v in worst.items()}, "off_target": off, "balanced_off_target": unbalanced}


def mode(run: Path) -> str:
    """A training run's bottleneck mode, from its ``config.yaml``."""
    return yaml.safe_load((run / "config.yaml").read_text())["model"]["bottleneck_mode"]


def with_balanced(per_concept: dict[str, dict], held_out: Path, mode: str) -> dict[str, dict]:
    """``per_concept`` with each binary concept's balanced accuracy, computed from the held-out
    episodes where the evaluation predates it (``marl.concept_loss.concept_accuracy``)."""
    binary = [n for n, e in per_concept.items() if e["kind"] == "binary"]
    if not binary or all("balanced_accuracy" in per_concept[n] for n in binary) or not held_out.is_dir():
        return per_concept
    from analysis.dataset import load, open_dataset
    from marl.concept_loss import concept_accuracy

    eps = load(open_dataset(held_out), fields=("concepts", "predicted"))
    acc = concept_accuracy(eps.predicted[eps.mask], eps.concepts[eps.mask], eps.spec.concepts, mode)
    return {n: {**e, **({"balanced_accuracy": acc[f"balanced/{n}"]} if n in binary else {})} for n, e in per_concept.items()}


def trained_runs(run_dir: Path, return_key: str, events: dict[str, str], means: tuple[str, ...]) -> dict:
    """Held-out figures per run and seed from ``train/*/seed_*/eval.json``: the team return under
    ``return_key``, ``events`` (figure name -> event name) per episode, the concepts' summary, and
    the mean over seeds of each figure in ``means``."""
    out = {}
    for run in sorted(p for p in (run_dir / "train").iterdir() if p.is_dir()):
        seeds = {}
        for path in sorted(run.glob("seed_*/eval.json")):
            e = json.loads(path.read_text())
            per_episode = e["events_per_episode"]
            seed = {
                return_key: round(e["team_return_mean"], 2),
                "sd": round(e["team_return_std"], 2),
                **{name: round(per_episode[event], 1) for name, event in events.items()},
                "env_steps": e["env_steps"],
            }
            per = (e.get("concept_accuracy") or {}).get("per_concept")
            if per:
                held_out = run_dir / "eval" / f"{run.name}_{path.parent.name.replace('_', '')}"
                seed["concepts"] = concept_summary(with_balanced(per, held_out, mode(run)))
            seeds[path.parent.name] = seed
        if seeds:
            out[run.name] = {"seeds": seeds, **{f"{k}_mean": round(float(np.mean([s[k] for s in seeds.values()])), 2) for k in means}}
    return out


def training(run_dir: Path) -> dict:
    events = {"apples": "ate_apple", "cleaned": "cleaned", "fines_fired": "fired_penalty"}
    return trained_runs(run_dir, "collective_return", events, ("collective_return", "apples", "cleaned"))


def division_of_labour(roles: list[dict]) -> bool:
    """One agent does ≥ 50% of the team's cleaning while the others eat ≥ 50% of its apples."""
    return any(r["cleaner_share"] >= 0.5 and r["harvester_share"] <= 0.5 for r in roles)


def subjects(run_dir: Path) -> dict:
    path = run_dir / "study" / "summary.json"
    if not path.exists():
        return {}
    out = {}
    for s in json.loads(path.read_text())["subjects"]:
        lazy = {f["subject"]: f["label"] for f in s.get("findings") or () if f["detector"] == "lazy_agent"}
        edges = [
            f"{e['source']}→{e['target']} ({e.get('probes', '')}, {e['diff']:+.2f})"
            for e in (s.get("dependency_graph") or {}).get("edges", [])
        ]
        out[s["subject"]] = {
            "policy": s["policy"],
            "control_collective_return": round(s["control_team_return"], 2),
            "roles": s.get("roles_text"),
            "division_of_labour": division_of_labour(s.get("roles") or []),
            "lazy": lazy,
            "dependency_edges": edges,
        }
    return out


def knockout_flagged(lazy: dict[str, str]) -> list[str]:
    """The agents the knock-out lazy test (``idle:<agent>`` probes) calls lazy."""
    return sorted(a.split(" ")[0] for a, label in lazy.items() if label == "lazy" and "(idle probe)" in a)


def planted(study: dict) -> dict:
    """The detectors against the seated truth."""
    out = {}
    for name, s in study.items():
        if name.endswith("planted_idle"):
            knockout = knockout_flagged(s["lazy"])
            own_mask = sorted(a for a, label in s["lazy"].items() if label == "lazy" and "(" not in a)
            out[name] = {
                "knockout_flagged": knockout,
                "own_mask_flagged": own_mask,
                "passed": knockout == ["agent_2"],
                "own_mask_passed": own_mask == ["agent_2"],
            }
        elif name.endswith("planted_cleaner"):
            sources = [e.split("→")[1].split(" ")[0] for e in s["dependency_edges"] if e.startswith("agent_0→")]
            trained = [f"agent_{i}" for i in range(1, 5)]
            out[name] = {"depend_on_cleaner": sorted(set(sources)), "passed": set(trained) <= set(sources)}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args(argv)
    train = training(args.run_dir)
    study = subjects(args.run_dir)
    result = {"benchmark": "cleanup_results", "run_dir": str(args.run_dir), "training": train}
    if "cleanup_cbp" in train and "cleanup_baseline" in train:
        base = train["cleanup_baseline"]["collective_return_mean"]
        result["parity"] = round(train["cleanup_cbp"]["collective_return_mean"] / base, 3) if base else None
    result["study"] = study
    result["planted"] = planted(study)
    roles = args.run_dir / "behaviour" / "analysis" / "roles.json"
    if roles.exists():
        r = json.loads(roles.read_text())
        result["behaviour_vs_roles"] = {"ari": r["adjusted_rand_index"], "nmi": r["normalized_mutual_info"], "roles": r["roles"]}
    return emit(result, args.out)


if __name__ == "__main__":
    sys.exit(main())
