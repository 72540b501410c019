"""Every bad input gives a DatasetError that names the file and the problem, never a pyarrow traceback."""

from __future__ import annotations

import json
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from toy_dataset import toy_batch, toy_manifest, toy_spec

from analysis.dataset import DatasetError, DatasetWriter, load, open_dataset


def _shard(path, i=0):
    return sorted((path / "shards").glob("*.parquet"))[i]


def test_missing_and_empty_directories(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        open_dataset(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"not an ethogram dataset \(an empty directory\)"):
        open_dataset(tmp_path / "empty")
    (tmp_path / "file").write_text("x")
    with pytest.raises(DatasetError, match="not a directory"):
        load(tmp_path / "file")


@pytest.mark.parametrize("field", ["policy.iteration", "env.events", "condition", "storage.obs", "format_version"])
def test_manifest_missing_field(dataset, field):
    target = dataset / "manifest.json"
    data = json.loads(target.read_text())
    *parents, leaf = field.split(".")
    node = data
    for p in parents:
        node = node[p]
    del node[leaf]
    target.write_text(json.dumps(data))
    with pytest.raises(DatasetError, match=f"missing field '{field}'"):
        open_dataset(dataset)


def test_manifest_bad_type_and_bad_json(dataset):
    target = dataset / "manifest.json"
    data = json.loads(target.read_text())
    data["policy"]["iteration"] = "ten"
    target.write_text(json.dumps(data))
    with pytest.raises(DatasetError, match=r"'policy.iteration' must be int, got str"):
        open_dataset(dataset)
    target.write_text("{ not json")
    with pytest.raises(DatasetError, match="not valid JSON"):
        open_dataset(dataset)


def test_truncated_shard(dataset):
    shard = _shard(dataset)
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match=f"shard .*{shard.name}: cannot be read: truncated or corrupt"):
        open_dataset(dataset)


def test_corrupt_data_pages_found_at_load(dataset):
    shard = _shard(dataset)
    data = bytearray(shard.read_bytes())
    footer_len = int.from_bytes(data[-8:-4], "little")
    for i in range(8, len(data) - footer_len - 8, 7):  # scramble the pages, keep the footer
        data[i] ^= 0x5A
    shard.write_bytes(bytes(data))
    ds = open_dataset(dataset)  # the footer is intact
    with pytest.raises(DatasetError, match=f"shard .*{shard.name}: cannot read its rows"):
        ds.load()


def test_shard_from_another_env(dataset, tmp_path):
    other = toy_manifest(toy_spec("elsewhere"))
    with DatasetWriter(tmp_path / "other", other) as w:
        w.write_shard("batch-000009", toy_batch(other, [9], [12]))
    shutil.copy(_shard(tmp_path / "other"), dataset / "shards")
    with pytest.raises(DatasetError, match=r"batch-000009.parquet was recorded in env 'elsewhere', but this dataset is of env 'toy'"):
        open_dataset(dataset)


def test_shard_from_another_dataset_of_the_same_env(dataset, tmp_path):
    other = toy_manifest(toy_spec(config={"layout": "big", "horizon": 12}))
    with DatasetWriter(tmp_path / "other", other) as w:
        w.write_shard("batch-000009", toy_batch(other, [9], [12]))
    shutil.copy(_shard(tmp_path / "other"), dataset / "shards")
    with pytest.raises(DatasetError, match=r"batch-000009.parquet belongs to another dataset"):
        open_dataset(dataset)


def _rewrite(shard, change):
    table = pq.read_table(shard)
    meta = table.schema.metadata
    table = change(table).replace_schema_metadata(meta)
    pq.write_table(table, shard)


def test_missing_column(dataset):
    shard = _shard(dataset, 1)
    _rewrite(shard, lambda t: t.drop_columns(["reward"]))
    with pytest.raises(DatasetError, match=f"{shard.name}: missing column 'reward'"):
        open_dataset(dataset)


def test_wrong_dtype(dataset):
    shard = _shard(dataset)
    _rewrite(shard, lambda t: t.set_column(t.schema.get_field_index("reward"), "reward", t.column("reward").cast(pa.float64())))
    with pytest.raises(DatasetError, match="column 'reward' has type double, expected float"):
        open_dataset(dataset)


def test_foreign_parquet_without_footer(dataset):
    pq.write_table(pa.table({"x": [1, 2]}), dataset / "shards" / "stray.parquet")
    with pytest.raises(DatasetError, match=r"stray.parquet: no 'ethogram' footer metadata"):
        open_dataset(dataset)


def test_duplicate_episode_across_shards(dataset):
    shutil.copy(_shard(dataset), dataset / "shards" / "copy.parquet")
    with pytest.raises(DatasetError, match="episode 0 appears in two shards"):
        open_dataset(dataset)
