"""Effects of interventions on outcomes, with honest statistics.

Input: a per-episode outcome table (one row per episode: a ``condition`` column and numeric
outcome columns), usually built by ``episode_outcomes`` from recorded datasets. Each condition is
compared with the control, outcome by outcome: as two independent samples of episodes, or, when
a ``pair`` column matches every episode of the condition to one of the control's (a study's
common random numbers: the same env and policy seeds under every condition), as paired samples:

- mean difference, condition − control;
- a bootstrap 95% confidence interval of that difference (``scipy.stats.bootstrap``, BCa; the
  percentile interval where BCa is degenerate, e.g. when every episode gives the same value);
  paired: of the mean of the per-pair differences;
- a two-sided permutation p-value (``scipy.stats.permutation_test``: independent samples, or
  paired by sign flips within pairs; exact when the distinct permutations are at most
  ``n_resamples``, e.g. 16 pairs have 2^16 = 65,536: the smallest p of a large family needs
  that many, since Holm multiplies it by the number of tests);
- a correction over all (condition, outcome) tests: Holm (controls the family-wise error rate) or
  Benjamini–Hochberg (controls the false discovery rate, ``scipy.stats.false_discovery_control``);
- a standardised effect size, Hedges' g (pooled SD, small-sample corrected; 0 when both samples
  are constant and equal, ±inf when constant and different).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

CORRECTIONS = ("holm", "bh", "none")


def episode_outcomes(eps) -> pd.DataFrame:
    """One row per episode of an ``analysis.dataset.Episodes``: returns and event totals.

    Columns: condition, policy, iteration, episode_id, length, team_return (``EnvSpec.team_return``:
    the sum of the agents' returns, or their mean where every agent receives the team's reward),
    return_<agent>, <event> (team total) and <event>_<agent> for each event.
    """
    mask = eps.mask.astype(np.float32)  # (E, T)
    rewards = eps.rewards * mask[:, :, None]  # (E, T, N)
    events = eps.events.astype(np.float64) * mask[:, :, None, None]  # (E, T, N, V)
    per_agent_return = rewards.sum(axis=1)  # (E, N)
    per_agent_events = events.sum(axis=1)  # (E, N, V)
    table = {
        "condition": eps.condition.astype(str),
        "policy": eps.policy.astype(str),
        "iteration": eps.iteration,
        "episode_id": eps.episode_ids,
        "length": eps.mask.sum(axis=1),
        "team_return": eps.spec.team_return(per_agent_return),
    }
    for n, agent in enumerate(eps.spec.agents):
        table[f"return_{agent}"] = per_agent_return[:, n]
    for v, name in enumerate(eps.spec.event_names):
        table[name] = per_agent_events[:, :, v].sum(axis=1)
        for n, agent in enumerate(eps.spec.agents):
            table[f"{name}_{agent}"] = per_agent_events[:, n, v]
    return pd.DataFrame(table)


def _mean_diff(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(y, axis=axis) - np.mean(x, axis=axis)


def hedges_g(control: np.ndarray, treated: np.ndarray) -> float:
    """Standardised mean difference (treated − control) with Hedges' small-sample correction."""
    n1, n2 = len(control), len(treated)
    diff = float(np.mean(treated) - np.mean(control))
    dof = n1 + n2 - 2
    pooled = np.sqrt(((n1 - 1) * np.var(control, ddof=1) + (n2 - 1) * np.var(treated, ddof=1)) / dof) if dof > 0 else 0.0
    if pooled == 0:
        return 0.0 if diff == 0 else float(np.sign(diff) * np.inf)
    correction = 1 - 3 / (4 * dof - 1)
    return diff / pooled * correction


def compare(control: np.ndarray, treated: np.ndarray, *, paired: bool = False, n_resamples: int = 9999, seed: int = 0) -> dict[str, float]:
    """Difference of means with bootstrap CI, permutation p-value and Hedges' g (``paired``: ``treated[i]`` pairs ``control[i]``)."""
    control = np.asarray(control, dtype=np.float64)
    treated = np.asarray(treated, dtype=np.float64)
    if len(control) < 2 or len(treated) < 2:
        raise ValueError(f"need at least 2 episodes per condition, got control={len(control)}, treated={len(treated)}")
    if paired and len(control) != len(treated):
        raise ValueError(f"paired samples need equal sizes, got control={len(control)}, treated={len(treated)}")
    diff = float(np.mean(treated) - np.mean(control))
    samples = (treated - control,) if paired else (control, treated)
    low, high = _bootstrap_ci(samples, n_resamples, seed)
    if np.ptp(np.concatenate(samples)) == 0:
        p = 1.0 if not paired or samples[0][0] == 0 else float(2.0 ** (1 - len(control)))  # constant: no evidence / every sign alike
    else:
        p = float(
            stats.permutation_test(
                (control, treated),
                _mean_diff,
                vectorized=True,
                n_resamples=n_resamples,
                alternative="two-sided",
                permutation_type="samples" if paired else "independent",
                rng=seed,
            ).pvalue
        )
    return {"diff": diff, "ci_low": low, "ci_high": high, "p_value": p, "hedges_g": hedges_g(control, treated)}


