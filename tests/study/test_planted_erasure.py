"""Planted truth for probe interventions (issue 17, item 5), through ``ethogram study --local``.

Two baseline policies share one trained encoder, so the same concept — each agent's orientation —
is decodable from their ``features`` layer; their heads are wired by hand (``tests.marl.probe_world``):
``needs`` moves clockwise of where the orientation probe says it faces, ``ignores`` reads four
directions orthogonal to the orientation's cross-covariance with the layer. Erasing the orientation
at ``features`` must change what the first does and leave the second's actions identical (same
seeds: the study's common random numbers), although the erasure moves the layer it reads. A cbp
subject runs the same conditions; steering runs through the study too; the datasets record the
condition and its probe file, and the analysis runs on it. Bad subjects are refused before anything
is written. No Ray: the study runs its tasks in this process.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from analysis.dataset import open_dataset
from analysis.probes import load_probes
from experiments.cli import main
from marl.activations import capture
from marl.loading import load_policy
from marl.probe_edits import MissingProbeError, NoProbeFileError, ProbeEditor, ProbeMismatchError
from marl.study import load_study, run_study

ERASE = "all: self.orientation -> erase @layer=features"
STEER = "all: self.orientation -> steer(2) @layer=features"  # face down, by the probe
CONDITIONS = {"erase_facing": [ERASE], "steer_down": [STEER]}


def _write(tmp_path, subjects, conditions=CONDITIONS, name="study.yaml"):
    data = {"name": "planted", "subjects": subjects, "conditions": conditions, "seeds": [0], "episodes": 4, "num_envs": 4}
    path = tmp_path / name
    path.write_text(yaml.safe_dump({**data, "n_resamples": 99}))
    return path


def _subject(world, name, probes=True):
    return {"name": name, "checkpoint": str(world[name]), **({"probe_file": str(world[f"{name}_probes"])} if probes else {})}


def _episodes(out, subject, condition):
    return open_dataset(out / "datasets" / subject / condition / "seed_0").load(fields=("actions", "concepts", "rewards"))


def _clockwise(eps) -> float:
    """Fraction of agent-steps whose action is the direction clockwise of where the agent faces."""
    spec, hits = eps.spec, []
    for i, agent in enumerate(spec.agents):
        facing = eps.concepts[:, :, i, spec.concepts.gt_slices[f"{agent}.orientation"]][..., 0].astype(int)  # (E, T)
        hits.append((eps.actions[:, :, i] == (facing + 1) % 4)[eps.mask])
    return float(np.concatenate(hits).mean())


def test_the_ignoring_agents_heads_are_blind_to_the_erasure_it_undergoes(probe_world):
    """Both layers decode the orientation; the eraser moves the ``ignores`` agent's features, not what its heads read."""
    data = open_dataset(probe_world["scripted"])
    for name in ("needs", "ignores"):
        probes = load_probes(probe_world[f"{name}_probes"])
        assert all(probes.score(a, "features", f"{a}.orientation").skill > 0.9 for a in ("agent_0", "agent_1")), name
    policy = load_policy(probe_world["ignores"], data.manifest.env)
    probes = load_probes(probe_world["ignores_probes"])
    editor = ProbeEditor(policy, _parsed(policy, ERASE), probes)
    feats = capture(policy, data, ["features"], episode_ids=[0, 1]).layers["features"][:, :, 0].reshape(-1, 32)  # agent_0's rows
    erased = editor.edit("agent_0", "features", feats, np.zeros(len(feats), int), np.zeros(len(feats), int))
    head = policy.modules["agent_0"].concept_head.weight.detach().numpy().astype(np.float64)  # its readings of the layer
    assert np.abs(erased - feats).mean() > 0.05 * feats.std()
    np.testing.assert_allclose(erased @ head.T, feats.astype(np.float64) @ head.T, atol=1e-6)  # the float32 weights round at 1e-8


def _parsed(policy, line):
    from envs.interventions import parse_condition

    return parse_condition([line], policy.spec.concepts)


def test_erasure_changes_the_agent_that_needs_the_concept_and_not_the_one_that_ignores_it(probe_world, tmp_path, capsys):
    subjects = [_subject(probe_world, n) for n in ("needs", "ignores", "cbp")]
    out = tmp_path / "out"
    assert main(["study", str(_write(tmp_path, subjects)), "--out", str(out), "--local"]) == 0
    assert "study written to" in capsys.readouterr().out
    needs = {c: _episodes(out, "needs", c) for c in ("control", "erase_facing", "steer_down")}
    ignores = {c: _episodes(out, "ignores", c) for c in ("control", "erase_facing")}
    np.testing.assert_array_equal(ignores["erase_facing"].actions, ignores["control"].actions)  # identical, step for step
    same = (needs["erase_facing"].actions == needs["control"].actions)[needs["control"].mask].mean()
    rates = {c: _clockwise(eps) for c, eps in needs.items()}
    assert same < 0.6 and rates["control"] > 0.7 and rates["erase_facing"] < 0.2, (same, rates)
    steered = needs["steer_down"]
    assert (steered.actions[steered.mask] == 3).mean() > 0.9  # told it faces down, it moves left (clockwise of down)
    manifest = open_dataset(out / "datasets" / "needs" / "erase_facing" / "seed_0").manifest
    assert json.loads(manifest.condition.spec) == [ERASE]
    probes_dir = out / "datasets" / "needs" / "erase_facing" / "seed_0" / manifest.condition.probes
    assert probes_dir.resolve() == probe_world["needs_probes"].resolve()
    assert open_dataset(out / "datasets" / "needs" / "control" / "seed_0").manifest.condition.probes is None
    summary = json.loads((out / "summary.json").read_text())
    assert {s["subject"] for s in summary["subjects"]} == {"needs", "ignores", "cbp"}
    effects = pd.read_csv(out / "effects.csv")
    assert {"erase_facing", "steer_down"} <= set(effects["condition"])
    plan = json.loads((out / "study.json").read_text())
    for entry in plan["config"]["subjects"]:  # relative to the study directory, like the checkpoints
        assert not entry["probe_file"].startswith("/") and (out / entry["probe_file"]).resolve() == probe_world[f"{entry['name']}_probes"]
    print(f"planted truth: needs keeps {same:.0%} of its actions under erasure; clockwise {rates}")


@pytest.mark.parametrize(
    ("subject", "conditions", "error", "message"),
    [
        ("baseline", {"m": ["all: self.* -> mask"]}, ValueError, "baseline policy without concepts: only the control and idle"),
        ("baseline-no-file", {"e": [ERASE]}, NoProbeFileError, "condition 'e': .*no probe file is named"),
        ("baseline-cbp-file", {"e": [ERASE]}, ProbeMismatchError, "condition 'e': .*fitted on another policy"),
        ("baseline", {"e": ["all: self.orientation -> erase @layer=pi.relu0"]}, MissingProbeError, "no probes at pi.relu0"),
    ],
)
def test_bad_subjects_are_refused_before_anything_is_written(probe_world, tmp_path, subject, conditions, error, message):
    name, _, variant = subject.partition("-")
    entry = _subject(probe_world, name, probes=variant != "no-file")
    if variant == "cbp-file":
        entry["probe_file"] = str(probe_world["cbp_probes"])
    with pytest.raises(error, match=message):
        run_study(load_study(_write(tmp_path, [entry], conditions)), tmp_path / "out", use_ray=False)
    assert not (tmp_path / "out").exists()
