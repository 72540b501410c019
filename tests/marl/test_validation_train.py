"""Every bad training config is a named error before Ray starts or anything is written (issue 13), so
the corrected rerun is never refused; every numeric field has a range; a resource request the
cluster cannot meet names what is available."""

from __future__ import annotations

import pytest
import yaml

from experiments.cli import main
from marl.config import ConfigError, load_config
from tests.marl.conftest import TINY, tiny_config


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("seeds=5", r"seeds=5 must be a list of integers"),
        ("seeds=[a,b]", r"seeds\[0\]='a' must be an integer"),
        ("seeds=[-1]", r"seeds\[0\]=-1 is out of range"),
        ("max_env_steps=-5", r"max_env_steps=-5 is out of range; allowed: \[1, inf\]"),
        ("model.hidden=abc", r"model\.hidden='abc' must be a list of integers"),
        ("model.hidden=[0]", r"model\.hidden\[0\]=0 is out of range"),
        ("model.head_hidden=[-3]", r"model\.head_hidden\[0\]=-3 is out of range"),
        ("model.conv_channels=[0]", r"model\.conv_channels\[0\]=0 is out of range"),
        ("model.residual_dim=-1", r"model\.residual_dim=-1 is out of range"),
        ("model.conv_stride=0", r"model\.conv_stride=0 is out of range"),
        ("ppo.lr=-1", r"ppo\.lr=-1\.0 is out of range"),
        ("ppo.lr_final=-1e-4", r"ppo\.lr_final=-0\.0001 is out of range"),
        ("ppo.lr_anneal_steps=0", r"ppo\.lr_anneal_steps=0 is out of range"),
        ("ppo.lr_cooldown_steps=-1", r"ppo\.lr_cooldown_steps=-1 is out of range"),
        ("ppo.lr_cooldown_steps=200", r"ppo\.lr_cooldown_steps=200 must be below max_env_steps=200"),
        ("ppo.gamma=.nan", r"ppo\.gamma=nan is not a finite number"),
        ("ppo.lambda_=-0.1", r"ppo\.lambda_=-0\.1 is out of range"),
        ("ppo.clip=-0.2", r"ppo\.clip=-0\.2 is out of range"),
        ("ppo.entropy=-0.01", r"ppo\.entropy=-0\.01 is out of range; allowed: \[0, inf\]"),
        ("ppo.entropy=.inf", r"ppo\.entropy=inf is not a finite number"),
        ("ppo.vf_coeff=-1", r"ppo\.vf_coeff=-1\.0 is out of range"),
        ("ppo.vf_clip=0", r"ppo\.vf_clip=0\.0 is out of range; allowed: \(0, inf\]"),
        ("ppo.grad_clip=-0.5", r"ppo\.grad_clip=-0\.5 is out of range; allowed: \(0, inf\]"),
        ("ppo.num_epochs=0", r"ppo\.num_epochs=0 is out of range"),
        ("ppo.num_minibatches=0", r"ppo\.num_minibatches=0 is out of range"),
        ("ppo.concept_loss_weight=-1", r"ppo\.concept_loss_weight=-1\.0 is out of range"),
        ("ppo.position_loss_scale=.nan", r"ppo\.position_loss_scale=nan is not a finite number"),
        ("ppo.reward_scale=-1", r"ppo\.reward_scale=-1\.0 is out of range; allowed: \(0, inf\]"),
        ("ppo.learner_threads=0", r"ppo\.learner_threads=0 is out of range"),
        ("sampling.num_env_runners=-1", r"sampling\.num_env_runners=-1 is out of range"),
        ("sampling.num_envs_per_runner=0", r"sampling\.num_envs_per_runner=0 is out of range"),
        ("sampling.rollout_length=0", r"sampling\.rollout_length=0 is out of range"),
        ("sampling.cpus_per_runner=-1", r"sampling\.cpus_per_runner=-1\.0 is out of range"),
        ("sampling.runner_resources={worker_node: -1}", r"sampling\.runner_resources\.worker_node=-1\.0 is out of range"),
        ("sampling.runner_resources=[1]", r"sampling\.runner_resources=\[1\] must be a mapping"),
        ("shaping_anneal_steps=-1", r"shaping_anneal_steps=-1 is out of range"),
        ("max_time_s=0", r"max_time_s=0\.0 is out of range; allowed: \(0, inf\]"),
        ("checkpoint_every=0", r"checkpoint_every=0 is out of range"),
        ("trial_cpus=-1", r"trial_cpus=-1\.0 is out of range"),
        ("trial_cpus=.nan", r"trial_cpus=nan is not a finite number"),
        ("out_dir=5", r"out_dir=5 must be a string"),
        ("env_config=5", r"env_config=5 must be a mapping"),
        ("env_config={horizon: -1}", r"horizon=-1 is out of range"),
        ("env_config={delivery_reward: .nan}", r"delivery_reward=nan is not a finite number"),
        ("env_config={layout: kitchen}", r"layout='kitchen' is not allowed; choose one of: cramped_room"),
        ("env_config={hoizon: 5}", r"cooking config: unknown field\(s\) hoizon; allowed: layout, horizon"),
    ],
)
def test_every_field_is_checked_at_load_time(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [*TINY, override])


