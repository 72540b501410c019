"""The recorder: run any batched policy over a batched env and write a trajectory dataset.

Determinism and resume (the rules every recording follows):
- Episodes are recorded in batches of ``num_envs``; batch ``b`` holds episode ids
  ``b*num_envs .. b*num_envs + num_envs - 1``. Shard ``shard-{s:06d}`` holds batches
  ``s*G .. s*G + G - 1``, G (``batches_per_shard``) chosen so that a shard has at least
  ``SHARD_ROWS`` rows (small shards read slowly); a kill loses at most the shard being recorded.
- Batch ``b`` is seeded from ``(seed, b)`` alone: the env by ``SeedSequence([seed, b, 0])``, a
  scripted team by ``SeedSequence([seed, b, 1])``. So an episode's content depends only on its
  index, and a killed recording resumes exactly: rerunning the same command skips the shards
  already there, re-records a partial last shard whole (same episodes, same values) and stops at
  the requested count. A loaded policy is reseeded per batch when it has a ``seed(int)`` method;
  without one its episodes are valid but not reproduced bit for bit.
- All slots of a batch run until each has finished one episode (slots that finish early are
  auto-reset and their later steps dropped).

This module imports neither torch nor ray: it drives any ``envs.batched.BatchedPolicy``.
``resolve_policy`` turns ``scripted:ROLES`` and ``checkpoint:PATH`` into one.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from analysis.dataset import ConditionInfo, DatasetWriter, EpisodeBatch, Manifest, PolicyInfo
from analysis.dataset.writer import SHARD_ROWS
from envs import BatchedEnv, BatchedPolicy, make_batched, make_scripted
from envs.config import check_range

POLICY_FORMS = ("scripted:ROLE[,ROLE...]", "checkpoint:PATH")
SEED_SCHEME = (
    "batch b: env SeedSequence([seed, b, 0]), scripted team SeedSequence([seed, b, 1]); episode id = b * num_envs + slot; "
    "shard s holds batches s * batches_per_shard .. (s + 1) * batches_per_shard - 1"
)


@dataclass
class RecordResult:
    """What a ``record`` call did; times split into acting+stepping and writing."""

    path: Path
    episodes: int
    """Episodes in the dataset at the end."""
    recorded: int
    """Episodes recorded by this call (resumed ones excluded)."""
    agent_steps: int
    """Agent-steps recorded by this call."""
    env_seconds: float = 0.0
    """Time in policy.act + env.step (+ copying into buffers)."""
    write_seconds: float = 0.0
    """Time building Arrow tables and writing shards."""
    skipped_shards: int = 0
    """Shards already complete in the dataset (a resumed recording)."""


def resolve_policy(spec: str, env: BatchedEnv, seed: int | None = None) -> BatchedPolicy:
    """A policy for ``env`` from ``scripted:ROLES`` or ``checkpoint:PATH`` (see module docstring)."""
    kind, _, rest = spec.partition(":")
    if kind == "scripted" and rest:
        return make_scripted(env, rest, seed)
    if kind == "checkpoint" and rest:
        try:
            from marl.loading import load_policy  # torch: only when a checkpoint is named
        except ModuleNotFoundError as exc:
            if exc.name not in ("marl.loading", "marl"):
                raise
            raise ValueError(f"policy {spec!r} needs marl.loading.load_policy, which this installation does not have yet") from None
        return load_policy(rest, env, seed=seed)
    raise ValueError(f"policy {spec!r} is not understood; use one of: {', '.join(POLICY_FORMS)}")


def policy_info_for(spec: str, env: BatchedEnv, policy: BatchedPolicy | None = None) -> PolicyInfo:
    """The manifest's policy entry for a policy spec string."""
    kind, _, rest = spec.partition(":")
    if kind == "scripted":
        roles = [r.strip() for r in rest.split(",") if r.strip()]
        roles = roles * env.num_agents if len(roles) == 1 else roles
        return PolicyInfo(kind="scripted", name="scripted:" + ",".join(roles))
    path = str(Path(rest).resolve())
    return PolicyInfo(
        kind="checkpoint",
        name=str(getattr(policy, "name", f"checkpoint:{path}")),
        checkpoint=path,
        iteration=int(getattr(policy, "iteration", -1)),
    )


def batch_seeds(seed: int, batch: int) -> tuple[int, int]:
    """(env seed, policy seed) of batch ``batch``."""
    env_seed = np.random.SeedSequence([seed, batch, 0]).generate_state(1, np.uint32)[0]
    policy_seed = np.random.SeedSequence([seed, batch, 1]).generate_state(1, np.uint32)[0]
    return int(env_seed), int(policy_seed)


