"""The training section: learning curves drawn from progress.csv, held-out results from eval.json, GIFs.

Rules:
- Curves come from ``train/<run>/seed_<s>/progress.csv`` (``marl.train``): team return per
  iteration against env steps, one thin line per seed and a thick line for the mean over seeds
  (on the steps every seed reached, interpolated); when the run trained with reward shaping, its
  weight is drawn on a second axis, because the training return includes the shaped reward.
  Concept-bottleneck runs add the training-batch concept accuracy (binary and categorical, the
  mean over the run's modules).
- Held-out numbers come from ``eval.json`` only (the final checkpoint, task reward, no shaping).
  A run's return is the mean over its seeds ± the SD over seeds; with one seed, ± the SD over
  that seed's held-out episodes. Every table says which.
- Figures are drawn with matplotlib's object API (no pyplot state) and embedded as PNG bytes.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from analysis.report import html as H
from analysis.report import numbers as fmt
from analysis.report.collect import Media, RunDir, TrainRun, Trial

ACCURACIES = ("binary_acc", "categorical_acc")
GIF_WIDTH = 360
"""Display width of the (small) env renders, in CSS pixels; they are scaled up without smoothing."""


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def accuracy_curve(progress: pd.DataFrame, kind: str) -> np.ndarray | None:
    """(iterations,) mean over modules of ``<module>/<kind>``; None when the run has no such column."""
    cols = [c for c in progress.columns if c.endswith("/" + kind) and not c.startswith("events/")]
    if not cols:
        return None
    values = progress[cols].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)  # (I, modules)
    return np.nanmean(values, axis=1) if np.isfinite(values).any() else None


def mean_curve(xs: Sequence[np.ndarray], ys: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Mean of several curves on the first curve's x values up to the shortest run's last x."""
    end = min(float(x[-1]) for x in xs)
    grid = xs[0][xs[0] <= end]
    return grid, np.mean([np.interp(grid, x, y) for x, y in zip(xs, ys, strict=True)], axis=0)


def _with_progress(run: TrainRun) -> list[Trial]:
    return [t for t in run.trials if t.progress is not None and len(t.progress)]


def step_scale(trials: Sequence[Trial]) -> tuple[float, str]:
    """Divisor and axis label for env steps: millions, thousands or plain steps."""
    top = max(float(t.progress["env_steps"].max()) for t in trials)
    if top >= 1e6:
        return 1e6, "env steps (millions)"
    return (1e3, "env steps (thousands)") if top >= 1e4 else (1.0, "env steps")


def _style(n_points: int) -> dict[str, Any]:
    """Markers where a curve has few points (a one-point line draws nothing)."""
    return {"marker": "o", "ms": 3} if n_points < 30 else {}


def _return_panel(ax: Any, run: TrainRun, trials: list[Trial], scale: float, xlabel: str) -> None:
    xs = [t.progress["env_steps"].to_numpy(dtype=np.float64) / scale for t in trials]
    ys = [pd.to_numeric(t.progress["team_return_mean"], errors="coerce").to_numpy(dtype=np.float64) for t in trials]
    for t, x, y in zip(trials, xs, ys, strict=True):
        ax.plot(x, y, lw=0.8, alpha=0.45 if len(trials) > 1 else 1.0, label=f"seed {t.seed}", **_style(len(x)))
    if len(trials) > 1:
        gx, gy = mean_curve(xs, ys)
        ax.plot(gx, gy, color="black", lw=2, label="mean over seeds", **_style(len(gx)))
    if not any(np.isfinite(y).any() for y in ys):
        ax.text(0.5, 0.5, "no episode finished during training", ha="center", va="center", transform=ax.transAxes, color="grey")
    ax.set(xlabel=xlabel, ylabel="team return per episode", title=f"{run.name}: training return")
    shaping = [t.progress["shaping_weight"].to_numpy(dtype=np.float64) for t in trials if "shaping_weight" in t.progress]
    if shaping and np.nanmax(shaping[0]) > 0:
        twin = ax.twinx()
        twin.plot(xs[0], shaping[0], color="grey", ls="--", lw=1)
        twin.set_ylabel("shaping weight (dashed)", color="grey")
        twin.set_ylim(0, 1.05 * max(1.0, float(np.nanmax(shaping[0]))))
    ax.legend(fontsize=8, loc="lower right")


