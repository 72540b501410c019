"""MOHBA analyser throughput on the CPU: training and encoding windows per second, time to converge.

Dataset: ``--episodes`` cooking episodes (default 1,000, cramped_room, 400 steps) of scripted
teams (the validation's compositions, equal shares), recorded once into ``--data`` (reused when
it exists). Measures, with ``--threads`` torch threads:
- feature + window preparation time;
- training throughput (windows per second over all epochs, validation passes excluded from the
  count but not from the clock) and time to convergence: the wall time at the best epoch under
  early stopping, and the time until training stopped;
- encoding throughput (posterior means of every window, batches of 1,024).
Prints one JSON object.

Usage: ``python benchmarks/mohba_throughput.py [--episodes 1000] [--epochs 40] [--data DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.dataset import load
from analysis.mohba.encode import encode
from analysis.mohba.features import FeatureConfig, make_windows
from analysis.mohba.fit import FitConfig, fit
from analysis.mohba.model import MohbaModel, MohbaModelConfig, count_parameters
from benchmarks.mohba_validation import SETUPS, record_teams


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--window", type=int, default=32)
    parser.add_argument("--stride", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--encoder", choices=("gru", "transformer"), default="gru")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data", default=None, help="dataset root to reuse or fill (default: a temporary directory)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    teams = SETUPS["cooking"]["teams"]
    per_team = -(-args.episodes // len(teams))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.data or tmp)
        t = time.perf_counter()
        paths = record_teams(root, "cooking", SETUPS["cooking"]["config"], teams, per_team, seed=7)
        record_s = time.perf_counter() - t
        t = time.perf_counter()
        episodes = load(paths, fields=("actions", "rewards", "concepts", "events"))
        load_s = time.perf_counter() - t
    features = FeatureConfig(window=args.window, stride=args.stride)
    train = FitConfig(epochs=args.epochs, batch_size=args.batch_size)
    wall, cpu = time.perf_counter(), time.process_time()
    windows, _ = make_windows(episodes, features)
    prep = (time.perf_counter() - wall, time.process_time() - cpu)
    torch.manual_seed(train.seed)
    model = MohbaModel(
        MohbaModelConfig(feature_dim=windows.features.shape[-1], num_actions=len(episodes.spec.action_names), encoder=args.encoder)
    )
    cpu = time.process_time()
    fit_result = fit(model, windows, train)
    fit_cpu = time.process_time() - cpu
    wall, cpu = time.perf_counter(), time.process_time()
    encode(model, windows)
    enc = (time.perf_counter() - wall, time.process_time() - cpu)
    best = fit_result.history[fit_result.best_epoch]
    machine = {
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }
    data = {"episodes": int(episodes.num_episodes), "steps_per_episode": int(episodes.horizon), "windows": len(windows)}
    model = {"encoder": args.encoder, "parameters": count_parameters(model), "feature_dim": int(windows.features.shape[-1])}
    result = {
        "benchmark": "mohba_throughput",
        "machine": machine,
        "data": data,
        "model": {**model, "window": args.window, "batch_size": args.batch_size},
        "record_s": round(record_s, 1),
        "load_s": round(load_s, 2),
        "prepare_windows_s": {"wall": round(prep[0], 2), "cpu": round(prep[1], 2)},
        "train": {
            "windows_per_s": round(fit_result.windows_per_s, 1),
            "windows_per_cpu_s": round(fit_result.windows_seen / max(fit_cpu, 1e-9), 1),
            "epochs_run": len(fit_result.history),
            "best_epoch": fit_result.best_epoch,
            "stopped_early": fit_result.stopped_early,
            "seconds_to_best": round(best["seconds"], 1),
            "cpu_seconds_to_best": round(best["cpu_seconds"], 1),
            "seconds_total": round(fit_result.seconds, 1),
            "cpu_seconds_total": round(fit_cpu, 1),
            "best_val_loss": round(fit_result.best_val, 3),
        },
        "encode": {"windows_per_s": round(len(windows) / enc[0], 1), "windows_per_cpu_s": round(len(windows) / max(enc[1], 1e-9), 1)},
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
