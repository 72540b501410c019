"""``ethogram analyze DATA... --out DIR``: discover team and agent behaviours in recorded trajectories (MOHBA).

Trains the hierarchical model on the datasets' windows, clusters both latent levels, links them,
profiles every cluster with concepts and events, finds changepoints across training iterations,
learns concept directions against a label, and writes tables, the model and figures
(``analysis.mohba.write`` lists the files). ``analyze`` is the command's work on parsed options;
the experiment's behaviour stage (``experiments.stages``) calls it with options parsed by
``parse_args``.

With ``--model DIR`` nothing is trained: the analyser saved by an earlier run (``DIR`` is its
``--out`` or the ``model/`` folder in it) encodes the new data, whose units go to its saved
clusters, or, with ``--recluster``, are clustered anew with the behaviour options. The feature,
model and training options are then those saved with the model.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

help = "discover team and agent behaviours in recorded trajectories (MOHBA)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", nargs="+", metavar="DATA", help="dataset directories (one env; several for checkpoints)")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--conditions", nargs="*", default=None, help="keep datasets recorded under these condition ids")
    parser.add_argument("--iterations", nargs="*", type=int, default=None, help="keep datasets of these training iterations")
    parser.add_argument(
        "--model",
        metavar="DIR",
        default=None,
        help="a saved analyser (an earlier --out, or its model/ folder): encode DATA with it, no training, and place the units "
        "(episodes or windows, as saved) in its saved clusters; the feature, model and training options are then not used",
    )
    parser.add_argument(
        "--recluster",
        action="store_true",
        help="with --model: cluster DATA anew with the behaviour options instead of using the saved clusters",
    )
    g = parser.add_argument_group("features")
    g.add_argument("--window", type=int, default=32, help="window length in steps")
    g.add_argument("--stride", type=int, default=16, help="steps between window starts")
    g.add_argument("--include-obs", action="store_true", help="add the raw observations to the features (large)")
    g.add_argument("--absolute", action="store_true", help="keep concepts in absolute agent order (no egocentric re-ordering)")
    g = parser.add_argument_group("model")
    g.add_argument("--encoder", choices=("gru", "transformer"), default="gru")
    g.add_argument("--hidden", type=int, default=64)
    g.add_argument("--z-joint", type=int, default=8)
    g.add_argument("--z-local", type=int, default=8)
    g.add_argument("--prior-components", type=int, default=4, help="Gaussians in the conditional prior p(z^α | z^ω)")
    g.add_argument(
        "--shared-components", action="store_true", help="prior components shared by all teams; only their weights depend on z^ω"
    )
    g.add_argument("--beta-joint", type=float, default=0.5, help="weight of the joint KL relative to β")
    g.add_argument("--predict-next", action="store_true", help="also predict the next step's features")
    g.add_argument("--flat", action="store_true", help="flat VAE baseline (no joint latent)")
    g = parser.add_argument_group("training")
    g.add_argument(
        "--epochs",
        type=int,
        default=40,
        help="most epochs; training stops early once converged, and warns when it reaches this cap still improving",
    )
    g.add_argument("--batch-size", type=int, default=128)
    g.add_argument("--lr", type=float, default=2e-3)
    g.add_argument("--beta-max", type=float, default=1.0)
    g.add_argument("--cycles", type=int, default=4)
    g.add_argument("--patience", type=int, default=6)
    g.add_argument("--device", choices=("cpu", "cuda", "auto"), default="cpu", help="auto: CUDA when present")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is fastest on small machines shared with other work)")
    g = parser.add_argument_group("behaviours")
    g.add_argument("--k-joint", type=int, default=None, help="team-level clusters (default: chosen)")
    g.add_argument("--k-local", type=int, default=None, help="agent-level clusters (default: chosen)")
    g.add_argument("--k-max", type=int, default=10)
    g.add_argument("--cluster-method", choices=("gmm", "kmeans"), default="gmm")
    g.add_argument(
        "--select", choices=("bic", "silhouette"), default=None, help="how k is chosen (default: bic for gmm, silhouette for kmeans)"
    )
    g.add_argument("--unit", choices=("episode", "window"), default="episode", help="what one clustered point is")
    g.add_argument("--label", choices=("return", "dispersion"), default="return", help="user label for concept discovery and maps")
    g.add_argument("--label-bins", type=int, default=3)
    g.add_argument("--concepts", type=int, default=4, help="concept directions to learn in z^ω (0: skip)")
    g.add_argument("--changepoint-method", choices=("pelt", "chi2"), default="pelt")


def parse_args(argv: list[str]) -> argparse.Namespace:
    """``ethogram analyze``'s options from ``argv`` (DATA... --out DIR ...); bad options exit as argparse does."""
    parser = argparse.ArgumentParser(prog="ethogram analyze", description=help)
    add_arguments(parser)
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    analyze(args)
    return 0


