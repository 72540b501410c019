"""Probe interventions on real tiny policies (no Ray): erasure at a real layer leaves a freshly fitted
probe at chance on activations the eraser never saw while other concepts stay decodable; the hooks
edit exactly the targeted agents' rows (independent and shared modules) inside the window; steering
makes the probe read its target at every recorded step and moves other probes only as far as they
covary with it; every bad condition is a named error before anything runs; ``ethogram rollout
--probes`` records the file.

Policies and probe files: ``tests.marl.probe_world`` (the ``probe_world`` fixture). Tolerance of "at
chance": three standard errors of a chance-level accuracy over the held-out rows
(``tests/analysis/test_erase_steer.py`` explains it).
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from analysis.dataset import open_dataset
from analysis.probes import ProbeConfig, fit_probes, load_probes
from analysis.probes.edits import STEER_LOGIT, leace_eraser
from experiments.cli import main
from marl.activations import UnknownLayerError, capture, module_agents
from marl.loading import load_policy
from marl.probe_edits import MissingProbeError, NoProbeFileError, ProbeEditor, ProbeMismatchError
from marl.record import record
from tests.marl.probe_world import KITCHEN, TEAM

ORIENTATION = "agent_0.orientation"


def _spec(world):
    return open_dataset(world["scripted"]).manifest.env


def _chance_tolerance(score) -> float:
    c = score.chance
    return 3 * np.sqrt(c * (1 - c) / score.n_test) / (1 - c)


def test_erasure_at_a_real_layer_leaves_a_fresh_probe_at_chance(probe_world, tmp_path):
    """The eraser comes from the saved file (fitted on the scripted recording); it is applied to a new
    recording's activations, on which fresh probes are fitted and scored."""
    record("cooking", KITCHEN, TEAM, 24, tmp_path / "fresh", seed=7, num_envs=8, progress=False)
    data = open_dataset(tmp_path / "fresh")
    policy = load_policy(probe_world["baseline"], data.manifest.env)
    saved = load_probes(probe_world["baseline_probes"])
    feats = capture(policy, data, ["features"]).layers["features"]  # (E, T, N, D)
    eps = data.load(fields=("concepts",))
    eraser = leace_eraser(saved.stats[("agent_0", "features")], [saved.probes[("agent_0", "features", ORIENTATION)].cross_cov])
    erased = feats.copy()
    erased[:, :, 0] = eraser(feats[:, :, 0].reshape(-1, feats.shape[-1])).reshape(feats[:, :, 0].shape)
    config, modules = ProbeConfig(null_draws=0, held_out=0.5), {"agent_0": (0,)}
    before = fit_probes({"features": feats}, eps.concepts, eps.mask, data.manifest.env, modules, config)
    after = fit_probes({"features": erased}, eps.concepts, eps.mask, data.manifest.env, modules, config)
    gone = after.score("agent_0", "features", ORIENTATION)
    assert before.score("agent_0", "features", ORIENTATION).skill > 0.9 and abs(gone.skill) < _chance_tolerance(gone), gone
    for concept in ("agent_0.holding_onion", "agent_0.holding_dish", "agent_1.orientation", "pot_0.count"):
        kept, was = after.score("agent_0", "features", concept).skill, before.score("agent_0", "features", concept).skill
        assert kept > 0.7 and kept > was - 0.05, (concept, kept, was)  # measured: within 0.03 of before
    # where an agent faces and where it stands go together in a kitchen: the position keeps part of its skill (0.96 → 0.44)
    assert (
        0.2 < after.score("agent_0", "features", "agent_0.position").skill < before.score("agent_0", "features", "agent_0.position").skill
    )


