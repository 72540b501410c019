"""Checkpoints: only complete ones count, everywhere; damaged weights and foreign classes are named errors.

A run killed while writing ``iter_N`` leaves ``iter_N/`` half-written beside the ``latest`` pointer
(which still names the last complete checkpoint); loading, resuming and the experiment's stages
must all step over it.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file, save_file

import envs
from marl.config import ConfigError, load_config
from marl.loading import PolicyLoadError, complete_checkpoints, latest_checkpoint, load_policy, policy_manifest
from tests.marl.conftest import TINY


def test_duplicate_training_seeds_are_refused():
    with pytest.raises(ConfigError, match=r"seeds must not repeat a seed; 3 appears more than once in \[3, 1, 3\]"):
        load_config(None, [*TINY, "seeds=[3,1,3]"])


def _env() -> envs.BatchedEnv:
    return envs.make_batched("cooking", {"layout": "cramped_room", "horizon": 20}, 2)


def copy_with_half_written(trial: Path, tmp_path: Path) -> Path:
    """A copy of ``trial`` (iter_1, iter_2, latest → iter_2) plus an iter_3 killed mid-write."""
    copy = tmp_path / "seed_0"
    shutil.copytree(trial, copy)
    half = copy / "checkpoints" / "iter_000003"
    shutil.copytree(copy / "checkpoints" / "iter_000002" / "policy", half / "policy")
    weights = half / "policy" / "module_agent_0.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])  # killed while writing the weights: no progress.json yet
    return copy


@pytest.mark.ray
def test_a_half_written_checkpoint_is_never_picked(tiny_policies, tmp_path):
    trial = copy_with_half_written(tiny_policies["cooking"], tmp_path)
    ckpts = trial / "checkpoints"
    assert [p.name for p in complete_checkpoints(trial)] == ["iter_000001", "iter_000002"]
    assert latest_checkpoint(trial) == ckpts / "iter_000002"
    assert load_policy(trial, _env()).iteration == 2 and policy_manifest(trial)["iteration"] == 2
    with pytest.raises(PolicyLoadError, match=r"iter_000003 is not a complete checkpoint.*iter_000001, iter_000002"):
        load_policy(ckpts / "iter_000003", _env())
    with pytest.raises(PolicyLoadError, match="iter_000003 is not a complete checkpoint"):
        policy_manifest(ckpts / "iter_000003" / "policy")
    # a checkpoint newer than the pointer is incomplete even with every file there (its pointer was never written)
    (ckpts / "latest").write_text("iter_000001")
    assert [p.name for p in complete_checkpoints(trial)] == ["iter_000001"] and load_policy(trial, _env()).iteration == 1
    (ckpts / "latest").write_text("iter_000002")
    # a pointer to a checkpoint that is gone: the newest complete one before it
    shutil.rmtree(ckpts / "iter_000002")
    assert latest_checkpoint(trial) == ckpts / "iter_000001"
    (ckpts / "latest").unlink()  # killed before the first checkpoint was complete: none
    assert complete_checkpoints(trial) == [] and latest_checkpoint(trial) is None


@pytest.mark.ray
def test_damaged_weights_are_named_errors(tiny_policies, tmp_path):
    trial = tmp_path / "seed_0"
    shutil.copytree(tiny_policies["cooking"], trial)
    weights = trial / "checkpoints" / "iter_000002" / "policy" / "module_agent_1.safetensors"
    state = load_file(str(weights))
    name = next(k for k, v in state.items() if v.ndim == 2)
    save_file({**state, name: state[name][:, :-1].contiguous()}, str(weights))
    with pytest.raises(PolicyLoadError, match=rf"module_agent_1\.safetensors: tensor '{name}' has shape \(\d+, \d+\), expected"):
        load_policy(trial, _env())
    weights.write_bytes(weights.read_bytes()[:-40])
    with pytest.raises(PolicyLoadError, match=r"module_agent_1\.safetensors: cannot be read \(truncated or corrupt"):
        load_policy(trial, _env())
    weights.unlink()
    with pytest.raises(PolicyLoadError, match=r"module_agent_1\.safetensors: missing"):
        load_policy(trial, _env())


@pytest.mark.ray
def test_module_class_is_checked_before_anything_is_imported(tiny_policies, tmp_path, monkeypatch):
    trial = tmp_path / "seed_0"
    shutil.copytree(tiny_policies["cooking"], trial)
    sentinel = tmp_path / "imported"
    (tmp_path / "mods").mkdir()
    (tmp_path / "mods" / "planted_module.py").write_text(f"open({str(sentinel)!r}, 'w').close()\nclass Evil: pass\n")
    monkeypatch.syspath_prepend(str(tmp_path / "mods"))
    manifest = trial / "checkpoints" / "iter_000002" / "policy" / "policy.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "module_class": "planted_module.Evil"}))
    with pytest.raises(PolicyLoadError, match=r"'planted_module\.Evil'.*not an ethogram policy module.*ConceptBottleneckModule"):
        load_policy(trial, _env())
    assert not sentinel.exists() and "planted_module" not in sys.modules, "the class named by a checkpoint was imported"
