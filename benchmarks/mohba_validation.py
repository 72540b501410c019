"""Validation of the MOHBA analyser on planted behaviours and a planted changepoint; prints JSON.

Planted behaviours: scripted agents with known per-agent modes, recorded in teams of known
composition (``TEAMS`` below; the same composition is recorded in both agent orders where it
has two roles, so the joint level must not depend on agent order). Training episodes and
held-out episodes come from different seeds. Scored on the held-out episodes, per episode
(window latents averaged over the episode), with clusterings fitted on the training episodes:
- adjusted Rand index (ARI) of the agent-level clusters vs the true modes (target ≥ 0.9),
- ARI of the team-level clusters vs the true compositions (target ≥ 0.8),
for MOHBA and two baselines: k-means on per-episode summary statistics (mean step features per
agent; a team is the agent-order-free [mean, min, max] over its agents), and a flat VAE (the same
model without z^ω; a team is [mean, min, max] of its agents' z^α). Each with k chosen (BIC for
the Gaussian mixtures, silhouette for k-means) and with k set to the truth.

Planted changepoint: ``checkpoints`` datasets with iterations 0..C-1 whose team mix switches at
``change_at``; the analyser is trained on all of them, its joint clusters' occupancy per
checkpoint goes to the detector, success = a change found within ±1 of the planted index.

Usage: ``python benchmarks/mohba_validation.py --env cooking [--quick] [--out DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, homogeneity_score, silhouette_score
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.dataset import PolicyInfo, load
from analysis.mohba.changepoints import detect, occupancy, split_by_checkpoint
from analysis.mohba.cluster import ClusterConfig, discover, predict
from analysis.mohba.encode import Analyser, Units
from analysis.mohba.features import FeatureConfig
from analysis.mohba.fit import FitConfig
from marl.record import record

SETUPS = {
    "cooking": {
        # cramped_room compositions in which every scripted role does its job, checked with
        # `benchmarks/scripted_cooking.py --pairs`: in this kitchen a planner next to a dish agent or
        # a second planner only fetches onions, a dish or ingredient agent next to an idle one stops
        # after the first pot, and a planner as agent_1 beside an idle agent_0 stops after 3 onions
        # (the idle agent blocks its way): those are left out
        "config": {"layout": "cramped_room"},
        "teams": [
            "planner,idle",
            "ingredient,dish",
            "dish,ingredient",
            "planner,ingredient",
            "ingredient,planner",
            "idle,idle",
        ],
        "before": ["planner,idle", "ingredient,dish"],
        "after": ["ingredient,planner", "dish,ingredient"],
    },
    "cleanup": {
        "config": {"horizon": 300},
        "teams": [
            "cleaner,cleaner,harvester,harvester,harvester",
            "harvester,harvester,cleaner,cleaner,harvester",
            "cleaner,harvester,free_rider,free_rider,punisher",
            "punisher,harvester,harvester,cleaner,free_rider",
            "free_rider,free_rider,free_rider,harvester,harvester",
            "cleaner,cleaner,punisher,free_rider,harvester",
        ],
        "before": ["cleaner,cleaner,harvester,harvester,harvester"],
        "after": ["cleaner,cleaner,punisher,free_rider,harvester"],
    },
}


def record_teams(root: Path, env: str, config: dict, teams: list[str], episodes: int, seed: int, iteration: int = -1) -> list[Path]:
    """One dataset per team under ``root``; returns their paths."""
    paths = []
    for i, team in enumerate(teams):
        path = root / f"{env}-{team.replace(',', '+')}-s{seed}-it{iteration}"
        info = PolicyInfo(kind="scripted", name=f"scripted:{team}", iteration=iteration)
        record(
            env,
            config,
            f"scripted:{team}",
            episodes,
            path,
            seed=seed * 1000 + i,
            num_envs=min(episodes, 16),
            policy_info=info,
            store_obs=False,
            progress=False,
        )
        paths.append(path)
    return paths


def truth(episodes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(E, N) true role names, (E,) composition ids (sorted roles) and (E, N) role-in-team names."""
    roles = np.array([p.split(":", 1)[1].split(",") for p in episodes.policy])
    comps = np.array(["+".join(sorted(r)) for r in roles])
    in_team = np.array([[f"{r}@{c}" for r in row] for row, c in zip(roles, comps)])
    return roles, comps, in_team