@pytest.mark.parametrize(("name", "target"), [("cbp", "agent_0"), ("shared", "agent_1")])
def test_hooks_edit_only_the_target_agents_rows_inside_the_window(probe_world, tmp_path, name, target):
    spec = _spec(probe_world)
    policy = load_policy(probe_world[name], spec, seed=0)
    policy.intervene([f"{target}: self.orientation -> erase @layer=features @ 5:"], probes=probe_world[f"{name}_probes"])
    record("cooking", KITCHEN, policy, 2, tmp_path / "rec", seed=0, num_envs=2, progress=False)
    data = open_dataset(tmp_path / "rec")
    eps = data.load(fields=("predicted", "intervened"))
    plain = load_policy(probe_world[name], spec)
    feats = capture(plain, data, ["features"]).layers["features"]  # (E, T, N, D), unedited
    i = spec.agents.index(target)
    mid = next(m for m, agents in module_agents(plain).items() if i in agents)
    saved = load_probes(probe_world[f"{name}_probes"])
    eraser = leace_eraser(saved.stats[(mid, "features")], [saved.probes[(mid, "features", f"{target}.orientation")].cross_cov])
    head = plain.modules[mid].concept_head
    with torch.no_grad():
        expected = head(torch.from_numpy(eraser(feats[:, :, i].reshape(-1, feats.shape[-1])).astype(np.float32))).numpy()
    expected = expected.reshape(*feats.shape[:2], -1)  # (E, T, P): the bottleneck of the erased features (logits mode)
    inside = eps.mask & (np.arange(eps.mask.shape[1]) >= 5)[None]
    np.testing.assert_allclose(eps.intervened[:, :, i][inside], expected[inside], atol=1e-4)
    untouched = eps.mask.copy()
    untouched[inside] = False
    np.testing.assert_array_equal(eps.intervened[:, :, i][untouched], eps.predicted[:, :, i][untouched])
    other = 1 - i
    np.testing.assert_array_equal(eps.intervened[:, :, other][eps.mask], eps.predicted[:, :, other][eps.mask])
    assert np.abs(eps.intervened[:, :, i][inside] - eps.predicted[:, :, i][inside]).max() > 0.01  # the edit did something


def test_steering_reads_the_target_at_every_step_and_moves_other_probes_only_as_they_covary(probe_world, tmp_path):
    """At the concept layer of a cbp in logits mode the recorded bottleneck is the steered layer itself.

    The Σ-metric step moves another probe's reading q by β_qᵀ r (β_q: q's regression on the steered
    readings A under the saved moments; r: the step in A), so by Cauchy-Schwarz
    |Δq| ≤ R_q · sd_q · √(rᵀ (A Σ Aᵀ)⁻¹ r) at every step, R_q the multiple correlation of q with A:
    a probe uncorrelated with the steered one does not move. In this kitchen most concepts covary
    with where an agent faces (R_q 0.1-0.9), and they move accordingly."""
    spec = _spec(probe_world)
    policy = load_policy(probe_world["cbp"], spec, seed=0)
    lines = ["agent_0: self.orientation -> steer(2) @layer=concept", "agent_1: self.holding_onion -> steer(1) @layer=concept"]
    policy.intervene(lines, probes=probe_world["cbp_probes"])
    record("cooking", KITCHEN, policy, 4, tmp_path / "rec", seed=0, num_envs=4, progress=False)
    eps = open_dataset(tmp_path / "rec").load(fields=("predicted", "intervened"))
    saved = load_probes(probe_world["cbp_probes"])
    cov = saved.stats[("agent_0", "concept")].cov

    def reading(agent: str, concept: str, values: np.ndarray) -> np.ndarray:
        probe = saved.probes[(agent, "concept", concept)]
        return values @ probe.weight.T + probe.bias  # (R, K)

    h0, h1 = eps.intervened[:, :, 0][eps.mask], eps.intervened[:, :, 1][eps.mask]  # (R, P) steered
    p0 = eps.predicted[:, :, 0][eps.mask]  # (R, P) as predicted
    orientation = reading("agent_0", ORIENTATION, h0)
    np.testing.assert_allclose(orientation[:, 2:3] - np.delete(orientation, 2, axis=1), STEER_LOGIT, atol=1e-3)
    np.testing.assert_allclose(reading("agent_1", "agent_1.holding_onion", h1), STEER_LOGIT, atol=1e-3)
    w = saved.probes[("agent_0", "concept", ORIENTATION)].weight
    a = w[2] - np.delete(w, 2, axis=0)  # (3, P) the steered margins
    c = a @ cov @ a.T
    step = np.sqrt(np.einsum("rk,kl,rl->r", (a @ (h0 - p0).T).T, np.linalg.inv(c), (a @ (h0 - p0).T).T))  # (R,) Mahalanobis
    checked = 0
    for (module, layer, concept), probe in saved.probes.items():
        if module != "agent_0" or layer != "concept" or concept == ORIENTATION:
            continue
        for row in probe.weight:  # each output of the probe
            sd = np.sqrt(row @ cov @ row)
            r = np.sqrt((row @ cov @ a.T) @ np.linalg.solve(c, a @ cov @ row)) / sd  # multiple correlation with the margins
            moved = np.abs((h0 - p0) @ row)
            assert (moved <= r * sd * step + 1e-3).all(), (concept, r, (moved / (sd * step)).max())
            checked += 1
    assert checked >= 12


