"""Mixed teams (``marl.seats``): scripted seats beside tiny trained policies of both worlds, in the
combined policy, ``ethogram rollout --seat`` and a study, and bad seat specs refused before any file."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

import envs
from analysis.dataset import load, open_dataset
from envs.config import ConfigError
from experiments.cli import main
from marl.loading import load_policy, policy_manifest
from marl.seats import MixedTeam, SeatError
from marl.study import eval_config, expand_conditions, run_study, study_from_dict

pytestmark = pytest.mark.ray

SEATS = {
    "cooking": {"agent_1": "scripted:planner@0.2"},  # noise: the team's generator is exercised
    "cleanup": {"agent_2": "scripted:free_rider", "agent_4": "scripted:random"},
}


def _env(policy_dir, num_envs: int = 2) -> envs.BatchedEnv:
    spec = policy_manifest(policy_dir)["env_spec"]
    return envs.make_batched(spec["env_id"], eval_config(spec["config"]), num_envs)


@pytest.mark.parametrize("world", ["cooking", "cleanup"])
def test_each_seat_acts_as_its_own_policy_would(tiny_policies, world):
    env = _env(tiny_policies[world])
    mixed = MixedTeam(load_policy(tiny_policies[world], env, seed=3), env, SEATS[world], seed=3)
    trained = load_policy(tiny_policies[world], env, seed=3)
    team = envs.make_scripted(env, mixed.team_roles, seed=3)
    assert mixed.team_roles.count("idle") == env.num_agents - len(SEATS[world])  # the trained seats' filler
    scripted = mixed.scripted
    out = env.reset(seed=11)
    for step in range(16):
        if step == 8:  # the recorder reseeds per batch: both halves restart from the seed
            mixed.seed(5)
            trained.seed(5)
            team = envs.make_scripted(env, mixed.team_roles, seed=5)
        got, want_trained, want_scripted = mixed.act(env, out), trained.act(env, out), team.act(env, out)
        np.testing.assert_array_equal(got.actions[:, scripted], want_scripted.actions[:, scripted])
        np.testing.assert_array_equal(got.actions[:, ~scripted], want_trained.actions[:, ~scripted])
        assert np.isnan(got.concepts[:, scripted]).all() and got.intervened is None
        np.testing.assert_array_equal(got.concepts[:, ~scripted], want_trained.concepts[:, ~scripted])
        out = env.step(got.actions)


def test_interventions_reach_trained_seats_only(tiny_policies):
    env = _env(tiny_policies["cleanup"])
    mixed = MixedTeam(load_policy(tiny_policies["cleanup"], env, seed=0), env, {"agent_2": "scripted:idle"}, seed=0)
    with pytest.raises(SeatError, match=r"targets agent_2, a scripted seat: it has no concept bottleneck.*'all: agent_2\.\* -> mask'"):
        mixed.intervene(["agent_0,agent_2: self.* -> mask"])
    mixed.intervene(["all: self.* -> mask", "agent_0: agent_2.* -> mask"])  # all = the trained seats
    act = mixed.act(env, env.reset(seed=0))
    concepts = env.spec.concepts
    own = concepts.pred_slices["agent_0.position"]
    about = concepts.pred_slices["agent_2.position"]
    assert np.isnan(act.intervened[:, 2]).all() and np.isnan(act.concepts[:, 2]).all()
    assert np.all(act.intervened[:, 0, own] == 0) and np.all(act.intervened[:, 0, about] == 0)
    assert np.all(act.intervened[:, 1, own] == act.concepts[:, 1, own])  # agent_1 masks only its own concepts


def test_probes_skip_a_scripted_seats_bottleneck():
    cfg = study_from_dict({"name": "x", "subjects": [{"name": "s", "checkpoint": "."}], "probes": ["own", "about", "idle"]})
    conditions = expand_conditions(cfg, ("agent_0", "agent_1", "agent_2"), scripted=("agent_2",))
    assert [c for c in conditions if c.startswith(("own:", "about:"))] == [
        "own:agent_0",
        "own:agent_1",
        "about:agent_0>agent_1",
        "about:agent_1>agent_0",
        "about:agent_2>agent_0",
        "about:agent_2>agent_1",
    ]
    assert conditions["about:agent_2>agent_0"].lines == ("agent_0: agent_2.* -> mask",)
    assert {c: v.seats for c, v in conditions.items() if c.startswith("idle:")} == {
        f"idle:agent_{i}": {f"agent_{i}": "scripted:idle"} for i in range(3)
    }


def test_cleanup_study_with_planted_lazy_agents(tiny_policies, tmp_path):
    """Two harvesters give the team a return, a planted idle agent is lazy by construction (its
    idle: knock-out changes nothing), and the planted free rider gets the lazy test too."""
    seats = {"agent_0": "scripted:harvester", "agent_1": "scripted:idle", "agent_2": "scripted:free_rider"}
    cfg = study_from_dict(
        {
            "name": "planted",
            "checkpoints": [{"name": "planted", "path": str(tiny_policies["cleanup"]), "seats": seats}],
            "envs": [{"name": "", "config": {"waste_from_map": False, "penalty_fine": 0.0, "penalty_cost": 0.0}}],
            "probes": ["own", "idle"],
            "conditions": {"mask_others": ["all: teammates.* -> mask"]},
            "seeds": [0],
            "episodes": 4,
            "num_envs": 4,
            "n_resamples": 199,
            "lazy_margin": 0.25,
        }
    )
    summary = run_study(cfg, tmp_path, use_ray=False, log=lambda _: None)
    subject = summary["subjects"][0]
    assert set(subject["conditions"]) == {"control", "mask_others", "own:agent_3", "own:agent_4", *(f"idle:agent_{i}" for i in range(5))}
    assert subject["policy"].endswith("with agent_0=scripted:harvester, agent_1=scripted:idle, agent_2=scripted:free_rider")
    assert subject["condition_policies"]["idle:agent_2"].endswith("agent_2=scripted:idle")
    assert "idle:agent_1" not in subject["condition_policies"]  # idle already
    lazy = {f["subject"]: f for f in subject["findings"] if f["detector"] == "lazy_agent"}
    assert set(lazy) == {"agent_3", "agent_4", *(f"agent_{i} (idle probe)" for i in range(5))}
    assert subject["control_team_return"] > 0 and lazy["agent_1 (idle probe)"]["verdict"]  # idle knocked out: nothing changes
    assert not lazy["agent_0 (idle probe)"]["verdict"]  # the harvester earns the team's apples
    assert "seating it idle (its world's scripted idle: no action)" in lazy["agent_2 (idle probe)"]["statement"]
    assert {r["agent"]: r["role"] for r in subject["roles"]}["agent_0"] == "harvester"
    assert [n["id"] for n in subject["dependency_graph"]["nodes"]] == [f"agent_{i}" for i in range(5)]
    eps = load(tmp_path / "datasets" / "planted" / "control" / "seed_0", fields=("predicted",))
    assert np.isnan(eps.predicted[eps.mask][:, :3]).all() and np.isfinite(eps.predicted[eps.mask][:, 3:]).all()


def test_cooking_study_cli_with_a_scripted_partner(tiny_policies, tmp_path, capsys):
    path = tmp_path / "study.yaml"
    subject = {"name": "cross", "checkpoint": str(tiny_policies["cooking"]), "seats": {"agent_1": "scripted:planner"}}
    path.write_text(yaml.safe_dump({"name": "x", "subjects": [subject], "probes": ["own", "about", "idle"], "episodes": 2, "num_envs": 2}))
    assert main(["study", str(path), "--out", str(tmp_path / "out"), "--local", "--set", "n_resamples=99"]) == 0
    assert "cross: control team return" in capsys.readouterr().out
    subject = json.loads((tmp_path / "out" / "summary.json").read_text())["subjects"][0]
    assert set(subject["conditions"]) == {"control", "own:agent_0", "about:agent_1>agent_0", "idle:agent_0", "idle:agent_1"}
    assert [n["id"] for n in subject["dependency_graph"]["nodes"]] == ["agent_0", "agent_1"]
    assert {f["subject"] for f in subject["findings"] if f["detector"] == "lazy_agent"} == {
        "agent_0",
        "agent_0 (idle probe)",
        "agent_1 (idle probe)",
    }


def test_rollout_seat(tiny_policies, tmp_path):
    policy = f"checkpoint:{tiny_policies['cleanup']}"
    common = ["rollout", "--env", "cleanup", "--set", "horizon=30", "--policy", policy, "--episodes", "2", "--num-envs", "2"]
    seat = ["--seat", "agent_2=scripted:free_rider", "--no-obs", "--no-progress"]
    for name in ("a", "b"):
        assert main([*common, *seat, "--out", str(tmp_path / name)]) == 0
    manifest = open_dataset(tmp_path / "a").manifest
    assert manifest.policy.kind == "checkpoint" and manifest.policy.name.endswith(" with agent_2=scripted:free_rider")
    a, b = (load(tmp_path / n, fields=("actions", "predicted")) for n in ("a", "b"))
    np.testing.assert_array_equal(a.actions, b.actions)  # same seed, same episodes
    assert np.isnan(a.predicted[a.mask][:, 2]).all() and np.isfinite(a.predicted[a.mask][:, [0, 1, 3, 4]]).all()


def test_bad_seats_fail_before_anything_is_written(tiny_policies, tmp_path, capsys):
    cleanup, cooking = str(tiny_policies["cleanup"]), str(tiny_policies["cooking"])

    def study(checkpoint, seats, **extra):
        return study_from_dict({"name": "x", "subjects": [{"name": "s", "checkpoint": checkpoint, "seats": seats}], **extra})

    out = tmp_path / "study"
    for checkpoint, seats, extra, message in [
        (
            cleanup,
            {"agent_9": "scripted:idle"},
            {},
            r"seat 'agent_9': no such agent in cleanup; agents: agent_0, agent_1, agent_2, agent_3, agent_4",
        ),
        (
            cleanup,
            {"agent_2": "scripted:gardener"},
            {},
            "scripted role='gardener' is not allowed; choose one of: cleaner, harvester, free_rider",
        ),
        (
            cooking,
            {"agent_1": "scripted:free_rider"},
            {},
            "in cooking: scripted role='free_rider' is not allowed; choose one of: planner, ingredient",
        ),
        (cleanup, {"agent_2": "scripted:cleaner@0.1"}, {}, "cleanup scripted agents take no exploration noise"),
        (cooking, {"agent_0": "scripted:idle", "agent_1": "scripted:idle"}, {}, "nothing is left for the trained policy"),
        (cleanup, {"agent_2": "scripted:idle"}, {"conditions": {"c": ["agent_2: self.* -> mask"]}}, "condition 'c'.*a scripted seat"),
    ]:
        with pytest.raises(SeatError, match=message):
            run_study(study(checkpoint, seats, **extra), out, use_ray=False)
        assert not out.exists()
    for seats, message in [
        ({"agent_2": "free_rider"}, r"seat agent_2='free_rider': a seat takes a scripted role, written scripted:ROLE\[@EPSILON\]"),
        ({"agent_2": "scripted:cleaner,harvester"}, "name one role"),
        ({"agent_2": "checkpoint:runs/x"}, "a seat takes a scripted role"),
        ({"agent_2": 3}, "seats.agent_2=3 must be a string"),
        (["agent_2"], r"study.subjects\[0\].seats=\[.agent_2.\] must be a mapping"),
    ]:
        with pytest.raises(ConfigError, match=message):
            study(cleanup, seats)
    with pytest.raises(ConfigError, match="each checkpoints entry is a mapping with name, path and optionally seats"):
        study_from_dict({"name": "x", "checkpoints": [{"name": "a", "path": cleanup, "seat": {}}]})
    with pytest.raises(ConfigError, match="reserved for the generated probes"):
        study(cleanup, None, conditions={"idle:agent_0": []})
    # the rollout command: every refusal returns 2 with the reason, and writes nothing
    rollout = ["rollout", "--episodes", "1", "--no-progress", "--out", str(tmp_path / "rollout")]
    for args, message in [
        (
            ["--env", "cooking", "--policy", f"checkpoint:{cleanup}", "--seat", "agent_1=scripted:idle"],
            "is a cleanup policy, but --env is cooking",
        ),
        (["--env", "cleanup", "--policy", "scripted:cleaner", "--seat", "agent_1=scripted:idle"], "--seat needs a checkpoint:PATH policy"),
        (["--env", "cleanup", "--policy", f"checkpoint:{cleanup}", "--seat", "agent_1"], "write AGENT=scripted:ROLE"),
        (["--env", "cleanup", "--policy", f"checkpoint:{cleanup}", "--seat", "agent_7=scripted:idle"], "no such agent in cleanup"),
        (
            [
                "--env",
                "cleanup",
                "--policy",
                f"checkpoint:{cleanup}",
                "--seat",
                "agent_1=scripted:idle",
                "--intervene",
                "agent_1: self.* -> mask",
            ],
            "targets agent_1, a scripted seat",
        ),
    ]:
        assert main([*rollout, *args]) == 2
        assert message in capsys.readouterr().err
        assert not (tmp_path / "rollout").exists()