def _accuracy_panel(ax: Any, trials: list[Trial], acc: dict[str, list[np.ndarray | None]], scale: float, xlabel: str) -> None:
    for kind, style in zip(ACCURACIES, ("-", ":"), strict=True):
        for i, (t, a) in enumerate(zip(trials, acc[kind], strict=True)):
            if a is not None:
                x = t.progress["env_steps"].to_numpy(dtype=np.float64) / scale
                ax.plot(x, a, ls=style, lw=1.2, color=f"C{i}", label=f"{kind.split('_')[0]}, seed {t.seed}", **_style(len(x)))
    ax.set(xlabel=xlabel, ylabel="accuracy on training batches", title="bottleneck concepts", ylim=(0, 1.02))
    ax.legend(fontsize=8, loc="lower right")


def learning_figure(run: TrainRun) -> bytes | None:
    """PNG of the run's learning curves (module docstring); None when no trial has progress rows."""
    from matplotlib.figure import Figure

    trials = _with_progress(run)
    if not trials:
        return None
    acc = {kind: [accuracy_curve(t.progress, kind) for t in trials] for kind in ACCURACIES}
    has_acc = any(a is not None for curves in acc.values() for a in curves)
    fig = Figure(figsize=(10.5 if has_acc else 6.2, 3.5), layout="constrained")
    axes = fig.subplots(1, 2 if has_acc else 1, squeeze=False)[0]
    scale, xlabel = step_scale(trials)
    _return_panel(axes[0], run, trials, scale, xlabel)
    if has_acc:
        _accuracy_panel(axes[1], trials, acc, scale, xlabel)
    return _png(fig)


def comparison_figure(runs: Sequence[TrainRun]) -> bytes | None:
    """PNG of every run's mean training return on one axes (None with fewer than two runs with curves)."""
    from matplotlib.figure import Figure

    drawn = [(r, _with_progress(r)) for r in runs]
    drawn = [(r, ts) for r, ts in drawn if ts]
    if len(drawn) < 2:
        return None
    fig = Figure(figsize=(6.8, 3.6), layout="constrained")
    ax = fig.subplots()
    scale, xlabel = step_scale([t for _, ts in drawn for t in ts])
    for run, trials in drawn:
        xs = [t.progress["env_steps"].to_numpy(dtype=np.float64) / scale for t in trials]
        ys = [pd.to_numeric(t.progress["team_return_mean"], errors="coerce").to_numpy(dtype=np.float64) for t in trials]
        gx, gy = mean_curve(xs, ys)
        ax.plot(gx, gy, lw=1.6, label=f"{run.name} ({run.policy}, {len(trials)} seed{'s' if len(trials) > 1 else ''})", **_style(len(gx)))
    ax.set(xlabel=xlabel, ylabel="team return per episode", title="training return, mean over seeds")
    ax.legend(fontsize=8)
    return _png(fig)


def held_out(run: TrainRun) -> dict[str, Any]:
    """Run-level held-out numbers: mean/SD of team return (over seeds, or episodes with one seed), accuracies."""
    evals = [t.evaluation for t in run.trials if t.evaluation]
    if not evals:
        return {"seeds": 0}
    means = np.array([e["team_return_mean"] for e in evals], dtype=np.float64)
    if len(evals) > 1:
        sd, over = float(means.std(ddof=1)), "seeds"
    else:
        sd, over = float(evals[0]["team_return_std"]), f"{evals[0]['episodes']} episodes"
    out: dict[str, Any] = {"seeds": len(evals), "mean": float(means.mean()), "sd": sd, "over": over}
    for key in (*ACCURACIES, "regression_mse"):
        vals = [e["concept_accuracy"][key] for e in evals if e.get("concept_accuracy") and key in e["concept_accuracy"]]
        out[key] = float(np.mean(vals)) if vals else None
    env_steps = [float(e["env_steps"]) for e in evals if "env_steps" in e]
    out["env_steps"] = (min(env_steps), max(env_steps)) if env_steps else (None, None)
    return out


def steps_range(low_high: tuple[float | None, float | None]) -> str:
    low, high = low_high
    return fmt.steps(low) if low == high else f"{fmt.steps(low)}–{fmt.steps(high)}"


