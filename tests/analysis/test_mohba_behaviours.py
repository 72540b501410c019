"""Clustering with chosen k, the linking graph, changepoints on planted sequences."""

from __future__ import annotations

import json
import logging
import warnings

import numpy as np
import pytest

from analysis.mohba.changepoints import detect, occupancy, split_by_checkpoint
from analysis.mohba.cluster import Clustering, active_dims, cluster, compositions, linking_graph, linking_table
from analysis.mohba.encode import per_group


def _blobs(k=4, per=60, d=5, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 8, size=(k, d))
    x = np.concatenate([c + rng.normal(0, 0.5, size=(per, d)) for c in centres])
    return x, np.repeat(np.arange(k), per)


@pytest.mark.parametrize(("method", "select"), [("gmm", "bic"), ("kmeans", "silhouette"), ("gmm", "silhouette")])
def test_cluster_picks_k_on_separated_blobs(method, select):
    from sklearn.metrics import adjusted_rand_score

    x, truth = _blobs()
    found = cluster(x, method=method, select=select, k_range=(2, 7))
    assert found.k == 4
    assert adjusted_rand_score(truth, found.labels) == 1.0
    assert set(found.scores) == set(range(2, 8))
    assert np.array_equal(found.predict(x), found.labels)
    assert found.to_json()["sizes"] == [60] * 4


def test_cluster_given_k_and_inactive_dims_dropped():
    x, _ = _blobs(k=3, d=2)
    x = np.concatenate([x, np.full((len(x), 2), 0.001)], axis=1)
    assert active_dims(x).tolist() == [0, 1]
    found = cluster(x, k=3)
    assert found.k == 3 and found.dims.tolist() == [0, 1] and found.scores == {}
    with pytest.raises(ValueError):
        cluster(x, k=0)
    with pytest.raises(ValueError, match="silhouette"):
        cluster(x, method="kmeans", select="bic")


@pytest.mark.parametrize(("method", "select"), [("gmm", "bic"), ("kmeans", "silhouette")])
def test_clustering_saved_as_json_predicts_exactly_as_fitted(method, select):
    x, _ = _blobs(k=3, d=3)
    x = np.concatenate([x, np.full((len(x), 1), 0.001)], axis=1)  # an inactive dimension: dims are saved too
    found = cluster(x, method=method, select=select, k_range=(2, 5))
    rebuilt = Clustering.from_json(json.loads(json.dumps(found.to_json(full=True))))
    assert (rebuilt.k, rebuilt.method, rebuilt.dims.tolist(), rebuilt.scores) == (found.k, method, [0, 1, 2], found.scores)
    probe = np.random.default_rng(1).normal(0, 10, size=(5000, 4))
    assert np.array_equal(rebuilt.predict(x), found.labels)
    assert np.array_equal(rebuilt.predict(probe), found.predict(probe))
    with pytest.raises(ValueError, match="full=True"):
        Clustering.from_json(found.to_json())


def test_convergence_warnings_are_logged_not_shown(caplog):
    x = np.ones((30, 2))
    x[-1] += 1e-9  # two distinct points, three clusters asked for: scikit-learn warns
    with warnings.catch_warnings(), caplog.at_level(logging.DEBUG, logger="analysis.mohba.cluster"):
        warnings.simplefilter("error")
        for method, select in (("gmm", "bic"), ("kmeans", "silhouette")):
            assert cluster(x, k=3, method=method, select=select).k == 3
    assert any("distinct clusters" in r.getMessage() for r in caplog.records)


def test_per_group_means():
    ids, means = per_group(np.array([[1.0], [3.0], [10.0]]), np.array([5, 5, 2]))
    assert ids.tolist() == [2, 5] and means[:, 0].tolist() == [10.0, 2.0]


def test_linking_graph_structure():
    joint = np.array([0, 0, 1, 1, 1])
    local = np.array([[0, 1], [1, 0], [2, 2], [2, 2], [2, 0]])
    g = linking_graph(joint, local)
    assert sorted(g.nodes) == ["A0", "A1", "A2", "J0", "J1"]
    assert {n for n, d in g.nodes(data=True) if d["bipartite"] == 0} == {"J0", "J1"}
    assert all(g.nodes[u]["bipartite"] != g.nodes[v]["bipartite"] for u, v in g.edges)
    assert g.edges["J0", "A0"]["count"] == 2 and g.edges["J0", "A0"]["share"] == 0.5
    assert g.edges["J1", "A2"]["share"] == pytest.approx(5 / 6)
    assert g.edges["J1", "A2"]["share_of_local"] == 1.0
    assert not g.has_edge("J0", "A2")
    for j in ("J0", "J1"):
        assert sum(g.edges[j, a]["share"] for a in g[j]) == pytest.approx(1.0)
    rows = linking_table(g)
    assert rows[0]["joint"] == "J0" and rows[-1]["joint"] == "J1"
    comps = compositions(joint, local)
    assert comps[0][0] == ((0, 1), 1.0) and comps[1][0] == ((2, 2), pytest.approx(2 / 3))


def _planted(change_at=6, checkpoints=10, per=80, seed=0):
    rng = np.random.default_rng(seed)
    before, after = [0.6, 0.3, 0.1, 0.0], [0.1, 0.2, 0.3, 0.4]
    labels = [rng.choice(4, size=per, p=before if c < change_at else after) for c in range(checkpoints)]
    iteration = np.repeat(np.arange(checkpoints) * 10, per)
    return np.concatenate(labels), iteration


@pytest.mark.parametrize("method", ["pelt", "chi2"])
@pytest.mark.parametrize("change_at", [3, 6])
def test_planted_changepoint_is_found(method, change_at):
    labels, iteration = _planted(change_at)
    iters, groups = split_by_checkpoint(labels, iteration)
    assert iters.tolist() == list(range(0, 100, 10))
    frac, counts = occupancy(groups, 4)
    assert np.allclose(frac.sum(1), 1.0)
    changes = detect(frac, counts, method=method)
    assert [c.index for c in changes] == [change_at]
    assert changes[0].jsd > 0.1 and changes[0].p_value < 1e-6


@pytest.mark.parametrize("method", ["pelt", "chi2"])
def test_no_change_no_changepoint(method):
    labels, iteration = _planted(change_at=99)
    frac, counts = occupancy(split_by_checkpoint(labels, iteration)[1], 4)
    assert detect(frac, counts, method=method) == []
    assert detect(frac[:1], counts[:1]) == []
