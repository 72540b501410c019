"""Probes on real policies (no Ray): activations captured with hooks follow the policy's routing,
the logit gradients are the heads' Jacobians, a cbp whose concept layer was trained on its concepts
decodes them far above chance while shuffled labels stay at chance, and ``ethogram probe`` writes its
files or, for every bad input, names the problem and writes nothing.

The policies are real modules (``marl.algorithm.build_modules``) saved in the checkpoint format
(``marl.loading.save_modules``) and read back by ``load_policy``; the cbp's encoder and concept
layer are trained here on the concept loss alone (a planted truth: its concept layer provably
encodes its concepts), the others are left at their initialisation.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from analysis.dataset import open_dataset
from analysis.probes import ProbeConfig, fit_probes, load_probes
from experiments.cli import main
from marl.activations import (
    UnknownLayerError,
    capture,
    check_layers,
    iter_steps,
    layer_widths,
    module_agents,
)
from marl.algorithm import build_modules
from marl.loading import load_policy, save_modules
from marl.record import record
from tests.marl.conftest import tiny_config
from tests.marl.probe_world import train_concepts

KITCHEN = {"layout": "cramped_room", "horizon": 40}
LAYERS = ("encoder.relu0", "features", "concept", "pi.relu0")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Datasets and policies: a trained cbp (independent), an untrained shared cbp and baseline, recordings by them."""
    root = tmp_path_factory.mktemp("probes")
    torch.manual_seed(0)
    record("cooking", KITCHEN, "scripted:planner,ingredient", 24, root / "scripted", seed=0, num_envs=8, progress=False)
    paths = {"scripted": root / "scripted"}
    for name, cfg in {
        "cbp": tiny_config(),
        "cbp_shared": tiny_config(sharing="shared"),
        "baseline": tiny_config(policy="baseline"),
    }.items():
        modules = build_modules(cfg)
        if name == "cbp":
            train_concepts(modules, open_dataset(paths["scripted"]), steps=300)
        paths[name] = save_modules(modules, cfg, root / name, seed=0, iteration=1, env_steps=0)
    for name in ("cbp", "cbp_shared"):
        record("cooking", KITCHEN, f"checkpoint:{paths[name]}", 4, root / f"by_{name}", seed=1, num_envs=4, progress=False)
        paths[f"by_{name}"] = root / f"by_{name}"
    record("cooking", KITCHEN, "scripted:planner,idle", 2, root / "no_obs", num_envs=2, progress=False, store_obs=False)
    record("cooking", {**KITCHEN, "view_size": 7}, "scripted:planner,idle", 2, root / "view7", num_envs=2, progress=False)
    record("cooking", KITCHEN, "scripted:planner,idle", 1, root / "one", num_envs=1, progress=False)
    record("cleanup", {"horizon": 10}, "scripted:cleaner", 2, root / "cleanup", num_envs=2, progress=False)
    return {**paths, **{k: root / k for k in ("no_obs", "view7", "one", "cleanup")}}


def _policy(world, name: str, data: str = "scripted"):
    return load_policy(world[name], open_dataset(world[data]).manifest.env)


def test_layer_names_and_widths(world):
    policy = _policy(world, "cbp")
    assert check_layers(policy, None) == LAYERS
    assert check_layers(policy, ["pi.relu0", "features"]) == ("features", "pi.relu0")  # forward order
    assert layer_widths(policy) == {"encoder.relu0": 32, "features": 32, "concept": policy.spec.concepts.pred_dim, "pi.relu0": 16}
    with pytest.raises(UnknownLayerError, match=r"encoder\.relu0, features, concept, pi\.relu0"):
        check_layers(policy, ["encoder.relu3"])


@pytest.mark.parametrize("name", ["cbp", "cbp_shared"])
def test_activations_follow_the_policys_routing(world, name):
    """The concept layer captured by hooks is what the policy predicted while it acted (logits mode)."""
    data = open_dataset(world[f"by_{name}"])
    policy = load_policy(world[name], data.manifest.env)
    acts = capture(policy, data, ["concept", "pi.relu0"], batch_episodes=3, batch_steps=50)
    eps = data.load(fields=("predicted",))
    assert acts.layers["concept"].shape == eps.predicted.shape
    np.testing.assert_array_equal(acts.mask, eps.mask)
    np.testing.assert_allclose(acts.layers["concept"][eps.mask], eps.predicted[eps.mask], atol=1e-5)
    assert (acts.layers["pi.relu0"] >= 0).all() and not acts.layers["concept"][~eps.mask].any()


def test_logit_gradients_are_the_heads_jacobians(world):
    data = open_dataset(world["by_cbp_shared"])
    policy = load_policy(world["cbp_shared"], data.manifest.env)
    module = policy.modules["shared"]
    batch = next(iter_steps(policy, data, ["concept", "pi.relu0"], [0], gradients=True, batch_steps=7))
    plain = next(iter_steps(policy, data, ["concept", "pi.relu0"], [0], batch_steps=7))
    np.testing.assert_allclose(batch.activations["concept"], plain.activations["concept"], atol=1e-6)
    k, n, a, _ = batch.logit_grads["pi.relu0"].shape
    last = module.pi[-1].weight.detach().numpy()  # (A, 16): the logits are linear in pi.relu0
    np.testing.assert_allclose(batch.logit_grads["pi.relu0"], np.broadcast_to(last, (k, n, a, last.shape[1])), atol=1e-6)
    obs = policy.routing.observe(data.load(fields=("obs",), episodes=[0]).obs[0, batch.step])  # (K, N, H, W, C+1)
    x = torch.from_numpy(obs.reshape(k * n, *obs.shape[2:]))
    z, ctx = module.bottleneck(x)
    jac = torch.autograd.functional.jacobian(lambda zz: module.heads(zz, ctx)["action_logits"].sum(0), z)  # (A, K·N, P)
    np.testing.assert_allclose(batch.logit_grads["concept"].reshape(k * n, a, -1), jac.permute(1, 0, 2).numpy(), atol=1e-5)