def summary_table(runs: Sequence[TrainRun]) -> str:
    rows, attrs = [], []
    for run in runs:
        h = held_out(run)
        rows.append(
            [
                H.cell(run.name),
                H.cell(run.policy),
                H.cell(run.env_short),
                H.ncell(len(run.trials), str(len(run.trials))),
                H.ncell(h.get("env_steps", (None, None))[1], steps_range(h.get("env_steps", (None, None)))),
                H.ncell(h.get("mean"), fmt.mean_sd(h.get("mean"), h.get("sd")) if h.get("seeds") else "no eval.json"),
                *[H.ncell(h.get(k), fmt.percent(h.get(k), 1)) for k in ACCURACIES],
                H.ncell(h.get("regression_mse"), fmt.num(h.get("regression_mse"))),
            ]
        )
        attrs.append({"data-run": run.name})
    head = ["run", "policy", "env", "seeds", "env steps", "held-out team return", "binary acc", "categorical acc", "regression MSE"]
    caption = (
        "Final checkpoints on held-out episodes (eval.json: task reward, no shaping): mean over seeds ± SD over seeds"
        " (a run with one seed: ± SD over its episodes). Concept accuracy: the bottleneck's predictions against ground truth."
    )
    return H.table(head, rows, caption=caption, row_attrs=attrs)


def _trial_row(t: Trial) -> list[str]:
    p, e = t.progress, t.evaluation or {}
    last = p["team_return_mean"].tail(5).mean() if p is not None and len(p) else None
    acc = e.get("concept_accuracy") or {}
    return [
        H.ncell(t.seed, str(t.seed)),
        H.ncell(None if p is None else len(p), fmt.num(None if p is None else len(p))),
        H.ncell(e.get("env_steps"), fmt.num(e.get("env_steps"))),
        H.ncell(
            None if p is None or "time_s" not in p else float(p["time_s"].iloc[-1]),
            fmt.duration(None if p is None or "time_s" not in p else p["time_s"].iloc[-1]),
        ),
        H.ncell(last, fmt.num(last)),
        H.ncell(
            e.get("team_return_mean"),
            fmt.mean_sd(e.get("team_return_mean"), e.get("team_return_std")) + (f" ({e['episodes']} ep.)" if e else ""),
        ),
        *[H.ncell(acc.get(k), fmt.percent(acc.get(k), 1)) for k in ACCURACIES],
        H.ncell(acc.get("regression_mse"), fmt.num(acc.get("regression_mse"))),
    ]


def _events_table(run: TrainRun) -> str:
    """Per-agent returns and event counts per held-out episode, seed by seed (folded)."""
    evals = [(t.seed, t.evaluation) for t in run.trials if t.evaluation]
    rows = []
    for key, prefix in (("return_per_agent", "return of "), ("events_per_episode", "")):
        names = list(dict.fromkeys(n for _, e in evals for n in e.get(key) or {}))
        rows += [
            [H.cell(prefix + n), *[H.ncell((e.get(key) or {}).get(n), fmt.num((e.get(key) or {}).get(n))) for _, e in evals]] for n in names
        ]
    if not rows:
        return ""
    body = H.table(
        ["per held-out episode", *[f"seed {s}" for s, _ in evals]], rows, caption="Each agent's return, and each event's team total."
    )
    return H.details("Per-agent returns and events per held-out episode", body)


def concept_figure(entry: dict[str, Any]) -> str:
    """One concept's held-out figure: accuracy (binary, categorical), cells off (position), MSE (scalar)."""
    if "accuracy" in entry:
        return fmt.percent(entry["accuracy"], 1)
    if entry.get("error_cells") is not None:
        return f"{fmt.num(entry['error_cells'])} cells"
    return f"MSE {fmt.num(entry.get('mse'))}"


def _concepts_table(run: TrainRun) -> str:
    """Every concept's held-out accuracy, seed by seed (folded)."""
    evals = [(t.seed, (t.evaluation.get("concept_accuracy") or {}).get("per_concept")) for t in run.trials if t.evaluation]
    evals = [(seed, per) for seed, per in evals if per]
    if not evals:
        return ""
    names = list(dict.fromkeys(n for _, per in evals for n in per))
    rows = [
        [H.cell(n), H.cell(evals[0][1][n]["kind"]), *[H.cell(concept_figure(per[n]) if n in per else fmt.DASH) for _, per in evals]]
        for n in names
    ]
    caption = (
        "The bottleneck's prediction of each concept on held-out episodes: accuracy (binary, categorical), mean distance"
        " in cells where the object exists (position), MSE (scalar)."
    )
    body = H.table(["concept", "kind", *[f"seed {s}" for s, _ in evals]], rows, caption=caption)
    return H.details(f"Per-concept accuracy on held-out episodes ({len(names)} concepts)", body)