def _ari(truth_labels: np.ndarray, labels: np.ndarray) -> float:
    return round(float(adjusted_rand_score(truth_labels, labels)), 4)


def _scores(truth: tuple[np.ndarray, np.ndarray, np.ndarray], local: np.ndarray, joint: np.ndarray, k_local: int, k_joint: int) -> dict:
    """ARIs vs the planted modes and compositions, plus how pure the agent clusters are."""
    modes, comps, in_team = truth
    return {
        "agent_ari": _ari(modes.reshape(-1), local.reshape(-1)),
        "team_ari": _ari(comps, joint),
        "agent_homogeneity": round(float(homogeneity_score(modes.reshape(-1), local.reshape(-1))), 4),
        "agent_ari_vs_role_in_team": _ari(in_team.reshape(-1), local.reshape(-1)),
        "k_local": int(k_local),
        "k_joint": int(k_joint),
    }


def _team_of(agent_vectors: np.ndarray) -> np.ndarray:
    """(U, N, d) → (U, 3d): mean, min and max over agents (independent of agent order)."""
    return np.concatenate([agent_vectors.mean(1), agent_vectors.min(1), agent_vectors.max(1)], axis=1)


def _kmeans(train: np.ndarray, test: np.ndarray, k: int | None, seed: int) -> tuple[np.ndarray, int]:
    scaler = StandardScaler().fit(train)
    xs, xt = scaler.transform(train), scaler.transform(test)
    if k is None:
        scores = {kk: silhouette_score(xs, KMeans(kk, n_init=10, random_state=seed).fit_predict(xs)) for kk in range(2, 11)}
        k = max(scores, key=scores.get)
    return KMeans(k, n_init=10, random_state=seed).fit(xs).predict(xt), k


def score_latents(train: Units, test: Units, truth: tuple, k_true: tuple[int, int], seed: int) -> dict:
    """ARIs of the latent clusterings (chosen k and true k), fitted on ``train``, scored on ``test``."""
    out = {}
    for tag, (kj, kl) in {"k_chosen": (None, None), "k_true": k_true}.items():
        if train.joint is None:  # flat VAE: a team is its agents' latents, pooled
            train = Units(train.episode, None, _team_of(train.local), train.local, train.summary, train.team_return)
            test = Units(test.episode, None, _team_of(test.local), test.local, test.summary, test.team_return)
        found = discover(train, ClusterConfig(k_joint=kj, k_local=kl, seed=seed))
        joint, local = predict(found, test)
        out[tag] = _scores(truth, local, joint, found.local.k, found.joint.k)
    return out


def score_summary_kmeans(train: Units, test: Units, truth: tuple, k_true: tuple[int, int], seed: int) -> dict:
    """The k-means baseline on per-episode summary statistics."""
    d = train.summary.shape[-1]
    out = {}
    for tag, (kj, kl) in {"k_chosen": (None, None), "k_true": k_true}.items():
        local, k_local = _kmeans(train.summary.reshape(-1, d), test.summary.reshape(-1, d), kl, seed)
        joint, k_joint = _kmeans(_team_of(train.summary), _team_of(test.summary), kj, seed)
        out[tag] = _scores(truth, local, joint, k_local, k_joint)
    return out


