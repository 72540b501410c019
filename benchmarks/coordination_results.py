"""The cooking coordination experiment across seeds: returns, hand-overs and intervention effects; JSON + PNG.

Reads a run directory written by ``ethogram experiment experiments/cooking_coordination.yaml``
(``train/<run>/seed_<s>/eval.json`` and ``study/effects.csv``) and gathers, per run, the held-out
team return and hand-overs per episode of every seed, and per (run, condition) the relative
change of the team return under the intervention in every seed with its Holm-corrected
significance. The figure puts the coordination-required and -optional kitchens side by side:
bars are the mean over seeds, dots the seeds. Nothing is recomputed: every figure comes from the
experiment's own files.

Usage: ``python benchmarks/coordination_results.py [RUN_DIR] [--png docs/coordination_effects.png]``.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

KITCHENS = {"required": "coordination required (split)", "optional": "coordination optional (gap)"}


def training_table(run_dir: Path) -> dict[str, dict]:
    """Per run: held-out team return and hand-overs per episode of each seed, and their means."""
    out = {}
    for run in sorted(p for p in (run_dir / "train").iterdir() if p.is_dir()):
        seeds = {}
        for ev in sorted(run.glob("seed_*/eval.json")):
            e = json.loads(ev.read_text())
            seeds[ev.parent.name] = {
                "team_return": e["team_return_mean"],
                "handed_over": e["events_per_episode"].get("handed_over", 0.0),
                "env_steps": e["env_steps"],
            }
        if seeds:
            out[run.name] = {
                "seeds": seeds,
                "team_return_mean": float(np.mean([s["team_return"] for s in seeds.values()])),
                "handed_over_mean": float(np.mean([s["handed_over"] for s in seeds.values()])),
            }
    return out


def effect_table(run_dir: Path) -> pd.DataFrame:
    """Team-return effects with the kitchen, policy and seed parsed from the subject name."""
    eff = pd.read_csv(run_dir / "study" / "effects.csv")
    eff = eff[eff["outcome"] == "team_return"].copy()
    parts = eff["subject"].str.extract(r"^(?P<kitchen>[a-z]+)_(?P<policy>[a-z]+)_seed(?P<seed>\d+)$")
    eff = pd.concat([eff, parts], axis=1).dropna(subset=["kitchen"])
    eff["condition"] = eff["condition"].map(lambda c: re.sub(r"agent_(\d)", r"a\1", c))
    return eff


def effects_by_condition(eff: pd.DataFrame) -> dict[str, dict[str, dict]]:
    out: dict[str, dict[str, dict]] = {}
    for (kitchen, condition), rows in eff.groupby(["kitchen", "condition"]):
        out.setdefault(kitchen, {})[condition] = {
            "rel_change_mean": float(rows["rel_diff"].mean()),
            "rel_change_per_seed": [round(float(x), 3) for x in rows.sort_values("seed")["rel_diff"]],
            "significant_seeds": int(rows["significant"].sum()),
            "seeds": len(rows),
        }
    return out


def figure(eff: pd.DataFrame, path: Path) -> None:
    conditions = sorted(eff["condition"].unique())
    kitchens = [k for k in KITCHENS if k in set(eff["kitchen"])]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(conditions) + 1.8))
    height = 0.8 / max(len(kitchens), 1)
    for i, kitchen in enumerate(kitchens):
        rows = eff[eff["kitchen"] == kitchen]
        ys = np.arange(len(conditions)) + (i - (len(kitchens) - 1) / 2) * height
        means = [rows.loc[rows["condition"] == c, "rel_diff"].mean() * 100 for c in conditions]
        ax.barh(ys, means, height=height, color=f"C{i}", alpha=0.7, label=KITCHENS[kitchen])
        for y, c in zip(ys, conditions, strict=True):
            vals = rows.loc[rows["condition"] == c, "rel_diff"] * 100
            ax.scatter(vals, np.full(len(vals), y), color="k", s=10, zorder=3)
    ax.set_yticks(np.arange(len(conditions)), conditions)
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_xlabel("change of the team return under the intervention (% of control; bars: mean, dots: seeds)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize=8, frameon=False)
    ax.set_title("Interventions on concept-bottleneck cooks")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", nargs="?", default="runs/coordination", help="experiment run directory")
    parser.add_argument("--png", default="", help="write the effects figure here (e.g. docs/coordination_effects.png)")
    args = parser.parse_args()
    run_dir = Path(args.run_dir)
    eff = effect_table(run_dir)
    if args.png:
        figure(eff, Path(args.png))
    result = {"benchmark": "coordination_results", "run_dir": str(run_dir), "training": training_table(run_dir)}
    result["effects_on_team_return"] = effects_by_condition(eff)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
