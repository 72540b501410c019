"""Trajectory dataset I/O: record and load throughput, bytes per episode. Prints JSON.

For each world: record ``--episodes`` episodes of a scripted team (``marl.record.record``), timing
acting + stepping apart from building and writing shards, with and without observations; then
grow a dataset to ``--load-agent-steps`` agent-steps by writing the recorded batch again under new
episode ids, and time ``analysis.dataset.load`` into arrays with and without observations (best
of ``--repeats``, wall clock; CPU seconds beside it, since a shared machine inflates wall time).

Usage: python benchmarks/dataset_io.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from analysis.dataset import DatasetWriter, load, open_dataset
from analysis.dataset.writer import SHARD_ROWS
from marl.record import record, run_batch
from marl.record import resolve_policy as _resolve

WORLDS = {
    "cooking": {"config": {"layout": "forced_coordination"}, "policy": "scripted:planner"},
    "cleanup": {"config": {}, "policy": "scripted:cleaner,cleaner,harvester,harvester,punisher"},
}
LOAD_FIELDS = ("actions", "rewards", "concepts", "events")


def bench_record(env_id: str, setup: dict, episodes: int, num_envs: int, root: Path) -> dict:
    # warm-up: first-use costs of numpy/pyarrow/zstd, paid once per process, are not throughput
    record(env_id, {**setup["config"], "horizon": 5}, setup["policy"], 1, root / f"{env_id}-warmup", num_envs=1, progress=False)
    out = {}
    for store_obs in (True, False):
        path = root / f"{env_id}-{'obs' if store_obs else 'noobs'}"
        res = record(env_id, setup["config"], setup["policy"], episodes, path, num_envs=num_envs, store_obs=store_obs, progress=False)
        ds = open_dataset(path)
        size = sum(s.path.stat().st_size for s in ds.shards)
        key = "with_obs" if store_obs else "without_obs"
        out[key] = {
            "episodes": ds.num_episodes,
            "agent_steps": res.agent_steps,
            "record_agent_steps_per_s": res.agent_steps / (res.env_seconds + res.write_seconds),
            "act_and_step_agent_steps_per_s": res.agent_steps / res.env_seconds,
            "write_agent_steps_per_s": res.agent_steps / res.write_seconds,
            "writer_share_of_time": res.write_seconds / (res.env_seconds + res.write_seconds),
            "bytes_per_episode": size / ds.num_episodes,
            "mean_episode_steps": float(ds.lengths.mean()),
        }
    return out


def grow(env_id: str, setup: dict, src: Path, dst: Path, agent_steps: int, num_envs: int) -> int:
    """A dataset of about ``agent_steps`` agent-steps made of one recorded batch written again and again,
    in shards of the recorder's size (``SHARD_ROWS``)."""
    from envs import make_batched

    env = make_batched(env_id, setup["config"], num_envs, auto_reset=True)
    batch = run_batch(env, _resolve(setup["policy"], env, 0), 0, store_obs=True)
    per_batch = int(batch.lengths.sum()) * env.num_agents
    per_shard = -(-SHARD_ROWS // per_batch)
    n_batches = max(1, agent_steps // per_batch)
    with DatasetWriter(dst, open_dataset(src).manifest) as writer:
        for s in range(-(-n_batches // per_shard)):
            ids = [np.arange(b * num_envs, (b + 1) * num_envs) for b in range(s * per_shard, min((s + 1) * per_shard, n_batches))]
            writer.write_shard(f"shard-{s:06d}", *(type(batch)(**{**vars(batch), "episode_ids": i}) for i in ids))
    return open_dataset(dst).agent_steps


def bench_load(path: Path, repeats: int, obs_agent_steps: int) -> dict:
    """Best-of-``repeats`` load times; with observations on the first ``obs_agent_steps`` only (memory)."""
    ds = open_dataset(path)
    per_episode = ds.agent_steps / ds.num_episodes
    subset = ds.episode_ids[: max(1, int(obs_agent_steps / per_episode))]
    out = {"agent_steps": ds.agent_steps, "episodes": ds.num_episodes}
    for key, fields, episodes in (("without_obs", LOAD_FIELDS, None), ("with_obs", (*LOAD_FIELDS, "obs"), subset)):
        walls, cpus = [], []
        for _ in range(repeats):
            wall, cpu = time.perf_counter(), time.process_time()
            eps = load(ds, fields=fields, episodes=episodes)
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
        steps = int(eps.mask.sum()) * ds.manifest.env.num_agents
        out[key] = {
            "agent_steps": steps,
            "agent_steps_per_s": steps / min(walls),
            "agent_steps_per_cpu_s": steps / min(cpus),
            "seconds": min(walls),
        }
        del eps
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--episodes", type=int, default=32)
    parser.add_argument("--num-envs", type=int, default=8)
    parser.add_argument("--load-agent-steps", type=int, default=2_000_000)
    parser.add_argument("--obs-agent-steps", type=int, default=500_000, help="load size with observations (they take memory)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if args.quick:
        args.episodes, args.load_agent_steps, args.obs_agent_steps, args.repeats = 8, 100_000, 50_000, 2
    root = Path(tempfile.mkdtemp(prefix="ethogram-bench-"))
    result = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_average": os.getloadavg()[0]}}
    try:
        for env_id, setup in WORLDS.items():
            entry = {"policy": setup["policy"], "config": setup["config"], "num_envs": args.num_envs}
            entry["record"] = bench_record(env_id, setup, args.episodes, args.num_envs, root)
            big = root / f"{env_id}-big"
            grow(env_id, setup, root / f"{env_id}-obs", big, args.load_agent_steps, args.num_envs)
            entry["load"] = bench_load(big, args.repeats, args.obs_agent_steps)
            result[env_id] = entry
    finally:
        shutil.rmtree(root, ignore_errors=True)
    result["machine"]["load_average_end"] = os.getloadavg()[0]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