def record(
    env_id: str,
    config: dict[str, Any] | Any | None,
    policy: str | BatchedPolicy,
    episodes: int,
    out: str | Path,
    *,
    seed: int = 0,
    num_envs: int = 8,
    policy_info: PolicyInfo | None = None,
    condition: str | ConditionInfo = "baseline",
    store_obs: bool = True,
    progress: bool = True,
    batches_per_shard: int | None = None,
    iteration: int | None = None,
) -> RecordResult:
    """Record ``episodes`` episodes of ``policy`` in env ``env_id`` into dataset ``out``.

    ``policy`` is a spec string (``resolve_policy``) or any BatchedPolicy. Resumes an existing
    dataset with the same manifest (see the module docstring); refuses one with another.
    ``batches_per_shard`` None picks the smallest G giving ``SHARD_ROWS`` rows per shard.
    ``iteration`` tags the recording with a training iteration (the manifest's ``policy.iteration``);
    None keeps the policy's own (a checkpoint's iteration, -1 for scripted teams).
    """
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    check_range("seed", seed, 0, integer=True)  # numpy's SeedSequence takes no negative seed
    if batches_per_shard is not None:
        check_range("batches_per_shard", batches_per_shard, 1, integer=True)
    if iteration is not None:
        check_range("iteration", iteration, 0, integer=True)
    env = make_batched(env_id, config, num_envs, auto_reset=True)
    per_shard = int(batches_per_shard or math.ceil(SHARD_ROWS / (env.num_envs * env.horizon * env.num_agents)))
    factory, info = _policy_factory(policy, env, policy_info)
    info = info if iteration is None else dataclasses.replace(info, iteration=int(iteration))
    condition = condition if isinstance(condition, ConditionInfo) else ConditionInfo(id=condition)
    check_condition(condition, env)
    predicted, intervened = _probe(env, factory(batch_seeds(seed, 0)[1]), batch_seeds(seed, 0)[0])
    manifest = Manifest(
        env=env.spec,
        policy=info,
        condition=condition,
        seeds={"seed": int(seed), "num_envs": env.num_envs, "batches_per_shard": per_shard, "scheme": SEED_SCHEME},
        obs_storage="fixed_size_binary" if store_obs else "none",
        predicted=predicted,
        intervened=intervened,
    )
    with DatasetWriter(out, manifest) as writer:
        return _record_shards(env, factory, writer, episodes, seed, per_shard, progress)


def check_condition(condition: ConditionInfo, env: BatchedEnv) -> None:
    """A condition whose spec holds intervention lines (a JSON list of strings, as ``ethogram rollout``
    and ``marl.study`` write it) is parsed against ``env``'s concepts, and a window starting at or
    past its horizon is an error (it would never apply), raised before anything is written."""
    from envs.interventions import check_windows, parse_condition

    lines = condition.spec
    if isinstance(lines, str):
        try:
            lines = json.loads(lines)
        except ValueError:
            return  # not intervention lines: a free-form spec
    if isinstance(lines, list) and lines and all(isinstance(line, str) for line in lines):
        check_windows(parse_condition(lines, env.spec.concepts), env.horizon)


def _policy_factory(
    policy: str | BatchedPolicy, env: BatchedEnv, info: PolicyInfo | None
) -> tuple[Callable[[int], BatchedPolicy], PolicyInfo]:
    """A per-batch policy maker and the policy's manifest entry.

    Scripted teams are built afresh per batch from its seed; a checkpoint is loaded once; a
    loaded or given policy with a ``seed(int)`` method is reseeded per batch (exact resume).
    """
    if isinstance(policy, str) and policy.startswith("scripted:"):
        resolve_policy(policy, env, 0)  # unknown roles fail now, before anything is written
        return (lambda s: resolve_policy(policy, env, s)), info or policy_info_for(policy, env)
    if isinstance(policy, str):
        loaded = resolve_policy(policy, env)
        info = info or policy_info_for(policy, env, loaded)
    else:
        loaded = policy
        name = str(getattr(policy, "name", type(policy).__name__))
        info = info or PolicyInfo(kind="external", name=name, iteration=int(getattr(policy, "iteration", -1)))

    def reseeded(seed: int) -> BatchedPolicy:
        if callable(getattr(loaded, "seed", None)):
            loaded.seed(seed)
        return loaded

    return reseeded, info


def _probe(env: BatchedEnv, policy: BatchedPolicy, env_seed: int) -> tuple[bool, bool]:
    """Whether the policy outputs predicted / intervened concepts (one act on a fresh reset)."""
    out = env.reset(seed=env_seed)
    policy.reset(env, np.ones(env.num_envs, bool))
    act = policy.act(env, out)
    return act.concepts is not None, act.intervened is not None