def _intervene(world, name: str, lines: list[str], probes=None):
    load_policy(world[name], _spec(world)).intervene(lines, probes=probes)


@pytest.mark.parametrize(
    ("name", "line", "probes", "error", "message"),
    [
        (
            "cbp",
            "all: self.orientation -> erase @layer=encoder.relu3",
            "cbp",
            UnknownLayerError,
            r"encoder\.relu0, features, concept, pi\.relu0",
        ),
        (
            "cbp",
            "all: self.orientation -> erase @layer=pi.relu0",
            "cbp",
            MissingProbeError,
            r"no probes at pi\.relu0 \(probed: features, concept\)",
        ),
        (
            "cbp",
            "all: pot_0.position -> steer(0.5, 0.5) @layer=features",
            "cbp",
            MissingProbeError,
            "constant in the probe's training rows",
        ),
        ("cbp", "all: objects.position -> erase @layer=features", "cbp", None, ""),  # constants left out, the rest erased
        ("cbp", "all: serving_0.position -> erase @layer=features", "cbp", MissingProbeError, "nothing to erase"),
        ("baseline", "all: self.orientation -> erase @layer=features", "cbp", ProbeMismatchError, "fitted on another policy"),
        ("baseline", "all: self.orientation -> erase @layer=features", None, NoProbeFileError, "no probe file is named"),
        ("baseline", "all: self.orientation -> mask", "baseline", ValueError, "baseline policy: it has no concept bottleneck"),
        ("baseline", "all: self.orientation -> steer(4) @layer=features", "baseline", ValueError, r"class index 0..3"),
        ("baseline", "all: self.holding_onion -> steer(1.5) @layer=features", "baseline", ValueError, r"probability in \[0, 1\]"),
    ],
)
def test_bad_probe_conditions_are_named_before_anything_runs(probe_world, name, line, probes, error, message):
    if error is None:
        _intervene(probe_world, name, [line], probe_world[f"{probes}_probes"])
        return
    with pytest.raises(error, match=message):
        _intervene(probe_world, name, [line], probes and probe_world[f"{probes}_probes"])


def test_probe_files_of_another_world_or_without_a_digest_are_refused(probe_world):
    spec, policy = _spec(probe_world), load_policy(probe_world["cbp"], _spec(probe_world))
    saved = load_probes(probe_world["cbp_probes"])
    line = list(_parsed(policy, "all: self.orientation -> erase @layer=features"))
    other_world = dataclasses.replace(spec, agents=("a", "b"))
    with pytest.raises(ProbeMismatchError, match="fitted in world cooking"):
        ProbeEditor(policy, line, dataclasses.replace(saved, spec=other_world))
    with pytest.raises(ProbeMismatchError, match="name no policy_digest"):
        ProbeEditor(policy, line, dataclasses.replace(saved, meta={}))
    with pytest.raises(ProbeMismatchError, match="modules"):
        ProbeEditor(policy, line, dataclasses.replace(saved, modules={"shared": (0, 1)}))


def _parsed(policy, text: str):
    from envs.interventions import parse_condition

    return parse_condition([text], policy.spec.concepts)


def test_rollout_records_the_probe_file_beside_the_lines(probe_world, tmp_path):
    out = tmp_path / "erased"
    line = "all: teammates.orientation -> erase @layer=features @ 3:"
    argv = ["rollout", "--env", "cooking", "--set", "horizon=20", "--policy", f"checkpoint:{probe_world['baseline']}"]
    argv += ["--episodes", "2", "--num-envs", "2", "--no-progress", "--out", str(out), "--condition", "erase_mate"]
    assert main([*argv, "--intervene", line]) == 2 and not out.exists()  # no --probes: refused before writing
    assert main([*argv, "--intervene", line, "--probes", str(probe_world["baseline_probes"])]) == 0
    condition = open_dataset(out).manifest.condition
    assert condition.id == "erase_mate" and json.loads(condition.spec) == [line]
    assert (out / condition.probes).resolve() == probe_world["baseline_probes"].resolve()
