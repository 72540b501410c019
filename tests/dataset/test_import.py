"""`ethogram data import`: tables recorded elsewhere become datasets that load and analyse like recorded ones.

A recorded dataset exported to a flat CSV comes back array for array; a table of "another world"
(three string-named foragers, vector observations, per-agent and object concepts) imports through
the CLI and `ethogram analyze` runs on it; every bad input is refused before anything is written.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from test_interop import FOREIGN

from analysis.dataset import load, open_dataset
from analysis.dataset.importer import import_table, read_table
from analysis.dataset.mapping import load_mapping, mapping_from_dict
from envs.config import ConfigError
from experiments.cli import main
from marl.record import record

FIXTURE = Path(__file__).parent / "fixtures" / "foraging.yaml"
WRITTEN = ("cat", "ant", "bee")
"""The foragers in the order the table lists them (the dataset sorts them)."""


def foraging_table(episodes: int = 10, seed: int = 0) -> pd.DataFrame:
    """The table FIXTURE maps: episode e (id 100 + 7e) lasts 16 + e steps; episode 0's last step is
    unflagged, odd episodes end by timeout, even ones (but 0) by death; the den is absent at t = 0 of
    even episodes (empty cells)."""
    rng = np.random.default_rng(seed)
    rows: list[dict] = []
    for e in range(episodes):
        length, weather = 16 + e, ("sun", "rain", "storm")[e % 3]
        for t in range(length):
            last = t == length - 1
            den = (np.nan, np.nan) if t == 0 and e % 2 == 0 else (rng.integers(0, 8), rng.integers(0, 6))
            rows.extend(
                {
                    "episode_id": 100 + 7 * e,
                    "t": t,
                    "who": who,
                    "move": int(rng.integers(0, 5)),
                    "food": float(rng.normal()),
                    "dead": int(last and e % 2 == 0 and e > 0),
                    "timeout": int(last and e % 2 == 1),
                    "smell_0": float(rng.random() * 3 - 1),
                    "smell_1": float(rng.random()),
                    "hunger": int(rng.integers(0, 11)),
                    "carrying": int(rng.integers(0, 2)),
                    "bush_ripe": int(t % 4 < 2),
                    "weather": weather,
                    "den_x": den[0],
                    "den_y": den[1],
                    "ate": int(rng.integers(0, 3)),
                    "bumped": int(rng.integers(0, 2)),
                }
                for who in WRITTEN
            )
    return pd.DataFrame(rows)


def _row(table: pd.DataFrame, episode: int, t: int, who: str) -> pd.Series:
    return table[(table.episode_id == episode) & (table.t == t) & (table.who == who)].iloc[0]


def _mapping_of(manifest) -> dict:
    """A mapping that imports a table exported from a dataset with ``manifest`` (events renamed to their names)."""
    env = manifest.env
    concepts = []
    for s in env.concepts.specs:
        column = [f"concept.{s.name}.x", f"concept.{s.name}.y"] if s.kind == "position" else f"concept.{s.name}"
        concept = {"name": s.attr, "owner": s.owner, "kind": s.kind.value, "column": column, "description": s.description}
        if s.kind == "categorical":
            concept["classes"] = list(s.classes)
        if s.kind == "scalar":
            concept.update(low=s.low, high=s.high)
        concepts.append(concept)
    return {
        "env_id": f"imported:{env.env_id}",
        "action_names": list(env.action_names),
        "terminated": "terminated",
        "truncated": "truncated",
        "concepts": concepts,
        "events": list(env.event_names),
        "team_reward": env.team_reward,
    }


def test_round_trip_of_a_recorded_dataset_through_csv(tmp_path):
    src = tmp_path / "recorded"
    record("cooking", {"horizon": 48}, "scripted:planner,idle", 2, src, seed=0, num_envs=2, store_obs=False, progress=False)
    table = pd.read_parquet(src / "shards").rename(columns=lambda c: c.removeprefix("event."))
    table.to_csv(tmp_path / "table.csv", index=False)
    original = open_dataset(src).manifest.env
    (tmp_path / "map.yaml").write_text(yaml.safe_dump(_mapping_of(open_dataset(src).manifest)))

    ds = import_table(tmp_path / "table.csv", tmp_path / "map.yaml", tmp_path / "imported")
    a, b = load(src), load(ds)
    for name in ("actions", "rewards", "concepts", "events", "terminated", "truncated", "mask", "episode_ids"):
        np.testing.assert_array_equal(getattr(b, name), getattr(a, name), err_msg=name)
    assert a.concepts.any() and a.events.any() and a.rewards.any()
    got = b.spec
    assert (got.agents, got.action_names, got.event_names, got.team_reward) == (
        original.agents,
        original.action_names,
        original.event_names,
        original.team_reward,
    )
    described = [s for s in original.concepts.specs if s.description]
    assert [(s.name, s.kind, s.classes, s.low, s.high) for s in got.concepts.specs] == [
        (s.name, s.kind, s.classes, s.low, s.high) for s in original.concepts.specs
    ]
    assert described and all(got.concepts[s.name].description == s.description for s in described)
    m = ds.manifest
    assert (m.policy.kind, m.policy.name, m.obs_storage, got.env_id) == ("external", "imported:table.csv", "none", "imported:cooking")


def test_another_world_imports_and_analyze_runs_on_it(tmp_path, capsys):
    table = foraging_table()
    table.to_parquet(tmp_path / "forage.parquet")
    out = tmp_path / "ds"
    assert main(["data", "import", str(tmp_path / "forage.parquet"), "--mapping", str(FIXTURE), "--out", str(out)]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("imported 10 episodes, 3 agents (ant, bee, cat), 205 steps (615 agent-steps), 6 concepts, 2 events")

    eps = load(out, fields=("actions", "rewards", "concepts", "events", "obs"))
    spec = eps.spec
    assert spec.agents == ("ant", "bee", "cat") and spec.grid == (6, 8)
    assert spec.concepts.names == ("ant.carrying", "bee.carrying", "cat.carrying", "bush_0.ripe", "env.weather", "den.position")
    assert eps.episode_ids.tolist() == [100 + 7 * e for e in range(10)] and eps.lengths.tolist() == list(range(16, 26))
    assert not eps.mask[0, 16:].any() and (eps.actions[0, 16:] == -1).all()  # shorter episodes padded and masked
    assert eps.terminated[:, -1].sum() == 0 and eps.terminated.sum() == 4 and eps.truncated.sum() == 6  # episode 0: unflagged → truncated
    assert eps.truncated[0, 15] and eps.truncated[1, 16] and eps.terminated[2, 17]

    e, t = 5, 3
    rows = {who: _row(table, 100 + 7 * e, t, who) for who in WRITTEN}
    for i, viewer in enumerate(spec.agents):
        c = eps.concepts[e, t, i]
        assert c[:3].tolist() == [rows[w]["carrying"] for w in spec.agents]  # every viewer sees every forager's own value
        assert c[3] == rows[viewer]["bush_ripe"] and c[4] == 2  # storm
        np.testing.assert_allclose(c[5:7], [rows[viewer]["den_x"] / 7, rows[viewer]["den_y"] / 5], rtol=1e-6)
        assert eps.actions[e, t, i] == rows[viewer]["move"] and eps.events[e, t, i].tolist() == [
            rows[viewer]["ate"],
            rows[viewer]["bumped"],
        ]
        np.testing.assert_allclose(eps.rewards[e, t, i], rows[viewer]["food"], rtol=1e-6)
    assert (eps.concepts[0, 0, :, 5:7] == -1).all()  # the den absent (empty cells)

    decode = spec.config["observation"]
    assert spec.observation.shape == (1, 1, 3) and spec.observation.channels == ("smell_0", "smell_1", "hunger") == tuple(decode["columns"])
    values = eps.obs[e, t, :, 0, 0].astype(float) * decode["scale"] + decode["low"]  # (N, 3)
    expected = np.array([[rows[w][c] for c in decode["columns"]] for w in spec.agents])
    np.testing.assert_allclose(values, expected, atol=max(decode["scale"]) / 2 + 1e-9)
    assert decode["scale"][2] == 1 and (values[:, 2] == expected[:, 2]).all()  # integers 0..255: exact

    res = subprocess.run([sys.executable, "-c", FOREIGN, str(out)], capture_output=True, text=True, timeout=60, check=True)
    foreign = json.loads(res.stdout)
    assert foreign["ethogram_imported"] == [] and foreign["rows"] == foreign["arrow_rows"] == 615

    report = tmp_path / "analysis"
    argv = ["analyze", str(out), "--out", str(report), "--epochs", "2", "--window", "8", "--stride", "8", "--hidden", "16"]
    assert main([*argv, "--k-max", "3", "--concepts", "2"]) == 0
    summary = json.loads((report / "summary.json").read_text())
    assert summary["episodes"] == 10 and (report / "clusters_local.csv").is_file() and (report / "figures" / "examples.png").is_file()


SCALAR_X = {"name": "x", "kind": "scalar", "column": "x"}


def test_agents_in_natural_order_and_minimal_mapping(tmp_path):
    """String agents sort naturally; the key columns default to the dataset's own names; non-string
    column names are matched as strings; no flag, no observation, no event."""
    rows = [(e, t, who) for e in (0, 1) for t in range(3) for who in ("a10", "a2", "a1")]
    table = pd.DataFrame(rows, columns=["episode", "step", "agent"]).assign(action=[1, 0, 2] * 6, reward=0.5, x=0.25)
    table[7] = 1  # a column named by a number (unused)
    ds = import_table(table, mapping_from_dict({"env_id": "imported:min", "concepts": [SCALAR_X]}), tmp_path / "ds")
    eps = ds.load()
    assert eps.spec.agents == ("a1", "a2", "a10") and eps.spec.action_names == ("a0", "a1", "a2")
    assert eps.actions[0, 0].tolist() == [2, 0, 1] and eps.truncated[:, 2].all() and not eps.terminated.any()
    assert ds.manifest.obs_storage == "none" and eps.events.shape == (2, 3, 3, 0) and (eps.concepts == 0.25).all()
    assert (eps.spec.concepts["env.x"].low, eps.spec.concepts["env.x"].high) == (0.25, 0.25)  # the column's range


def _nothing_written(tmp_path: Path, out: Path) -> None:
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def _drop_row(table: pd.DataFrame) -> pd.DataFrame:
    return table.drop(index=4)


def _repeat_row(table: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([table, table.iloc[[5]]])


def _set(column: str, value, where=slice(3, 4)):
    def change(table: pd.DataFrame) -> pd.DataFrame:
        table = table.copy()
        table.loc[table.index[where], column] = value
        return table

    return change


BAD_TABLES = {
    "missing columns, all named": (
        lambda t: t.drop(columns=["move", "den_y", "smell_0", "smell_1"]),
        r"lacks 3 mapped column\(s\): action 'move'; concept 'position' 'den_y'; observation 'smell_\*' \(matches no column\)\. "
        r"Its columns: episode_id, t, who, food",
    ),
    "non-numeric action": (lambda t: t.assign(move=t.move.map(list("nesw.").__getitem__)), r"action column 'move': not numeric \(dtype"),
    "duplicate rows": (_repeat_row, r"1 \(episode, step, agent\) row\(s\) appear more than once, e.g. \(episode 100, step 1, bee\)"),
    "missing row": (_drop_row, r"1 \(episode, step, agent\) row\(s\) are missing, e.g. \(episode 100, step 1, ant\)"),
    "categorical out of classes": (
        _set("weather", "snow"),
        r"concept 'weather' column 'weather': 1 value\(s\) not among classes .*\['snow'\]",
    ),
    "binary not 0/1": (_set("carrying", 2), r"concept 'carrying' column 'carrying': values must lie in \[0, 1\], found 0..2"),
    "flag before the last step": (_set("dead", 1), r"1 terminated flag\(s\) before an episode's last step, e.g. episode 100 at step 1"),
    "position off the grid": (_set("den_x", 8), r"concept 'position' column 'den_x': values must lie in \[-1, 7\]"),
    "empty reward": (_set("food", np.nan), r"reward column 'food': 1 empty value\(s\), first at row 3"),
}


@pytest.mark.parametrize("case", list(BAD_TABLES))
def test_bad_tables_are_refused_before_anything_is_written(case, tmp_path):
    change, message = BAD_TABLES[case]
    out = tmp_path / "ds"
    with pytest.raises(ValueError, match=message):
        import_table(change(foraging_table(episodes=3)), FIXTURE, out)
    _nothing_written(tmp_path, out)


def test_value_problems_are_reported_together(tmp_path):
    table = _set("weather", "snow")(foraging_table(episodes=2)).assign(ate=-1)
    with pytest.raises(ValueError, match=r"2 problem\(s\) with its values:\n  concept 'weather'.*\n  event column 'ate'") as err:
        import_table(table, FIXTURE, tmp_path / "ds")
    assert "found -1..-1" in str(err.value)
    _nothing_written(tmp_path, tmp_path / "ds")


def test_cli_refuses_unknown_mapping_keys_suffixes_and_used_directories(tmp_path, capsys):
    foraging_table(episodes=2).to_csv(tmp_path / "t.csv", index=False)
    bad = tmp_path / "bad.yaml"
    bad.write_text(FIXTURE.read_text() + "colour: red\n")
    out = tmp_path / "ds"
    argv = ["data", "import", str(tmp_path / "t.csv"), "--mapping", str(bad), "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "unknown key(s) colour; allowed: env_id, concepts, episode, step, agent, action, reward, done" in err and str(bad) in err
    (tmp_path / "t.xlsx").write_bytes(b"PK")
    assert main(["data", "import", str(tmp_path / "t.xlsx"), "--mapping", str(FIXTURE), "--out", str(out)]) == 2
    assert "t.xlsx: unknown table suffix; supported: .parquet, .pq, .csv, .csv.gz, .tsv" in capsys.readouterr().err
    assert not out.exists()
    out.mkdir()
    (out / "keep.txt").write_text("x")
    assert main(["data", "import", str(tmp_path / "t.csv"), "--mapping", str(FIXTURE), "--out", str(out)]) == 2
    assert "exists and is not empty" in capsys.readouterr().err and sorted(p.name for p in out.iterdir()) == ["keep.txt"]


BAD_MAPPINGS = {
    "no prefix": ({"env_id": "foraging"}, r"env_id='foraging' must be imported:NAME"),
    "no concepts": ({"concepts": []}, r"map at least one concept column"),
    "concepts not given": ({"concepts": None}, r"concepts required"),
    "unknown concept key": (
        {"concepts": [{"name": "x", "kind": "binary", "column": "c", "colour": 1}]},
        r"concepts\[0\]: unknown key\(s\) colour; allowed: name, kind, column, owner, per_agent, classes, low, high, description",
    ),
    "missing concept key": ({"concepts": [{"name": "x", "column": "c"}]}, r"concepts\[0\]: missing kind"),
    "unknown kind": (
        {"concepts": [{"name": "x", "kind": "ordinal", "column": "c"}]},
        r"kind='ordinal'; choose one of: binary, categorical, scalar, position",
    ),
    "position of one column": ({"concepts": [{"name": "p", "kind": "position", "column": "x"}]}, r"must be a list of two columns \[x, y\]"),
    "per-agent with an owner": (
        {"concepts": [{"name": "h", "kind": "binary", "column": "h", "per_agent": True, "owner": "pot"}]},
        r"remove owner='pot'",
    ),
    "categorical without classes": ({"concepts": [{"name": "w", "kind": "categorical", "column": "w"}]}, r"needs at least 2 classes"),
    "range of a binary": ({"concepts": [{"name": "h", "kind": "binary", "column": "h", "high": 3}]}, r"high is only for scalar"),
    "done and terminated": ({"done": "d", "terminated": "t"}, r"give done \(one flag\) or terminated/truncated, not both"),
    "team reward": ({"team_reward": "max"}, r"team_reward='max'; choose one of: sum, mean"),
    "grid": ({"grid": [5]}, r"grid must be \[rows, cols\]"),
    "column type": ({"action": 3}, r"action must be a list of non-empty strings"),
}


@pytest.mark.parametrize("case", list(BAD_MAPPINGS))
def test_bad_mappings_name_the_problem(case):
    change, message = BAD_MAPPINGS[case]
    with pytest.raises(ConfigError, match=message):
        mapping_from_dict({"env_id": "imported:x", "concepts": [{"name": "c", "kind": "binary", "column": "c"}], **change})


def test_the_documented_example_mapping_parses():
    example = load_mapping(Path(__file__).parents[2] / "docs" / "import_mapping.yaml")
    assert example.env_id.startswith("imported:") and example.concepts


@pytest.mark.parametrize("name", ["t.csv", "t.csv.gz", "t.tsv", "t.jsonl", "t.feather", "t.pq", "folder"])
def test_read_table_by_suffix(name, tmp_path):
    table = foraging_table(episodes=1).drop(columns=["den_x", "den_y"])
    path = tmp_path / name
    writers = {
        "t.csv": lambda: table.to_csv(path, index=False),
        "t.csv.gz": lambda: table.to_csv(path, index=False),
        "t.tsv": lambda: table.to_csv(path, sep="\t", index=False),
        "t.jsonl": lambda: table.to_json(path, orient="records", lines=True),
        "t.feather": lambda: table.to_feather(path),
        "t.pq": lambda: table.to_parquet(path),
        "folder": lambda: path.mkdir() or table.to_parquet(path / "part-0.parquet"),
    }
    writers[name]()
    got = read_table(path)
    pd.testing.assert_frame_equal(got[table.columns], table, check_dtype=False)