def _bootstrap_ci(samples: tuple[np.ndarray, ...], n_resamples: int, seed: int) -> tuple[float, float]:
    """CI of the mean difference: of (control, treated) samples, or of one sample of paired differences."""
    if all(np.ptp(s) == 0 for s in samples):
        d = float(samples[0][0]) if len(samples) == 1 else float(samples[1][0] - samples[0][0])
        return d, d
    statistic = _mean_diff if len(samples) == 2 else np.mean
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ci = stats.bootstrap(samples, statistic, vectorized=True, n_resamples=n_resamples, method=method, rng=seed).confidence_interval
        if np.isfinite(ci.low) and np.isfinite(ci.high):
            return float(ci.low), float(ci.high)
    return float("nan"), float("nan")


def adjust(p_values: Sequence[float], method: str = "holm") -> np.ndarray:
    """Multiple-testing adjusted p-values: ``holm``, ``bh`` (Benjamini–Hochberg) or ``none``."""
    if method not in CORRECTIONS:
        raise ValueError(f"correction={method!r} is not allowed; choose one of: {', '.join(CORRECTIONS)}")
    p = np.asarray(p_values, dtype=np.float64)
    if method == "none" or p.size == 0:
        return p.copy()
    if method == "bh":
        return stats.false_discovery_control(p, method="bh")
    order = np.argsort(p)
    m = len(p)
    stepped = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty_like(p)
    out[order] = stepped
    return out


def effects(
    table: pd.DataFrame,
    outcomes: Sequence[str],
    *,
    control: str = "control",
    correction: str = "holm",
    alpha: float = 0.05,
    n_resamples: int = 9999,
    seed: int = 0,
    pair: str | None = None,
) -> pd.DataFrame:
    """Every condition vs the control on every outcome; one row per (condition, outcome).

    ``pair`` names a column whose values match a condition's episodes to the control's one to one
    (a condition whose keys do not match is compared unpaired). Columns: condition, outcome,
    n_control, n, paired, control_mean, mean, diff, ci_low, ci_high, rel_diff (diff / |control
    mean|), hedges_g, p_value, p_adj, significant (p_adj < alpha).
    """
    if "condition" not in table:
        raise ValueError("the outcome table needs a 'condition' column")
    conditions = list(dict.fromkeys(table["condition"]))
    if control not in conditions:
        raise ValueError(f"control condition {control!r} not in the table; conditions: {', '.join(map(str, conditions))}")
    missing = [o for o in outcomes if o not in table]
    if missing:
        raise ValueError(f"unknown outcome(s) {missing}; columns: {', '.join(table.columns)}")
    base = table[table["condition"] == control]
    if pair is not None:
        base = base.sort_values(pair, kind="stable")
    rows = []
    for cond in conditions:
        if cond == control:
            continue
        treated = table[table["condition"] == cond]
        paired = pair is not None and base[pair].is_unique and sorted(treated[pair]) == list(base[pair])
        if paired:
            treated = treated.sort_values(pair, kind="stable")
        for outcome in outcomes:
            x, y = base[outcome].to_numpy(), treated[outcome].to_numpy()
            res = compare(x, y, paired=paired, n_resamples=n_resamples, seed=seed)
            cmean = float(np.mean(x))
            rel = res["diff"] / abs(cmean) if cmean != 0 else float("nan")
            rows.append(
                {
                    "condition": cond,
                    "outcome": outcome,
                    "n_control": len(x),
                    "n": len(y),
                    "paired": paired,
                    "control_mean": cmean,
                    "mean": float(np.mean(y)),
                    "rel_diff": rel,
                    **res,
                }
            )
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    out["p_adj"] = adjust(out["p_value"].to_numpy(), correction)
    out["significant"] = out["p_adj"] < alpha
    return out
