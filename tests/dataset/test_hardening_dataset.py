"""A dataset that lost its shards is an error, not an empty dataset; checkpoint paths move with the run."""

from __future__ import annotations

import json
import shutil

import pytest
from toy_dataset import toy_batch, toy_manifest

from analysis.dataset import DatasetError, DatasetWriter, PolicyInfo, load, open_dataset
from analysis.dataset.format import checkpoint_path, relative_checkpoint
from experiments.cli import main


def test_deleted_shards_directory_is_a_named_error(dataset, capsys):
    shutil.rmtree(dataset / "shards")
    with pytest.raises(DatasetError, match=r"ds has no shards/ directory: its episodes are gone"):
        open_dataset(dataset)
    with pytest.raises(DatasetError, match="no shards/ directory"):
        load(dataset)
    assert main(["data", "info", str(dataset)]) == 2
    assert "no shards/ directory" in capsys.readouterr().err
    (dataset / "shards").write_text("not a directory")
    assert main(["data", "info", str(dataset), "--json"]) == 2


def test_a_recording_restarted_after_its_shards_were_deleted_records_again(dataset):
    shutil.rmtree(dataset / "shards")
    m = toy_manifest()
    with DatasetWriter(dataset, m) as w:  # the writer is how a dataset is repaired: it starts the shards afresh
        w.write_shard("batch-000000", toy_batch(m, [0], [12]))
    assert open_dataset(dataset).num_episodes == 1


def test_checkpoint_paths_are_stored_relative_to_the_dataset(tmp_path):
    ckpt, data = tmp_path / "run" / "train" / "seed_0", tmp_path / "run" / "study" / "ds"
    ckpt.mkdir(parents=True)
    stored = relative_checkpoint(ckpt, data)
    assert stored == "../../train/seed_0"
    assert checkpoint_path(stored, data) == ckpt.resolve()
    assert checkpoint_path(str(ckpt), tmp_path / "anywhere") == ckpt  # older datasets: absolute, read as they are
    assert checkpoint_path(None, data) is None


def test_a_dataset_with_an_absolute_checkpoint_resumes_under_the_relative_form(tmp_path):
    ckpt, data = tmp_path / "run" / "train" / "seed_0", tmp_path / "run" / "data"
    ckpt.mkdir(parents=True)
    old = toy_manifest(policy=PolicyInfo("checkpoint", "cbp@1", str(ckpt.resolve()), 1))
    with DatasetWriter(data, old) as w:
        w.write_shard("batch-000000", toy_batch(old, [0, 1], [12, 12]))
    new = toy_manifest(policy=PolicyInfo("checkpoint", "cbp@1", "../train/seed_0", 1))
    with DatasetWriter(data, new) as w:  # the same checkpoint, written the new way: the same dataset
        assert w.episode_ids == {0, 1}
        w.write_shard("batch-000001", toy_batch(new, [2], [12], seed=1))
    assert open_dataset(data).num_episodes == 3
    assert json.loads((data / "manifest.json").read_text())["policy"]["checkpoint"] == str(ckpt.resolve())
    other = toy_manifest(policy=PolicyInfo("checkpoint", "cbp@1", "../elsewhere/seed_0", 1))
    with pytest.raises(DatasetError, match=r"policy\.checkpoint"):
        DatasetWriter(data, other)
