"""Validation of the MOHBA analyser on planted behaviours and a planted changepoint; prints JSON.

Planted behaviours: scripted agents with known per-agent modes, recorded in teams of known
composition (``SETUPS`` below: cramped_room ``cooking``, ``cleanup``, and three more kitchens,
``coordination_ring``, ``counter_circuit`` and ``coordination_optional``, whose roles carry
exploration noise, ``ROLE@EPSILON``, some at different levels in different teams). A composition
with two roles is recorded in both agent orders where both orders do their job, so the joint
level must not depend on agent order. Truth: an agent's mode is its role name without the noise
suffix (``planner@0.1`` is a ``planner``); a team's composition is its sorted modes.

Training episodes (seed 1) and held-out episodes (seed 2, half as many) come from different
seeds. Scored on the held-out episodes, per episode (window latents averaged over the episode),
with clusterings fitted on the training episodes:
- adjusted Rand index (ARI) of the agent-level clusters vs the true modes (target ≥ 0.9),
- ARI of the team-level clusters vs the true compositions (target ≥ 0.9),
each with k chosen (BIC for the Gaussian mixtures, silhouette for k-means; ``k_chosen``) and
with k set to the truth (``k_true``), for four models:
- ``mohba``: the hierarchical model (``--model-options`` go to its config),
- ``flat_vae``: the same model without z^ω; a team is [mean, min, max] of its agents' z^α
  (``--flat-options``),
- ``gmm_summary``: a Gaussian mixture (full covariances, n_init 3, ``behaviours.cluster``) on
  per-episode behaviour statistics of each agent, its event counts and action frequencies
  (not the concepts: positions would let it see start cells), standardised on the training
  episodes; a team is the agent-order-free [mean, min, max] over its agents,
- ``kmeans_summary``: k-means on per-episode mean step features (concepts, events, actions).
k-stability (``--k-stability``, on by default, off with ``--quick``): the same mixture with 3×
the training episodes (the 1× recording plus 2× more from seed 3; held-out set unchanged); each
model's ``k_stability`` block holds k chosen at both levels at 1× and 3× and ``k_stable`` per level.

Planted changepoint (setups with a ``before`` and ``after`` mix: cooking and cleanup):
``checkpoints`` datasets with iterations 0..C-1 whose team mix switches at ``change_at``; the
analyser is trained on all of them, its joint clusters' occupancy per checkpoint goes to the
detector, success = a change found within ±1 of the planted index.

Datasets are recorded once per (setup, seed, episodes) under ``OUT/SETUP/s{seed}-e{episodes}``;
with ``--out`` they are kept and a later run reuses them (their manifests' policy names checked).

Usage: ``python benchmarks/mohba_validation.py [--env cooking|cleanup|coordination_ring|...|both|all
(comma-separated)] [--quick] [--k-stability/--no-k-stability] [--model-options JSON]
[--flat-options JSON] [--out DIR]``; ``both`` is cooking and cleanup, ``all`` every setup.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, homogeneity_score, silhouette_score
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.dataset import PolicyInfo, load
from analysis.dataset.reader import open_dataset
from analysis.mohba.changepoints import detect, occupancy, split_by_checkpoint
from analysis.mohba.cluster import ClusterConfig, discover, predict
from analysis.mohba.encode import Analyser, Units
from analysis.mohba.features import FeatureConfig
from analysis.mohba.fit import FitConfig
from marl.record import record

SETUPS = {
    "cooking": {
        "env": "cooking",
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
        "env": "cleanup",
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
    # The noisy kitchens below were checked with `benchmarks/scripted_cooking.py --pairs [--epsilon]`
    # and with these exact per-agent noises (16 episodes). In all three, a planner next to a dish
    # agent fetches onions only (~20-33 onions, at most 2 dishes: an ingredient mode, not a planner
    # one), and an ingredient or dish agent next to an idle one or its own role stalls after one or
    # two pots (last item event before step ~130 without noise): those teams are left out.
    "coordination_ring": {
        "env": "cooking",
        # planner,idle is left out: the planner stops after 6 onions (step ~70), with noise too;
        # idle,planner delivers 7 soups. planner+ingredient does its job in both orders here
        # (its planner carries ~13 dishes and ~9-12 onions). Noise differs between teams: the
        # planner at 0.05 beside the idle agent, at 0.1 beside the ingredient agent.
        "config": {"layout": "coordination_ring"},
        "teams": [
            "idle,planner@0.05",
            "ingredient@0.05,dish@0.05",
            "dish@0.05,ingredient@0.05",
            "planner@0.1,ingredient@0.05",
            "ingredient@0.05,planner@0.1",
            "idle,idle",
        ],
    },
    "counter_circuit": {
        "env": "cooking",
        # planner+idle delivers 5 soups in both orders. planner,ingredient is left out: the
        # planner as agent_0 there carries dishes almost only (~3-6 onions vs ~10 dishes), close
        # to the dish mode; ingredient,planner keeps a planner that does both (~11 onions, ~10 dishes).
        "config": {"layout": "counter_circuit"},
        "teams": [
            "planner@0.05,idle",
            "idle,planner@0.05",
            "ingredient@0.05,dish@0.05",
            "dish@0.05,ingredient@0.05",
            "ingredient@0.05,planner@0.05",
            "idle,idle",
        ],
    },
    "coordination_optional": {
        "env": "cooking",
        # planner+idle delivers 5-6 soups in both orders. ingredient,planner is left out: its
        # planner carries dishes almost only (~2-5 onions vs ~10 dishes); planner,ingredient keeps
        # one that does both (~11 onions, ~10 dishes). planner,planner too: agent_1 only fetches
        # onions. Noise-free and noisy roles mixed, the planner at 0.05 and 0.1, the dish agent at
        # 0.05 and 0.1.
        "config": {"layout": "coordination_optional"},
        "teams": [
            "planner@0.05,idle",
            "idle,planner@0.1",
            "ingredient,dish@0.05",
            "dish@0.1,ingredient",
            "planner@0.1,ingredient@0.05",
            "idle,idle",
        ],
    },
}

MODELS = ("mohba", "flat_vae", "gmm_summary", "kmeans_summary")
FIELDS = ("actions", "rewards", "concepts", "events")
TARGETS = {"agent_ari": 0.9, "team_ari": 0.9}


def team_path(root: Path, env: str, team: str, seed: int, iteration: int = -1) -> Path:
    """Where ``record_teams`` puts the dataset of ``team``."""
    return root / f"{env}-{team.replace(',', '+')}-s{seed}-it{iteration}"


def record_teams(root: Path, env: str, config: dict, teams: list[str], episodes: int, seed: int, iteration: int = -1) -> list[Path]:
    """One dataset per team under ``root``; returns their paths."""
    paths = []
    for i, team in enumerate(teams):
        path = team_path(root, env, team, seed, iteration)
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


def _complete(path: Path, team: str, episodes: int) -> bool:
    """Whether ``path`` already holds ``episodes`` episodes of ``team`` (a dataset of another policy is an error)."""
    if not (path / "manifest.json").exists():
        return False
    dataset = open_dataset(path)
    if dataset.manifest.policy.name != f"scripted:{team}":
        raise ValueError(f"{path} holds {dataset.manifest.policy.name!r}, not 'scripted:{team}'; use another --out")
    return dataset.num_episodes == episodes


def datasets(root: Path, name: str, teams: list[str], episodes: int, seed: int, iteration: int = -1) -> list[Path]:
    """Setup ``name``'s datasets of ``teams`` under ``root/name/s{seed}-e{episodes}``: reused when there, else recorded."""
    setup = SETUPS[name]
    folder = root / name / f"s{seed}-e{episodes}"
    paths = [team_path(folder, setup["env"], team, seed, iteration) for team in teams]
    complete = [_complete(p, team, episodes) for p, team in zip(paths, teams)]  # every manifest checked first
    if all(complete):
        return paths
    return record_teams(folder, setup["env"], setup["config"], teams, episodes, seed, iteration)