def test_baseline_concept_layer_is_its_hidden_layer_before_relu(world):
    data = open_dataset(world["scripted"])
    policy = load_policy(world["baseline"], data.manifest.env)
    acts = capture(policy, data, ["concept"], episode_ids=[0, 1])
    assert not policy.supervised and (acts.layers["concept"][acts.mask] < 0).any()


def test_cbp_concept_layer_decodes_its_concepts_and_shuffled_labels_do_not(world):
    data = open_dataset(world["scripted"])
    policy = load_policy(world["cbp"], data.manifest.env)
    acts = capture(policy, data, ["concept"])
    eps = data.load(fields=("concepts",))
    spec = data.manifest.env
    probes = fit_probes(acts.layers, eps.concepts, eps.mask, spec, module_agents(policy), ProbeConfig(null_draws=0))
    fitted = [s for s in probes.scores if s.status == "fitted"]
    assert {s.module for s in fitted} == {"agent_0", "agent_1"} and len(fitted) >= 16
    assert all(s.skill > 0.8 for s in fitted), [(s.module, s.concept, s.skill) for s in fitted if s.skill <= 0.8]
    assert all(s.score > s.chance + 0.15 for s in fitted if s.kind == "categorical")
    shuffled = eps.concepts.copy()
    where = spec.concepts.gt_slices["agent_1.holding_onion"]
    rows = shuffled[eps.mask]  # (R, N, D) valid steps
    rows[:, :, where] = np.random.default_rng(0).permutation(rows[:, :, where])
    shuffled[eps.mask] = rows
    noise = fit_probes(acts.layers, shuffled, eps.mask, spec, module_agents(policy), ProbeConfig(null_draws=0))
    for module in ("agent_0", "agent_1"):
        s = noise.score(module, "concept", "agent_1.holding_onion")
        assert abs(s.score - s.chance) < 0.08 and s.skill < 0.15, s


def test_probe_command_writes_probes_sensitivity_and_figures(world, tmp_path, capsys):
    out = tmp_path / "probes"
    argv = ["probe", str(world["cbp"]), "--dataset", str(world["scripted"]), "--out", str(out), "--null-draws", "40"]
    assert main([*argv, "--layers", "concept", "encoder.relu0", "--held-out", "0.3", "--seed", "2"]) == 0
    assert "with skill > 0.1 over chance" in capsys.readouterr().out
    for name in ("probes.json", "probes.safetensors", "sensitivity.json", "probe_skill.png", "sensitivity.png"):
        assert (out / name).is_file(), name
    probes = load_probes(out)
    assert probes.layers == ("encoder.relu0", "concept") and probes.config.held_out == 0.3 and probes.config.seed == 2
    assert probes.meta["policy_kind"] == "cbp" and probes.meta["concept_layer"] == "concept logits"
    assert len(probes.split.test) == 7 and probes.null[("agent_0", "concept", "logistic")].shape == (40, probes.widths["concept"])
    sensitivity = json.loads((out / "sensitivity.json").read_text())
    assert sensitivity["correction"] == "holm" and sensitivity["held_out_episodes"] == probes.episode_ids[probes.split.test].tolist()
    rows = sensitivity["scores"]
    assert {r["action"] for r in rows} == set(open_dataset(world["scripted"]).manifest.env.action_names)
    assert all(0 <= r["tcav"] <= 1 and r["p"] >= 2 / 41 - 1e-12 for r in rows)


@pytest.mark.parametrize(
    ("policy", "data", "extra", "message"),
    [
        ("cbp", "scripted", ["--layers", "encoder.relu3"], "unknown layer"),
        ("cbp", "no_obs", [], "without observations"),
        ("cbp", "cleanup", [], "recorded in world 'cleanup'"),
        ("cbp", "view7", [], "observation shape"),
        ("cbp", "scripted", ["--held-out", "0"], "strictly between 0 and 1"),
        ("cbp", "scripted", ["--held-out", "1.5"], "strictly between 0 and 1"),
        ("cbp", "one", [], "cannot be split"),
        ("missing", "scripted", [], "no policy found"),
    ],
)
def test_probe_command_refuses_bad_input_before_writing(world, tmp_path, capsys, policy, data, extra, message):
    run = world.get(policy, tmp_path / "no_such_run")
    for out in ([], ["--out", str(tmp_path / "out")]):
        assert main(["probe", str(run), "--dataset", str(world[data]), *out, *extra]) == 2
        err = capsys.readouterr().err
        assert "ethogram probe: error" in err and message in err, err
    assert not (tmp_path / "out").exists()
    assert not world[data].with_name(world[data].name + "_probes").exists()