def analyze(args: argparse.Namespace, log: Callable[[str], Any] | None = None) -> None:
    """Load ``args.data``, fit MOHBA (or use the ``--model`` saved) and write its outputs to ``args.out``;
    ``log`` gets the progress lines (default: the ``analysis.mohba.write`` logger)."""
    import torch

    from analysis.mohba.write import Progress

    check_options(args)
    torch.set_num_threads(max(1, args.threads))
    say = Progress(log) if log is not None else Progress()
    if args.model is not None:
        _analyze_saved(args, say)
    else:
        _analyze_new(args, say)


def check_options(args: argparse.Namespace) -> None:
    """``--recluster`` needs ``--model``; ``--k-joint/--k-local`` with ``--model`` need ``--recluster``."""
    if args.recluster and args.model is None:
        raise ValueError("--recluster clusters a saved analyser's latents anew: it needs --model DIR (an earlier --out, or its model/)")
    given = [flag for flag, value in (("--k-joint", args.k_joint), ("--k-local", args.k_local)) if value is not None]
    if given and args.model is not None and not args.recluster:
        raise ValueError(f"{' and '.join(given)} with --model: the saved clusters are used as they are; add --recluster to cluster anew")


def _analyze_new(args: argparse.Namespace, say: Callable[[str], Any]) -> None:
    from analysis.dataset import load
    from analysis.mohba.features import FeatureConfig
    from analysis.mohba.fit import FitConfig
    from analysis.mohba.write import run_analysis

    features = FeatureConfig(window=args.window, stride=args.stride, include_obs=args.include_obs, egocentric=not args.absolute)
    say(f"loading {len(args.data)} dataset(s)")
    episodes = load(args.data, fields=features.fields, conditions=args.conditions, iterations=args.iterations)
    fit = FitConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        beta_max=args.beta_max,
        cycles=args.cycles,
        patience=args.patience,
        device=args.device,
        seed=args.seed,
    )
    model_options = {
        "encoder": args.encoder,
        "hidden": args.hidden,
        "z_joint": args.z_joint,
        "z_local": args.z_local,
        "prior_components": args.prior_components,
        "shared_components": args.shared_components,
        "beta_joint": args.beta_joint,
        "predict_next": args.predict_next,
        "hierarchical": not args.flat,
    }
    run_analysis(episodes, args.out, features, fit, _cluster_config(args), _report_config(args), model_options, progress=say)


def _analyze_saved(args: argparse.Namespace, say: Callable[[str], Any]) -> None:
    from analysis.dataset import load
    from analysis.mohba.saved import open_saved
    from analysis.mohba.write import run_saved

    saved = open_saved(args.model, clusters=not args.recluster)
    say(f"loading {len(args.data)} dataset(s) for the analyser in {saved.path}")
    episodes = load(args.data, fields=saved.analyser.features.fields, conditions=args.conditions, iterations=args.iterations)
    clusters = _cluster_config(args) if args.recluster else None
    run_saved(episodes, args.out, saved, clusters, _report_config(args), progress=say)


def _cluster_config(args: argparse.Namespace) -> Any:
    from analysis.mohba.cluster import ClusterConfig

    return ClusterConfig(
        k_joint=args.k_joint,
        k_local=args.k_local,
        method=args.cluster_method,
        select=args.select or ("bic" if args.cluster_method == "gmm" else "silhouette"),
        k_max=args.k_max,
        unit=args.unit,
        seed=args.seed,
    )


def _report_config(args: argparse.Namespace) -> Any:
    from analysis.mohba.describe import ReportConfig

    return ReportConfig(label=args.label, label_bins=args.label_bins, concepts=args.concepts, changepoint_method=args.changepoint_method)