def truth(episodes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(E, N) true modes (role names without ``@EPSILON``), (E,) composition ids (sorted modes) and (E, N) mode-in-team names."""
    roles = np.array([[r.partition("@")[0] for r in p.split(":", 1)[1].split(",")] for p in episodes.policy])
    comps = np.array(["+".join(sorted(r)) for r in roles])
    in_team = np.array([[f"{r}@{c}" for r in row] for row, c in zip(roles, comps)])
    return roles, comps, in_team


def behaviour_stats(episodes) -> np.ndarray:
    """(E, N, V + A) per agent and episode: its event counts (``spec.events``) and action frequencies over valid steps."""
    mask = episodes.mask[:, :, None]  # (E, T, 1)
    counts = (episodes.events * mask[..., None]).sum(axis=1, dtype=np.float64)  # (E, N, V)
    actions = np.arange(len(episodes.spec.action_names))
    taken = (episodes.actions[..., None] == actions) & mask[..., None]  # (E, T, N, A)
    freq = taken.sum(axis=1) / np.maximum(episodes.mask.sum(axis=1), 1)[:, None, None]  # (E, N, A)
    return np.concatenate([counts, freq], axis=-1)


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


def score_summary_gmm(train_eps, test_eps, truth: tuple, k_true: tuple[int, int], seed: int) -> dict:
    """The Gaussian-mixture baseline on behaviour statistics (``behaviour_stats``), standardised on the training episodes."""
    train_x, test_x = behaviour_stats(train_eps), behaviour_stats(test_eps)
    d = train_x.shape[-1]
    scaler = StandardScaler().fit(train_x.reshape(-1, d))

    def units(x: np.ndarray) -> Units:
        z = scaler.transform(x.reshape(-1, d)).reshape(x.shape)
        return Units(np.arange(len(z)), None, None, z, z, np.zeros(len(z)))

    return score_latents(units(train_x), units(test_x), truth, k_true, seed)  # no joint: a team is [mean, min, max]


def evaluate(train_eps, test_eps, args: argparse.Namespace) -> dict[str, dict]:
    """Every model of ``MODELS`` fitted on ``train_eps`` and scored on ``test_eps``, with its timings."""
    test_truth, train_truth = truth(test_eps), truth(train_eps)
    k_true = (len(np.unique(train_truth[1])), len(np.unique(train_truth[0])))
    features = FeatureConfig(window=args.window, stride=args.stride)
    train_cfg = FitConfig(epochs=args.epochs, seed=args.seed)
    result = {}
    for name, options in {"mohba": args.model_options, "flat_vae": {**args.flat_options, "hierarchical": False}}.items():
        t = time.perf_counter()
        analyser, windows, fit = Analyser.fit(train_eps, features, train_cfg, options)
        train_units = analyser.units(windows)
        test_units = analyser.units(analyser.windows(test_eps))
        result[name] = {
            **score_latents(train_units, test_units, test_truth, k_true, args.seed),
            "options": options,
            "train_s": round(fit.seconds, 1),
            "epochs": len(fit.history),
            "total_s": round(time.perf_counter() - t, 1),
        }
        if name == "mohba":
            summary_units = (train_units, test_units)
    t = time.perf_counter()
    result["gmm_summary"] = score_summary_gmm(train_eps, test_eps, test_truth, k_true, args.seed)
    result["gmm_summary"]["total_s"] = round(time.perf_counter() - t, 1)
    t = time.perf_counter()
    result["kmeans_summary"] = score_summary_kmeans(*summary_units, test_truth, k_true, args.seed)
    result["kmeans_summary"]["total_s"] = round(time.perf_counter() - t, 1)
    return result


def k_stability(one: dict, three: dict) -> dict:
    """k chosen at both levels with 1× and 3× the training episodes, the 3× ARIs, and whether each k held."""
    keys = ("k_local", "k_joint")
    at_1, at_3 = one["k_chosen"], three["k_chosen"]
    return {
        "1x": {k: at_1[k] for k in keys},
        "3x": {k: at_3[k] for k in (*keys, "agent_ari", "team_ari")},
        "k_stable": {"local": at_1["k_local"] == at_3["k_local"], "joint": at_1["k_joint"] == at_3["k_joint"]},
    }


def planted_behaviours(name: str, root: Path, args: argparse.Namespace) -> dict:
    teams = SETUPS[name]["teams"]
    t0 = time.perf_counter()
    train_paths = datasets(root, name, teams, args.episodes, seed=1)
    train_eps = load(train_paths, fields=FIELDS)
    test_eps = load(datasets(root, name, teams, max(args.episodes // 2, 2), seed=2), fields=FIELDS)
    result = {
        "setup": name,
        "env": SETUPS[name]["env"],
        "config": SETUPS[name]["config"],
        "teams": teams,
        "train_episodes": train_eps.num_episodes,
        "test_episodes": test_eps.num_episodes,
        "record_s": round(time.perf_counter() - t0, 1),
        **evaluate(train_eps, test_eps, args),
    }
    if args.k_stability:
        t0 = time.perf_counter()
        more = load(train_paths + datasets(root, name, teams, 2 * args.episodes, seed=3), fields=FIELDS)
        result["record_3x_s"] = round(time.perf_counter() - t0, 1)
        result["train_episodes_3x"] = more.num_episodes
        three = evaluate(more, test_eps, args)
        for model in MODELS:
            result[model]["k_stability"] = k_stability(result[model], three[model])
            result[model]["k_stability"]["3x_total_s"] = three[model]["total_s"]
    result["targets"] = TARGETS
    return result


def planted_changepoint(name: str, root: Path, args: argparse.Namespace) -> dict:
    setup = SETUPS[name]
    paths = []
    for c in range(args.checkpoints):
        mix = setup["before"] if c < args.change_at else setup["after"]
        paths += datasets(root, name, mix, args.checkpoint_episodes, seed=100 + c, iteration=c)
    eps = load(paths, fields=FIELDS)
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


def _setup_names(text: str) -> list[str]:
    """``--env``: setup names, comma-separated, or ``both`` (cooking and cleanup) or ``all``."""
    names = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if part not in (*SETUPS, "both", "all"):
            raise argparse.ArgumentTypeError(f"unknown setup {part!r}; valid: {', '.join(SETUPS)}, both, all")
        names += list(SETUPS) if part == "all" else ["cooking", "cleanup"] if part == "both" else [part]
    return list(dict.fromkeys(names))


def _json_object(text: str) -> dict[str, Any]:
    """A JSON object argument (model config options)."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object, e.g. '{\"shared_components\": true}'")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", type=_setup_names, default=["cooking"], help="setups, comma-separated; both = cooking,cleanup; all")
    parser.add_argument("--episodes", type=int, default=48, help="training episodes per team (held-out: half)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--window", type=int, default=32)
    parser.add_argument("--stride", type=int, default=16)
    parser.add_argument("--checkpoints", type=int, default=10)
    parser.add_argument("--change-at", type=int, default=6)
    parser.add_argument("--checkpoint-episodes", type=int, default=8, help="episodes per team per checkpoint")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--k-stability",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also fit on 3x the training episodes (default: on, off with --quick)",
    )
    parser.add_argument("--model-options", type=_json_object, default={}, help="JSON config options of the MOHBA model")
    parser.add_argument("--flat-options", type=_json_object, default={}, help="JSON config options of the flat VAE")
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    parser.add_argument("--out", default=None, help="keep (and reuse) the recorded datasets here (default: a temporary directory)")
    args = parser.parse_args(argv)
    if args.quick:
        args.episodes, args.epochs, args.checkpoints, args.change_at, args.checkpoint_episodes = 8, 4, 4, 2, 4
    if args.k_stability is None:
        args.k_stability = not args.quick
    return args


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.out or tmp)
        results = {}
        for name in args.env:
            results[name] = {"planted_behaviours": planted_behaviours(name, root, args)}
            if "before" in SETUPS[name]:
                results[name]["planted_changepoint"] = planted_changepoint(name, root, args)
    print(json.dumps({"benchmark": "mohba_validation", "args": vars(args), "results": results}, indent=2))


if __name__ == "__main__":
    main()
