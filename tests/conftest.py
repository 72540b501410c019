"""Shared fixtures. Ray starts once per test session, as a real 2-node local cluster.

The cluster has a head node (2 CPUs, resource ``head_node``) and a worker node (2 CPUs, resource
``worker_node``) on this machine, so tests can check that remote work lands on both. Ray's session
files go under the project's ignored ``.ray_tmp``; no dashboard; torn down at session end.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.ray_guard import RayStarted

PROJECT = Path(__file__).resolve().parents[1]

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_TMPDIR", str(PROJECT / ".ray_tmp"))


@pytest.fixture(scope="session")
def ray_cluster():
    """A running 2-node Ray cluster this process is connected to (``ray.init`` done)."""
    import ray
    from ray.cluster_utils import Cluster

    Path(os.environ["RAY_TMPDIR"]).mkdir(parents=True, exist_ok=True)
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 2, "include_dashboard": False, "resources": {"head_node": 1}},
    )
    try:
        cluster.add_node(num_cpus=2, resources={"worker_node": 1})
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False, include_dashboard=False)
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


@pytest.fixture(scope="session")
def tiny_policies(ray_cluster, tmp_path_factory):
    """Tiny trained concept-bottleneck policies (2 iterations each): ``{"cooking": dir, "cleanup": dir}``.

    Cooking: cramped_room, horizon 20, independent modules. Cleanup: 5 agents, horizon 30, shared
    module with a small conv encoder. Good for plumbing tests, not for behaviour.
    """
    from marl.train import run_trial
    from tests.marl.conftest import tiny_config

    root = tmp_path_factory.mktemp("policies")
    configs = {
        "cooking": tiny_config(),
        "cleanup": tiny_config(
            "env=cleanup",
            "env_config={horizon: 30}",
            "model.conv_channels=[8]",
            "sampling.num_envs_per_runner=2",
            "sampling.rollout_length=10",
            "max_env_steps=20",
            sharing="shared",
        ),
    }
    for name, cfg in configs.items():
        run_trial(cfg.to_dict(), 0, str(root / name), verbose=False)
    return {name: root / name for name in configs}


@pytest.fixture
def no_ray(monkeypatch):
    """``marl.train.init_ray`` refuses to start: a test that reaches it has validated too late."""
    import marl.train

    def refuse(*args, **kwargs):
        raise RayStarted("Ray was started (marl.train.init_ray) before the config was validated")

    monkeypatch.setattr(marl.train, "init_ray", refuse)


@pytest.fixture(scope="session")
def probe_world(tmp_path_factory):
    """Tiny real policies with their probe files, built without Ray (``tests.marl.probe_world``): paths by name."""
    from tests.marl.probe_world import build

    return build(tmp_path_factory.mktemp("probe_world"))