def planted_behaviours(env: str, root: Path, args: argparse.Namespace) -> dict:
    setup = SETUPS[env]
    t0 = time.perf_counter()
    train_eps = load(
        record_teams(root / "train", env, setup["config"], setup["teams"], args.episodes, seed=1),
        fields=("actions", "rewards", "concepts", "events"),
    )
    test_eps = load(
        record_teams(root / "test", env, setup["config"], setup["teams"], max(args.episodes // 2, 2), seed=2),
        fields=("actions", "rewards", "concepts", "events"),
    )
    recorded = time.perf_counter() - t0
    test_truth, train_truth = truth(test_eps), truth(train_eps)
    k_true = (len(np.unique(train_truth[1])), len(np.unique(train_truth[0])))
    features = FeatureConfig(window=args.window, stride=args.stride)
    train_cfg = FitConfig(epochs=args.epochs, seed=args.seed)
    result = {
        "env": env,
        "teams": setup["teams"],
        "train_episodes": train_eps.num_episodes,
        "test_episodes": test_eps.num_episodes,
        "record_s": round(recorded, 1),
    }
    for name, options in {"mohba": {}, "flat_vae": {"hierarchical": False}}.items():
        t = time.perf_counter()
        analyser, windows, fit = Analyser.fit(train_eps, features, train_cfg, options)
        train_units = analyser.units(windows)
        test_units = analyser.units(analyser.windows(test_eps))
        result[name] = {
            **score_latents(train_units, test_units, test_truth, k_true, args.seed),
            "train_s": round(fit.seconds, 1),
            "epochs": len(fit.history),
            "total_s": round(time.perf_counter() - t, 1),
        }
        if name == "mohba":
            summary_units = (train_units, test_units)
    result["kmeans_summary"] = score_summary_kmeans(*summary_units, test_truth, k_true, args.seed)
    result["targets"] = {"agent_ari": 0.9, "team_ari": 0.8}
    return result


def planted_changepoint(env: str, root: Path, args: argparse.Namespace) -> dict:
    setup = SETUPS[env]
    paths = []
    for c in range(args.checkpoints):
        mix = setup["before"] if c < args.change_at else setup["after"]
        paths += record_teams(root / "ckpt", env, setup["config"], mix, args.checkpoint_episodes, seed=100 + c, iteration=c)
    eps = load(paths, fields=("actions", "rewards", "concepts", "events"))
    analyser, windows, _ = Analyser.fit(
        eps, FeatureConfig(window=args.window, stride=args.stride), FitConfig(epochs=args.epochs, seed=args.seed)
    )
    units = analyser.units(windows)
    found = discover(units, ClusterConfig(seed=args.seed))
    out = {
        "k_joint": found.joint.k,
        "k_local": found.local.k,
        "checkpoints": args.checkpoints,
        "planted_index": args.change_at,
        "episodes_per_checkpoint": args.checkpoint_episodes * len(setup["before"]),
    }
    for level, labels, its, k in (
        ("joint", found.joint.labels, eps.iteration[units.episode], found.joint.k),
        ("local", found.local_labels.reshape(-1), np.repeat(eps.iteration[units.episode], found.local_labels.shape[1]), found.local.k),
    ):
        frac, counts = occupancy(split_by_checkpoint(labels, its)[1], k)
        for method in ("pelt", "chi2"):
            changes = detect(frac, counts, method=method)
            found_idx = [c.index for c in changes]
            out[f"{level}_{method}"] = {
                "found": found_idx,
                "hit": any(abs(i - args.change_at) <= 1 for i in found_idx),
                "false": [i for i in found_idx if abs(i - args.change_at) > 1],
            }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", choices=(*SETUPS, "both"), default="cooking")
    parser.add_argument("--episodes", type=int, default=48, help="training episodes per team (held-out: half)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--window", type=int, default=32)
    parser.add_argument("--stride", type=int, default=16)
    parser.add_argument("--checkpoints", type=int, default=10)
    parser.add_argument("--change-at", type=int, default=6)
    parser.add_argument("--checkpoint-episodes", type=int, default=8, help="episodes per team per checkpoint")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    parser.add_argument("--out", default=None, help="keep the recorded datasets here (default: a temporary directory)")
    args = parser.parse_args()
    if args.quick:
        args.episodes, args.epochs, args.checkpoints, args.change_at, args.checkpoint_episodes = 8, 4, 4, 2, 4
    envs = list(SETUPS) if args.env == "both" else [args.env]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.out or tmp)
        results = {}
        for env in envs:
            results[env] = {
                "planted_behaviours": planted_behaviours(env, root / env, args),
                "planted_changepoint": planted_changepoint(env, root / env, args),
            }
    print(json.dumps({"benchmark": "mohba_validation", "args": vars(args), "results": results}, indent=2))


if __name__ == "__main__":
    main()
