"""Writer and reader on synthetic datasets: round trips, windows, filters, resume, atomicity."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from toy_dataset import toy_batch, toy_manifest, toy_spec

from analysis.dataset import ConditionInfo, DatasetError, DatasetWriter, PolicyInfo, load, open_dataset

ALL = ("actions", "rewards", "concepts", "events", "obs", "predicted", "intervened")


def _valid(batch_field, lengths):
    mask = np.arange(batch_field.shape[1])[None, :] < np.asarray(lengths)[:, None]
    return batch_field[mask]


def test_round_trip_every_field_with_padding(tmp_path):
    m = toy_manifest(predicted=True, intervened=True)
    a = toy_batch(m, [0, 1, 2], [12, 5, 7])
    b = toy_batch(m, [3, 4], [9, 12], seed=1)
    with DatasetWriter(tmp_path, m) as w:
        w.write_shard("batch-000000", a)
        w.add(b)
    eps = load(tmp_path, fields=ALL)
    assert eps.num_episodes == 5 and eps.horizon == 12
    assert eps.episode_ids.tolist() == [0, 1, 2, 3, 4]
    assert eps.lengths.tolist() == [12, 5, 7, 9, 12]
    for name in ALL:
        got = getattr(eps, name)
        assert got.dtype == {"actions": np.int16, "events": np.uint8, "obs": np.uint8}.get(name, np.float32)
        np.testing.assert_array_equal(got[:3][eps.mask[:3]], _valid(getattr(a, name), a.lengths).astype(got.dtype))
        np.testing.assert_array_equal(got[3:][eps.mask[3:]], _valid(getattr(b, name), b.lengths).astype(got.dtype))
    assert (eps.actions[~eps.mask] == -1).all() and (eps.rewards[~eps.mask] == 0).all()
    np.testing.assert_array_equal(eps.truncated[:3], a.truncated & eps.mask[:3])
    assert eps.obs.shape == (5, 12, 2, 3, 3, 2)
    assert set(eps.policy) == {"scripted:a,b"} and set(eps.condition) == {"baseline"} and (eps.iteration == -1).all()
    np.testing.assert_allclose(eps.returns(), np.where(eps.mask[..., None], eps.rewards, 0).sum(1), rtol=1e-5)


def test_default_fields_skip_obs_and_optional_columns(tmp_path):
    m = toy_manifest()
    with DatasetWriter(tmp_path, m) as w:
        w.add(toy_batch(m, [0, 1], [12, 12]))
    eps = load(tmp_path)
    assert eps.obs is None and eps.predicted is None and eps.concepts.shape == (2, 12, 2, 7)
    only = load(tmp_path, fields=("actions",))
    assert only.rewards is None and only.actions.shape == (2, 12, 2)
    with pytest.raises(DatasetError, match="no 'predicted' column"):
        load(tmp_path, fields=("predicted",))
    with pytest.raises(DatasetError, match="unknown field"):
        load(tmp_path, fields=("observations",))


def test_no_obs_dataset_has_no_obs_column(tmp_path):
    m = toy_manifest(obs_storage="none")
    with DatasetWriter(tmp_path, m) as w:
        w.add(toy_batch(m, [0], [12]))
    assert "obs" not in pq.read_schema(next((tmp_path / "shards").glob("*.parquet"))).names
    with pytest.raises(DatasetError, match="no 'obs' column"):
        load(tmp_path, fields=("obs",))


def test_windows_stay_inside_episodes(tmp_path):
    m = toy_manifest()
    with DatasetWriter(tmp_path, m) as w:
        w.add(toy_batch(m, [0, 1, 2], [12, 5, 3]))
    eps = load(tmp_path)
    win = eps.windows(length=4, stride=3)
    # episode 0 (12 steps): starts 0,3,6,8? no: 0,3,6 (9 would end at 13); episode 1 (5): 0; episode 2 (3): none
    assert win.episode_index.tolist() == [0, 0, 0, 1] and win.start.tolist() == [0, 3, 6, 0]
    assert win.actions.shape == (4, 4, 2) and win.concepts.shape == (4, 4, 2, 7)
    for w_i, (e, s) in enumerate(zip(win.episode_index, win.start)):
        np.testing.assert_array_equal(win.concepts[w_i], eps.concepts[e, s : s + 4])
    assert (win.actions >= 0).all()
    assert len(eps.windows(20, 1)) == 0
    with pytest.raises(ValueError, match="stride"):
        eps.windows(4, 0)


def test_filters_and_concatenation(tmp_path):
    paths = []
    for i, (cond, iteration) in enumerate([("baseline", 10), ("mask_teammates", 10), ("baseline", 20)]):
        m = toy_manifest(
            condition=ConditionInfo(cond, ["all: teammates.* -> mask"] if cond != "baseline" else None),
            policy=PolicyInfo("checkpoint", f"ck{iteration}", "/x", iteration),
        )
        path = tmp_path / f"d{i}"
        with DatasetWriter(path, m) as w:
            w.add(toy_batch(m, [0, 1], [12, 6 + i], seed=i))
        paths.append(path)
    eps = load(paths)
    assert eps.num_episodes == 6 and eps.condition.tolist() == ["baseline"] * 2 + ["mask_teammates"] * 2 + ["baseline"] * 2
    assert eps.iteration.tolist() == [10, 10, 10, 10, 20, 20] and eps.source.tolist()[4] == str(paths[2])
    assert load(paths, conditions=["mask_teammates"]).num_episodes == 2
    assert load(paths, iterations=[20]).policy.tolist() == ["ck20", "ck20"]
    sel = load(paths, episodes=[1])
    assert sel.episode_ids.tolist() == [1, 1, 1] and sel.lengths.tolist() == [6, 7, 8]
    np.testing.assert_array_equal(sel.actions[0, :6], load(paths[0]).actions[1, :6])
    with pytest.raises(DatasetError, match="no dataset matches"):
        load(paths, conditions=["nope"])
    with pytest.raises(DatasetError, match=r"episode id\(s\) \[7\]"):
        load(paths, episodes=[1, 7])
    other = toy_manifest(toy_spec("other"))
    with DatasetWriter(tmp_path / "o", other) as w:
        w.add(toy_batch(other, [0], [12]))
    with pytest.raises(DatasetError, match="different envs"):
        load([paths[0], tmp_path / "o"])


def test_resume_accepts_same_manifest_and_refuses_another(tmp_path):
    m = toy_manifest()
    with DatasetWriter(tmp_path, m) as w:
        w.write_shard("batch-000000", toy_batch(m, [0, 1], [12, 12]))
    again = toy_manifest(created="2030-01-01T00:00:00+00:00")
    with DatasetWriter(tmp_path, again) as w:
        assert w.episode_ids == {0, 1} and w.shard_episodes == {"batch-000000": (0, 1)}
        w.write_shard("batch-000001", toy_batch(again, [2], [12]))
        with pytest.raises(DatasetError, match="episode 1 is already in shard batch-000000"):
            w.add(toy_batch(again, [1], [12]))
        # replacing a shard under its own name is how a partial batch is completed
        w.write_shard("batch-000001", toy_batch(again, [2, 3], [12, 12]))
    assert open_dataset(tmp_path).episode_ids.tolist() == [0, 1, 2, 3]
    changed = toy_manifest(toy_spec(config={"layout": "other", "horizon": 12}), policy=PolicyInfo("scripted", "scripted:b,b"))
    with pytest.raises(DatasetError) as err:
        DatasetWriter(tmp_path, changed)
    assert "env.config.layout" in str(err.value) and "policy.name" in str(err.value) and '"toy" (existing) vs "other"' in str(err.value)


def test_writer_refuses_a_directory_that_is_not_a_dataset(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(DatasetError, match=r"not empty and holds no manifest\.json \(found notes\.txt\)"):
        DatasetWriter(tmp_path, toy_manifest())
    (tmp_path / "born" / "shards").mkdir(parents=True)  # a writer killed before its manifest landed
    (tmp_path / "born" / ".lock").touch()
    DatasetWriter(tmp_path / "born", toy_manifest()).close()


def test_one_writer_at_a_time(tmp_path):
    m = toy_manifest()
    with DatasetWriter(tmp_path, m), pytest.raises(DatasetError, match="another process"):
        DatasetWriter(tmp_path, m)
    DatasetWriter(tmp_path, m).close()  # released


def test_temp_files_are_invisible_and_cleaned(tmp_path):
    m = toy_manifest()
    with DatasetWriter(tmp_path, m) as w:
        w.add(toy_batch(m, [0], [12]))
    stale = tmp_path / "shards" / ".batch-000001.parquet.tmp-99999"
    stale.write_bytes(b"PAR1 half a shard")
    assert open_dataset(tmp_path).num_episodes == 1
    DatasetWriter(tmp_path, m).close()
    assert not stale.exists()


def test_batch_checks_name_the_field(tmp_path):
    m = toy_manifest()
    batch = toy_batch(m, [0], [12])
    with DatasetWriter(tmp_path, m) as w:
        with pytest.raises(DatasetError, match="batch field concepts: expected shape"):
            w.add(toy_batch(toy_manifest(toy_spec()), [0], [12]).__class__(**{**vars(batch), "concepts": batch.concepts[..., :3]}))
        with pytest.raises(DatasetError, match="does not record it"):
            w.add(batch.__class__(**{**vars(batch), "predicted": np.zeros((1, 12, 2, 10), np.float32)}))
        with pytest.raises(DatasetError, match=r"actions must be in 0..5"):
            w.add(batch.__class__(**{**vars(batch), "actions": batch.actions + 6}))


def test_manifest_is_plain_json_and_shards_hold_no_pickle(tmp_path):
    m = toy_manifest(predicted=True)
    with DatasetWriter(tmp_path, m) as w:
        w.add(toy_batch(m, [0], [12]))
    data = json.loads((tmp_path / "manifest.json").read_text())
    assert data["format"] == "ethogram.trajectories" and data["env"]["env_id"] == "toy" and "columns" in data
    shard = next((tmp_path / "shards").glob("*.parquet"))
    meta = pq.read_metadata(shard).metadata
    assert set(meta) == {b"ARROW:schema", b"ethogram"}
    schema = pq.read_schema(shard)
    assert not any(str(f.type).startswith("extension") for f in schema)