def _gif(media: Media) -> str:
    from PIL import Image

    try:
        with Image.open(media.path) as im:
            w = im.size[0]
    except (OSError, ValueError) as exc:
        return H.note(f"media/{media.path.name} is not a readable image ({exc}).", error=True)
    scale = max(1, round(GIF_WIDTH / max(w, 1)))
    what = "one episode of the final policy" if media.path.suffix == ".gif" else "a still of the final policy"
    caption = f"{media.path.name}: {what}" + (f" (seed {media.seed})" if media.seed is not None else "") + ", rendered by the env."
    return H.figure(media.path, caption, f"render of {media.path.stem}", width=w * scale, pixelated=True)


def run_block(run: TrainRun, media: Sequence[Media]) -> str:
    """One run: curves, per-seed table, events, GIFs."""
    parts = [f'<h3 id="{H.slug("run", run.name)}">Run {H.esc(run.name)}</h3>']
    cfg = run.config
    extra = ", ".join(f"{k} {cfg[k]}" for k in ("sharing", "max_env_steps") if k in cfg)
    seeds = f"{len(run.trials)} seed{'s' if len(run.trials) > 1 else ''}"
    parts.append(
        f"<p>Policy <b>{H.esc(run.policy)}</b> trained on <b>{H.esc(run.env)}</b>; {seeds}{'; ' + H.esc(extra) if extra else ''}.</p>"
    )
    png = learning_figure(run)
    if png is None:
        parts.append(H.note(f"No learning curve: no seed of {run.name} has a readable progress.csv."))
    else:
        caption = (
            "Team return per training iteration (mean over that iteration's episodes, including any shaped reward) against env steps"
            + ("; thin lines are seeds, the thick line their mean" if len(_with_progress(run)) > 1 else "")
            + (
                ". Right: concept accuracy of the bottleneck on training batches (solid binary, dotted categorical)."
                if accuracy_curve(_with_progress(run)[0].progress, "binary_acc") is not None
                else "."
            )
        )
        parts.append(H.figure(png, caption, f"learning curves of {run.name}"))
    head = [
        "seed",
        "iterations",
        "env steps",
        "train time",
        "train return (last 5)",
        "held-out return ± SD",
        "binary",
        "categorical",
        "MSE",
    ]
    caption = (
        "Per seed: iterations, env steps and wall time of training; the team return of the last 5 training iterations;"
        " the held-out return ± SD over that seed's held-out episodes; the bottleneck's concept accuracy (binary, categorical)"
        " and position/scalar MSE on held-out episodes."
    )
    rows = [_trial_row(t) for t in run.trials]
    parts.append(H.table(head, rows, caption=caption, row_attrs=[{"data-seed": t.seed} for t in run.trials]))
    missing = [t.seed for t in run.trials if t.evaluation is None]
    if missing:
        parts.append(H.note(f"No held-out evaluation (eval.json) for seed(s) {', '.join(map(str, missing))} of {run.name}."))
    parts.append(_events_table(run))
    parts.append(_concepts_table(run))
    mine = [m for m in media if m.run == run.name]
    if mine:
        parts.append('<div class="gallery">' + "".join(_gif(m) for m in mine) + "</div>")
    return "".join(parts)


def section(rd: RunDir, missing: str) -> H.Section:
    """The training section (``missing``: the sentence to show when there is nothing)."""
    parts = [H.note(p, error=True) for p in rd.problems.get("train", [])]
    if not rd.runs:
        parts.append(H.note(missing))
        if rd.media:
            parts.append('<div class="gallery">' + "".join(_gif(m) for m in rd.media) + "</div>")
        return H.Section("training", "Training", "".join(parts))
    parts.append(summary_table(rd.runs))
    png = comparison_figure(rd.runs)
    if png is not None:
        parts.append(
            H.figure(png, "Mean training return of every run (over its seeds, on the steps all of them reached).", "runs compared")
        )
    parts += [run_block(run, rd.media) for run in rd.runs]
    others = [m for m in rd.media if m.run not in {r.name for r in rd.runs}]
    if others:
        parts.append('<h3 id="other-media">Other media</h3><div class="gallery">' + "".join(_gif(m) for m in others) + "</div>")
    children = tuple((H.slug("run", r.name), f"Run {r.name}") for r in rd.runs)
    return H.Section("training", "Training", "".join(parts), children)
