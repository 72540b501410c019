"""A dataset reads the same without this package: pyarrow, pandas, polars and DuckDB in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
from toy_dataset import toy_batch, toy_manifest

from analysis.dataset import DatasetWriter, load

FOREIGN = textwrap.dedent(
    """
    import json, sys
    import duckdb, numpy as np, pandas as pd, polars as pl, pyarrow.parquet as pq

    root = sys.argv[1]
    manifest = json.load(open(root + "/manifest.json"))
    df = pd.read_parquet(root + "/shards")                       # a folder of shards, as pandas reads it
    df = df.sort_values(["episode", "step", "agent"])
    returns = df.groupby(["episode", "agent"])["reward"].sum()
    pl_df = pl.read_parquet(root + "/shards/*.parquet")
    duck = duckdb.sql(f"select episode, agent, sum(reward) as r from read_parquet('{root}/shards/*.parquet') group by 1, 2 order by 1, 2")
    out = {
        "agents": manifest["env"]["agents"],
        "rows": len(df),
        "returns": [[int(e), int(a), float(r)] for (e, a), r in returns.items()],
        "actions": np.bincount(df["action"], minlength=len(manifest["env"]["action_names"])).tolist(),
        "concepts": df[[c for c in df.columns if c.startswith("concept.")]].to_numpy(np.float64).sum(axis=0).tolist(),
        "concept_names": [c for c in df.columns if c.startswith("concept.")],
        "events": df[[c for c in df.columns if c.startswith("event.")]].to_numpy(np.int64).sum(axis=0).tolist(),
        "obs": int(sum(np.frombuffer(b, np.uint8).astype(np.int64).sum() for b in df["obs"])),
        "obs_first": list(df["obs"].iloc[0]),
        "polars_returns": pl_df.group_by(["episode", "agent"]).agg(pl.col("reward").sum()).sort(["episode", "agent"])["reward"].to_list(),
        "duckdb_returns": [r for _, _, r in duck.fetchall()],
        "arrow_rows": pq.read_table(root + "/shards").num_rows,
        "ethogram_imported": sorted(m for m in sys.modules if m.split(".")[0] in ("analysis", "envs", "marl", "experiments")),
    }
    print(json.dumps(out))
    """
)


def test_pandas_polars_duckdb_read_the_same_numbers(tmp_path):
    m = toy_manifest(predicted=True)
    with DatasetWriter(tmp_path, m) as w:
        w.write_shard("batch-000000", toy_batch(m, [0, 1], [12, 5]))
        w.write_shard("batch-000001", toy_batch(m, [2], [9], seed=3))
    res = subprocess.run([sys.executable, "-c", FOREIGN, str(tmp_path)], capture_output=True, text=True, timeout=60, check=True)
    got = json.loads(res.stdout)
    assert got["ethogram_imported"] == []
    eps = load(tmp_path, fields=("actions", "rewards", "concepts", "events", "obs"))
    mask = eps.mask
    assert got["rows"] == got["arrow_rows"] == int(mask.sum()) * 2
    returns = eps.returns()
    expected = [[int(e), a, float(returns[i, a])] for i, e in enumerate(eps.episode_ids) for a in range(2)]
    np.testing.assert_allclose([r for *_, r in got["returns"]], [r for *_, r in expected], rtol=1e-5)
    assert [r[:2] for r in got["returns"]] == [r[:2] for r in expected]
    np.testing.assert_allclose(got["polars_returns"], [r for *_, r in expected], rtol=1e-5)
    np.testing.assert_allclose(got["duckdb_returns"], [r for *_, r in expected], rtol=1e-5)
    assert got["actions"] == np.bincount(eps.actions[mask].ravel(), minlength=6).tolist()
    np.testing.assert_allclose(got["concepts"], eps.concepts[mask].reshape(-1, 7).astype(np.float64).sum(0), rtol=1e-6)
    assert got["concept_names"][:3] == ["concept.agent_0.position.x", "concept.agent_0.position.y", "concept.agent_1.position.x"]
    assert got["events"] == eps.events[mask].reshape(-1, 2).astype(np.int64).sum(0).tolist()
    assert got["obs"] == int(eps.obs[mask].astype(np.int64).sum())
    assert got["obs_first"] == eps.obs[0, 0, 0].ravel().tolist()  # row-major (H, W, C) bytes