def _record_shards(
    env: BatchedEnv, factory, writer: DatasetWriter, episodes: int, seed: int, per_shard: int, progress: bool
) -> RecordResult:
    k = env.num_envs
    per = k * per_shard  # episodes per full shard
    n_shards = math.ceil(episodes / per)
    have = writer.shard_episodes
    todo = [s for s in range(n_shards) if len(have.get(f"shard-{s:06d}", ())) < min(per, episodes - s * per)]
    result = RecordResult(path=writer.path, episodes=0, recorded=0, agent_steps=0, skipped_shards=n_shards - len(todo))
    bar = _bar(progress, total=episodes, initial=episodes - sum(min(per, episodes - s * per) for s in todo), path=writer.path)
    try:
        for s in todo:
            batches = []
            for b in range(s * per_shard, min((s + 1) * per_shard, math.ceil(episodes / k))):
                env_seed, policy_seed = batch_seeds(seed, b)
                start = time.perf_counter()
                batch = run_batch(env, factory(policy_seed), env_seed, store_obs=writer.manifest.store_obs)
                result.env_seconds += time.perf_counter() - start
                keep = min(k, episodes - b * k)
                batches.append(_first(batch, keep, first_id=b * k))
                result.recorded += keep
                result.agent_steps += int(batches[-1].lengths.sum()) * env.num_agents
                if bar is not None:
                    bar.update(keep)
            start = time.perf_counter()
            writer.write_shard(f"shard-{s:06d}", *batches)
            result.write_seconds += time.perf_counter() - start
    finally:
        if bar is not None:
            bar.close()
    result.episodes = len(writer.episode_ids)
    return result


def run_batch(env: BatchedEnv, policy: BatchedPolicy, env_seed: int, *, store_obs: bool = True) -> EpisodeBatch:
    """One episode in each of the env's K slots, as an EpisodeBatch (ids 0..K-1)."""
    k, n, horizon = env.num_envs, env.num_agents, env.horizon
    spec = env.spec
    out = env.reset(seed=env_seed)
    policy.reset(env, np.ones(k, bool))
    act = policy.act(env, out)
    buf = _buffers(k, horizon, n, spec, act, store_obs)
    lengths = np.zeros(k, np.int64)
    active = np.ones(k, bool)
    for t in range(horizon):
        if t:
            act = policy.act(env, out)
        if store_obs:
            buf["obs"][:, t] = out.obs
        buf["concepts"][:, t] = out.concepts
        buf["actions"][:, t] = act.actions
        if act.concepts is not None:
            buf["predicted"][:, t] = act.concepts
        if act.intervened is not None:
            buf["intervened"][:, t] = act.intervened
        out = env.step(act.actions)
        buf["rewards"][:, t] = out.rewards
        buf["events"][:, t] = out.events
        buf["terminated"][:, t] = out.terminated
        buf["truncated"][:, t] = out.truncated
        done = out.terminated | out.truncated
        lengths[active & done] = t + 1
        active &= ~done
        if not active.any():
            break
        if done.any():
            policy.reset(env, done)
    steps = int(lengths.max())
    return EpisodeBatch(episode_ids=np.arange(k), lengths=lengths, **{name: a[:, :steps] for name, a in buf.items()})


def _buffers(k: int, horizon: int, n: int, spec, act, store_obs: bool) -> dict[str, np.ndarray]:
    buf = {
        "actions": np.zeros((k, horizon, n), np.int16),
        "rewards": np.zeros((k, horizon, n), np.float32),
        "concepts": np.zeros((k, horizon, n, spec.concepts.gt_dim), np.float32),
        "events": np.zeros((k, horizon, n, len(spec.events)), np.uint8),
        "terminated": np.zeros((k, horizon), bool),
        "truncated": np.zeros((k, horizon), bool),
    }
    if store_obs:
        buf["obs"] = np.zeros((k, horizon, n, *spec.observation.shape), np.uint8)
    for name, value in (("predicted", act.concepts), ("intervened", act.intervened)):
        if value is not None:
            buf[name] = np.zeros((k, horizon, n, np.shape(value)[-1]), np.float32)
    return buf


def _first(batch: EpisodeBatch, keep: int, first_id: int) -> EpisodeBatch:
    """The first ``keep`` episodes of a batch, with ids from ``first_id``."""
    cut = {name: (None if value is None else value[:keep]) for name, value in vars(batch).items()}
    cut["episode_ids"] = np.arange(first_id, first_id + keep, dtype=np.int64)
    trimmed = int(cut["lengths"].max())
    for name in ("actions", "rewards", "concepts", "events", "terminated", "truncated", "obs", "predicted", "intervened"):
        if cut[name] is not None:
            cut[name] = cut[name][:, :trimmed]
    return EpisodeBatch(**cut)


def _bar(progress: bool, total: int, initial: int, path: Path):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="ep", desc=f"rollout → {path}", dynamic_ncols=True)
