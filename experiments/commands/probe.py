"""``ethogram probe RUN --dataset DATA``: linear concept probes on a trained policy's layers, and TCAV sensitivity.

RUN is anything ``marl.loading.load_policy`` reads (a policy, checkpoint, trial or run directory);
DATA a dataset recorded with observations in the policy's world (by this policy or any other: the
probes read what the policy's layers compute for those observations). The policy runs on every
recorded step (``marl.activations``); a probe per (module, layer, concept) is fitted on the
training episodes and scored on the held-out ones against chance, and the action logits'
gradients on the held-out steps give each concept direction's TCAV score, tested against
random-label probes (``analysis.probes``; docs/probes.md).

Writes into ``--out`` (default: ``DATA_probes`` beside the dataset): ``probes.json`` (scores,
split, index), ``probes.safetensors`` (probe weights, activation moments, cross-covariances and null
directions), ``sensitivity.json``, ``probe_skill.png`` and ``sensitivity.png``. Every check (the
held-out fraction, the dataset, the policy, its world against the dataset's, the layer names, the
number of episodes) runs before anything is computed or written.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

help = "fit linear concept probes on a trained policy's layers and score TCAV sensitivity (probes.json, sensitivity.json, figures)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN", help="trained policy: a policy, checkpoint, trial or run directory")
    parser.add_argument("--dataset", required=True, metavar="DATA", help="dataset recorded with observations in the policy's world")
    parser.add_argument(
        "--layers", nargs="+", metavar="LAYER", help="layers to probe (default: all: encoder.reluI, features, concept, pi.reluI)"
    )
    parser.add_argument("--out", metavar="DIR", help="output directory (default: DATA_probes beside the dataset)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the episode split, row subsampling and null probes")
    parser.add_argument(
        "--held-out", type=float, default=0.25, metavar="FRACTION", help="fraction of episodes held out for scoring, in (0, 1)"
    )
    parser.add_argument(
        "--null-draws",
        type=int,
        default=500,
        metavar="M",
        help="random-label probes per (module, layer, family) for the TCAV null; the smallest p-value is 2 / (M + 1)",
    )
    parser.add_argument(
        "--correction", choices=("holm", "bh", "none"), default="holm", help="multiple-testing correction over all TCAV tests"
    )
    parser.add_argument("--alpha", type=float, default=0.05, help="significance level of the corrected TCAV tests")


def run(args: argparse.Namespace) -> int:
    probe(args)
    return 0


def check(args: argparse.Namespace) -> tuple[Any, Any, tuple[str, ...], Any, Path]:
    """Every check before any work: (policy, dataset, layers, probe config, output directory)."""
    from analysis.dataset import open_dataset
    from analysis.probes import ProbeConfig, split_episodes
    from envs.spec import EnvSpec
    from marl.activations import check_dataset, check_layers
    from marl.loading import load_policy, policy_manifest

    if not 0.0 < args.alpha < 1.0:
        raise ValueError(f"--alpha {args.alpha} must lie strictly between 0 and 1")
    config = ProbeConfig(held_out=args.held_out, seed=args.seed, null_draws=args.null_draws)
    dataset = open_dataset(args.dataset)
    check_dataset(EnvSpec.from_json(policy_manifest(args.run)["env_spec"]), dataset)
    policy = load_policy(args.run, dataset.manifest.env)
    layers = check_layers(policy, args.layers)
    split_episodes(dataset.num_episodes, config.held_out, config.seed)
    out = Path(args.out) if args.out else dataset.path.with_name(dataset.path.name + "_probes")
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--out {out} is a file, not a directory")
    return policy, dataset, layers, config, out


def probe(args: argparse.Namespace) -> dict[str, Path]:
    """Check, compute and write (module docstring); returns the written files by name."""
    import numpy as np

    from analysis.probes import SensitivityAccumulator, fit_probes, save_probes
    from analysis.probes.figures import plot_probe_skill, plot_sensitivity
    from analysis.probes.saved import write_json
    from marl.activations import capture, iter_steps, module_agents

    policy, dataset, layers, config, out = check(args)
    print(f"probing {policy.name} on {dataset.path} ({dataset.num_episodes} episodes): layers {', '.join(layers)}", flush=True)
    acts = capture(policy, dataset, layers)
    eps = dataset.load(fields=("concepts",))
    probes = fit_probes(
        acts.layers,
        eps.concepts,
        eps.mask,
        dataset.manifest.env,
        module_agents(policy),
        config,
        episode_ids=acts.episode_ids,
        meta=_meta(args, policy, dataset),
    )
    del acts
    print(f"fitted {len(probes.probes)} probes; computing sensitivity on {len(probes.split.test)} held-out episodes", flush=True)
    accumulator = SensitivityAccumulator(probes, dataset.manifest.env.action_names)
    for batch in iter_steps(policy, dataset, layers, probes.episode_ids[probes.split.test], gradients=True):
        accumulator.add(batch.logit_grads)
    scores = accumulator.scores(alpha=args.alpha, correction=args.correction)
    out.mkdir(parents=True, exist_ok=True)
    index, arrays = save_probes(probes, out)
    sensitivity = out / "sensitivity.json"
    write_json(
        sensitivity,
        {
            "null_draws": config.null_draws,
            "test": "two-sided rank test against the null directions' scores",
            "correction": args.correction,
            "alpha": args.alpha,
            "held_out_episodes": probes.episode_ids[probes.split.test].tolist(),
            "meta": probes.meta,
            "scores": [dataclasses.asdict(s) for s in scores],
        },
    )
    files = {"probes.json": index, "probes.safetensors": arrays, "sensitivity.json": sensitivity}
    files["probe_skill.png"] = plot_probe_skill(probes, out / "probe_skill.png")
    files["sensitivity.png"] = plot_sensitivity(scores, probes, out / "sensitivity.png")
    fitted = [s for s in probes.scores if s.status == "fitted"]
    above = sum(1 for s in fitted if np.isfinite(s.skill) and s.skill > 0.1)
    print(
        f"{out}: {len(fitted)} (module, layer, concept) probes, {above} with skill > 0.1 over chance; "
        f"{sum(s.significant for s in scores)} of {len(scores)} TCAV tests significant ({args.correction}, alpha {args.alpha})"
    )
    return files


def _meta(args: argparse.Namespace, policy: Any, dataset: Any) -> dict[str, Any]:
    """Provenance for probes.json."""
    from marl.activations import policy_digest

    manifest = policy.manifest
    return {
        "checkpoint": str(Path(args.run).resolve()),
        "dataset": str(dataset.path.resolve()),
        "policy": policy.name,
        "policy_kind": manifest["policy"],
        "sharing": manifest["sharing"],
        "iteration": policy.iteration,
        "policy_digest": policy_digest(policy),
        "concept_layer": "concept logits" if policy.supervised else "unsupervised hidden layer, before its ReLU",
        "actions": list(dataset.manifest.env.action_names),
    }
