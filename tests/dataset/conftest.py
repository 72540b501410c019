"""Fixtures of the dataset tests."""

from __future__ import annotations

import pytest
from toy_dataset import toy_batch, toy_manifest

from analysis.dataset import DatasetWriter


@pytest.fixture
def dataset(tmp_path):
    """A toy dataset of 4 episodes in 2 shards, at ``tmp_path / "ds"``."""
    path = tmp_path / "ds"
    m = toy_manifest()
    with DatasetWriter(path, m) as w:
        w.write_shard("batch-000000", toy_batch(m, [0, 1], [12, 12]))
        w.write_shard("batch-000001", toy_batch(m, [2, 3], [12, 12], seed=1))
    return path