def test_lr_schedule_decays_then_cools_down_to_lr_final():
    slow = ["ppo.lr=1e-3", "ppo.lr_final=0.0", "ppo.lr_anneal_steps=1000", "max_env_steps=200"]
    assert tiny_config(*slow).lr_schedule() == [[0, 1e-3], [1000, 0.0]]
    cooled = tiny_config(*slow, "ppo.lr_cooldown_steps=50").lr_schedule()
    assert cooled == [[0, 1e-3], [150, pytest.approx(8.5e-4)], [200, 0.0]]
    with pytest.raises(ConfigError, match=r"ppo\.lr_cooldown_steps=50 must be below max_env_steps=None"):
        tiny_config("ppo.lr_cooldown_steps=50", "max_env_steps=null", "max_time_s=10")


def test_malformed_yaml_is_a_named_error(tmp_path):
    with pytest.raises(ConfigError, match=r"--set 'seeds=\[0,1': not valid YAML"):
        load_config(None, ["seeds=[0,1"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("policy: cbp\nmodel: {hidden: [32\n")
    with pytest.raises(ConfigError, match=rf"{bad}: not valid YAML"):
        load_config(bad)


@pytest.mark.parametrize(
    "override", ["seeds=5", "seeds=[a,b]", "max_env_steps=-5", "model.hidden=abc", "seeds=[0,1", "env_config={layout: kitchen}"]
)
def test_cli_refuses_bad_values_before_ray_or_any_file(override, tmp_path, capsys, no_ray):
    run = tmp_path / "run"
    config = tmp_path / "train.yaml"
    config.write_text(yaml.safe_dump({**tiny_config().to_dict(), "out_dir": str(run)}))
    assert main(["train", str(config), "--set", override]) == 2
    assert "ethogram train: error:" in capsys.readouterr().err
    assert not run.exists()


def test_cli_refuses_a_malformed_config_file(tmp_path, capsys, no_ray):
    config = tmp_path / "train.yaml"
    config.write_text("policy: cbp\nseeds: [0, 1\n")
    assert main(["train", str(config)]) == 2
    assert "not valid YAML" in capsys.readouterr().err


def test_resources_the_cluster_cannot_meet_name_what_is_available():
    from marl.train import check_resources

    cluster = {"CPU": 4.0, "memory": 1e9, "worker_node": 1.0}
    check_resources(tiny_config(), cluster)
    with pytest.raises(ConfigError, match=r"trial_cpus=64\.0 .* the cluster has 4 CPUs"):
        check_resources(tiny_config("trial_cpus=64"), cluster)
    with pytest.raises(ConfigError, match=r"trial_cpus=3\.0 CPUs must fit on one node, but the largest node has 2 \(nodes: 2, 2\)"):
        check_resources(tiny_config("trial_cpus=3"), cluster, [2.0, 2.0])
    runners = ["sampling.num_env_runners=2", "sampling.cpus_per_runner=2"]
    needs = r"5 CPUs .*trial_cpus=1\.0.*sampling\.num_env_runners=2 × sampling\.cpus_per_runner=2\.0.* has 4"
    with pytest.raises(ConfigError, match=needs):
        check_resources(tiny_config(*runners), cluster)
    with pytest.raises(ConfigError, match=r"sampling\.runner_resources\.gpu_node=1\.0 .* available: CPU=4, memory=1e\+09, worker_node=1"):
        check_resources(tiny_config("sampling.num_env_runners=1", "sampling.runner_resources={gpu_node: 1}"), cluster)
    with pytest.raises(ConfigError, match=r"sampling\.runner_resources\.worker_node=1\.0 × 2 runners .* has 1"):
        check_resources(tiny_config("sampling.num_env_runners=2", "sampling.runner_resources={worker_node: 1}"), cluster)


@pytest.mark.ray
def test_launch_refuses_an_unmeetable_request_before_writing(ray_cluster, tmp_path):
    from marl.train import launch

    run = tmp_path / "run"
    with pytest.raises(ConfigError, match=r"trial_cpus=64\.0 .* the cluster has 4 CPUs"):
        launch(tiny_config("trial_cpus=64"), run)
    assert not run.exists()


def _numeric_fields(cls):
    """(name, kind) of every int/float field of a config dataclass, tuples of them included."""
    import dataclasses
    import typing

    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        args = typing.get_args(hints[f.name]) or (hints[f.name],)
        if any(a in (int, float) for a in args):
            yield f.name, "tuple" if typing.get_origin(hints[f.name]) is tuple else "scalar"
        elif typing.get_origin(hints[f.name]) is dict and typing.get_args(hints[f.name])[1:] == (float,):
            yield f.name, "dict"


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -1e9])
def test_every_numeric_field_of_every_training_config_has_a_range(bad):
    from marl.config import ModelConfig, PPOSettings, SamplingConfig, TrainConfig

    checked = 0
    for cls in (ModelConfig, PPOSettings, SamplingConfig, TrainConfig):
        for name, kind in _numeric_fields(cls):
            value = {"scalar": bad, "tuple": (bad,), "dict": {"node": bad}}[kind]
            with pytest.raises(ConfigError, match=name):
                cls(**{name: value})
            checked += 1
    assert checked == 33
