"""Clustering: behaviours as clusters of the joint latents z^ω and local latents z^α, and the link between them.

Place in the analysis: features → model → fit → encode → **cluster** → saved → describe → write. Takes
``encode.Units`` and a ``ClusterConfig``; gives ``Behaviours`` (``discover``): a ``Clustering`` of
z^ω (teams) and of z^α (agents), the local cluster of each agent of each unit, the joint ↔ local
linking graph and each joint cluster's typical compositions. Fitted behaviours place new units
without refitting (``predict``, ``assign``): that is how held-out episodes are scored and how a
saved analyser (``saved``) places new episodes among the behaviours it found before.

Rules:
- Units are windows, or episodes when window latents are averaged per episode (``encode.per_group``).
- Before clustering, latent dimensions that the model left inactive (variance of the posterior
  means across units below ``min_variance``, the "active units" criterion of Burda et al. 2016)
  are dropped: they carry no information and only add noise to distances.
- The number of clusters k is given, or chosen over ``k_range``: by the Bayesian information
  criterion of a Gaussian mixture (``select="bic"``, lowest wins; GMM only: k-means has no
  likelihood) or by the silhouette score (``select="silhouette"``, highest wins; k ≥ 2). Clustering itself is scikit-learn's
  ``GaussianMixture`` (full covariances) or ``KMeans``.
- The joint ↔ local linking is a networkx bipartite graph: one node per joint cluster
  (``bipartite=0``, name ``J{j}``) and per local cluster (``bipartite=1``, name ``A{a}``); an edge
  J→A holds how many agent-instances of joint cluster j fall in local cluster a (``count``),
  P(a | j) (``share``), P(j | a) (``share_of_local``) and the lift P(a | j) / P(a).
- A clustering is saved as JSON, never pickled: ``Clustering.to_json(full=True)`` adds the fitted
  estimator's parameters (Gaussian mixture: covariance type, weights, means, covariances and the
  Cholesky factors of the precisions; k-means: the centres) and ``Clustering.from_json`` rebuilds a
  scikit-learn estimator that predicts exactly as the fitted one did (JSON floats round-trip exactly).
- scikit-learn's ``ConvergenceWarning`` from a fit (an EM run or k-means at its iteration cap,
  fewer distinct points than clusters) is not shown to users: it is logged at DEBUG.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import silhouette_score
from sklearn.mixture import GaussianMixture

from analysis.mohba.encode import UNITS, Units
from envs.config import check_choice, check_range

logger = logging.getLogger(__name__)

METHODS = ("gmm", "kmeans")
SELECTORS = ("bic", "silhouette")


@dataclass(frozen=True)
class ClusterConfig:
    """How behaviours are clustered."""

    k_joint: int | None = None
    """Team-level clusters; None chooses k."""
    k_local: int | None = None
    """Agent-level clusters; None chooses k."""
    method: str = "gmm"
    """``gmm`` or ``kmeans`` (scikit-learn)."""
    select: str = "bic"
    """How k is chosen when not given: ``bic`` or ``silhouette``."""
    k_max: int = 10
    """Largest k tried."""
    unit: str = "episode"
    """What one clustered point is: an ``episode`` (mean of its windows' latents) or a ``window``."""
    seed: int = 0

    def __post_init__(self) -> None:
        check_choice("unit", self.unit, UNITS)
        check_range("k_max", self.k_max, 2)


@dataclass
class Clustering:
    """A fitted clustering of latent vectors."""

    labels: np.ndarray
    """(U,) int cluster of each unit."""
    k: int
    method: str
    select: str
    dims: np.ndarray
    """Indices of the latent dimensions used (the active ones)."""
    scores: dict[int, float] = field(default_factory=dict)
    """Selection score per tried k (BIC or silhouette)."""
    estimator: Any = None
    """The fitted scikit-learn estimator (not serialised)."""

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Clusters of new latent vectors (U', d) with the fitted estimator."""
        return self.estimator.predict(np.asarray(x, dtype=np.float64)[:, self.dims])

    def to_json(self, full: bool = False) -> dict[str, Any]:
        """k, selection, dims, scores, centres and sizes; ``full`` adds the estimator's parameters (``from_json``)."""
        out = {
            "k": self.k,
            "method": self.method,
            "select": self.select,
            "dims": self.dims.tolist(),
            "scores": {str(k): v for k, v in self.scores.items()},
        }
        if isinstance(self.estimator, GaussianMixture):
            out["means"] = self.estimator.means_.tolist()
            out["weights"] = self.estimator.weights_.tolist()
        elif isinstance(self.estimator, KMeans):
            out["means"] = self.estimator.cluster_centers_.tolist()
        out["sizes"] = np.bincount(self.labels, minlength=self.k).tolist()
        if full:
            out["estimator"] = _estimator_json(self.estimator)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Clustering:
        """A clustering saved by ``to_json(full=True)``, its estimator rebuilt (no units: ``labels`` is empty)."""
        if "estimator" not in data:
            raise ValueError("this clustering JSON has no 'estimator' entry; it was written by to_json() without full=True")
        check_choice("cluster method", data["method"], METHODS)
        scores = {int(k): float(v) for k, v in data.get("scores", {}).items()}
        estimator = _estimator_from_json(data["method"], int(data["k"]), data["estimator"])
        dims = np.asarray(data["dims"], dtype=np.int64)
        return cls(np.zeros(0, dtype=np.int64), int(data["k"]), data["method"], data["select"], dims, scores, estimator)


def _estimator_json(est: Any) -> dict[str, Any]:
    """The parameters a fitted GaussianMixture or KMeans predicts with, as JSON lists."""
    if isinstance(est, GaussianMixture):
        names = ("weights_", "means_", "covariances_", "precisions_cholesky_")
        return {"covariance_type": est.covariance_type, **{n.rstrip("_"): getattr(est, n).tolist() for n in names}}
    if isinstance(est, KMeans):
        return {"centres": est.cluster_centers_.tolist()}
    raise TypeError(f"cannot save a {type(est).__name__} clustering; expected GaussianMixture or KMeans")


def _estimator_from_json(method: str, k: int, params: dict[str, Any]) -> Any:
    """A scikit-learn estimator that predicts with the saved ``params`` exactly."""
    if method == "gmm":
        est = GaussianMixture(k, covariance_type=params["covariance_type"])
        for name in ("weights", "means", "covariances", "precisions_cholesky"):
            setattr(est, name + "_", np.asarray(params[name], dtype=np.float64))
        est.n_features_in_ = est.means_.shape[1]
        return est
    centres = np.asarray(params["centres"], dtype=np.float64)
    # A one-step fit on the centres sets KMeans' internal state through its public API; the
    # centres are then put back bit for bit (the fit recentres the data, which can round them).
    est = _quietly(KMeans(k, init=centres, n_init=1, max_iter=1), centres)
    est.cluster_centers_ = centres
    return est


def active_dims(x: np.ndarray, min_variance: float = 0.01) -> np.ndarray:
    """Dimensions of ``x`` (U, d) whose variance across units is at least ``min_variance`` (all if none)."""
    var = np.asarray(x, dtype=np.float64).var(axis=0)
    dims = np.flatnonzero(var >= min_variance)
    return dims if dims.size else np.arange(x.shape[1])


def _fit(x: np.ndarray, k: int, method: str, seed: int) -> Any:
    if method == "gmm":
        return _quietly(GaussianMixture(k, covariance_type="full", n_init=3, reg_covar=1e-4, random_state=seed), x)
    return _quietly(KMeans(k, n_init=10, random_state=seed), x)


def _quietly(est: Any, x: np.ndarray) -> Any:
    """``est.fit(x)`` with scikit-learn's ConvergenceWarnings logged at DEBUG; other warnings pass on."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        est.fit(x)
    for w in caught:
        if issubclass(w.category, ConvergenceWarning):
            logger.debug("%s on %d points: %s", type(est).__name__, len(x), w.message)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return est


def _score(est: Any, x: np.ndarray, select: str, seed: int) -> float:
    if select == "bic":
        return float(est.bic(x))
    labels = est.predict(x)
    if len(np.unique(labels)) < 2:
        return -1.0
    sample = min(len(x), 4000)
    return float(silhouette_score(x, labels, sample_size=sample, random_state=seed))


def cluster(
    x: np.ndarray,
    k: int | None = None,
    method: str = "gmm",
    select: str = "bic",
    k_range: tuple[int, int] = (2, 10),
    seed: int = 0,
    min_variance: float = 0.01,
) -> Clustering:
    """Cluster latent vectors ``x`` (U, d); k given or chosen (see the module docstring)."""
    check_choice("cluster method", method, METHODS)
    check_choice("k selection", select, SELECTORS)
    if select == "bic" and method != "gmm":
        raise ValueError("k by BIC needs the Gaussian mixture (method='gmm'); with k-means choose k by silhouette")
    x = np.asarray(x, dtype=np.float64)
    dims = active_dims(x, min_variance)
    xs = x[:, dims]
    if k is not None:
        if not 1 <= k <= len(xs):
            raise ValueError(f"k={k} clusters need 1..{len(xs)} units")
        est = _fit(xs, k, method, seed)
        return Clustering(est.predict(xs), k, method, select, dims, {}, est)
    lo = max(k_range[0], 2 if select == "silhouette" else 1)
    hi = min(k_range[1], len(xs) - 1)
    if hi < lo:
        raise ValueError(f"too few units ({len(xs)}) to choose k in {k_range}")
    scores, fitted = {}, {}
    for kk in range(lo, hi + 1):
        fitted[kk] = _fit(xs, kk, method, seed)
        scores[kk] = _score(fitted[kk], xs, select, seed)
    best = min(scores, key=scores.get) if select == "bic" else max(scores, key=scores.get)
    est = fitted[best]
    return Clustering(est.predict(xs), best, method, select, dims, scores, est)


def linking_graph(joint_labels: np.ndarray, local_labels: np.ndarray, agent_mask: np.ndarray | None = None) -> nx.Graph:
    """Bipartite joint ↔ local graph from (U,) joint and (U, N) local labels of the same units."""
    joint_labels = np.asarray(joint_labels)
    local_labels = np.asarray(local_labels)
    if agent_mask is None:
        agent_mask = np.ones(local_labels.shape, dtype=bool)
    g = nx.Graph()
    pairs = Counter()
    local_total = Counter()
    for j, locs, m in zip(joint_labels, local_labels, agent_mask):
        for a in locs[m]:
            pairs[(int(j), int(a))] += 1
            local_total[int(a)] += 1
    n_total = sum(local_total.values())
    joint_total = Counter()
    for (j, _), c in pairs.items():
        joint_total[j] += c
    for j in sorted(set(joint_labels.tolist())):
        g.add_node(f"J{j}", bipartite=0, cluster=int(j), units=int((joint_labels == j).sum()))
    for a in sorted(local_total):
        g.add_node(f"A{a}", bipartite=1, cluster=int(a), units=int(local_total[a]))
    for (j, a), c in sorted(pairs.items()):
        share = c / joint_total[j]
        g.add_edge(f"J{j}", f"A{a}", count=int(c), share=share, share_of_local=c / local_total[a], lift=share / (local_total[a] / n_total))
    return g


def linking_table(graph: nx.Graph) -> list[dict[str, Any]]:
    """The graph's edges as rows (joint, local, count, share, share_of_local, lift), by joint then share."""
    rows = []
    for u, v, d in graph.edges(data=True):
        j, a = (u, v) if graph.nodes[u]["bipartite"] == 0 else (v, u)
        rows.append({"joint": j, "local": a, **d})
    return sorted(rows, key=lambda r: (graph.nodes[r["joint"]]["cluster"], -r["share"]))


def compositions(joint_labels: np.ndarray, local_labels: np.ndarray, top: int = 3) -> dict[int, list[tuple[tuple[int, ...], float]]]:
    """Per joint cluster, its most frequent multisets of local clusters and their shares."""
    out: dict[int, list[tuple[tuple[int, ...], float]]] = {}
    for j in np.unique(joint_labels):
        rows = local_labels[joint_labels == j]
        counts = Counter(tuple(sorted(int(a) for a in r)) for r in rows)
        out[int(j)] = [(combo, c / len(rows)) for combo, c in counts.most_common(top)]
    return out


@dataclass
class Behaviours:
    """Clusters at both levels and their links."""

    joint: Clustering | None
    local: Clustering
    local_labels: np.ndarray
    """(U, N) local cluster of each agent of each unit."""
    graph: nx.Graph | None
    compositions: dict[int, list[tuple[tuple[int, ...], float]]]


def discover(units: Units, config: ClusterConfig) -> Behaviours:
    """Cluster z^ω and z^α of ``units`` and link them."""
    n, dl = units.local.shape[1], units.local.shape[2]
    k_range = (1 if config.select == "bic" else 2, config.k_max)
    local = cluster(units.local.reshape(-1, dl), config.k_local, config.method, config.select, k_range, config.seed)
    joint = None
    if units.joint is not None:
        joint = cluster(units.joint, config.k_joint, config.method, config.select, k_range, config.seed)
    return _linked(joint, local, local.labels.reshape(-1, n))


def _linked(joint: Clustering | None, local: Clustering, local_labels: np.ndarray) -> Behaviours:
    """Behaviours from labelled clusterings: the linking graph and compositions when there is a joint level."""
    if joint is None:
        return Behaviours(None, local, local_labels, None, {})
    graph = linking_graph(joint.labels, local_labels)
    return Behaviours(joint, local, local_labels, graph, compositions(joint.labels, local_labels))


def predict(behaviours: Behaviours, units: Units) -> tuple[np.ndarray | None, np.ndarray]:
    """Joint (U,) and local (U, N) clusters of new units under fitted behaviours."""
    n, dl = units.local.shape[1], units.local.shape[2]
    local = behaviours.local.predict(units.local.reshape(-1, dl)).reshape(-1, n)
    joint = behaviours.joint.predict(units.joint) if behaviours.joint is not None and units.joint is not None else None
    return joint, local


def assign(behaviours: Behaviours, units: Units) -> Behaviours:
    """New ``units`` placed in the fitted clusters of ``behaviours`` (no refit): labels and links of those units."""
    joint_labels, local_labels = predict(behaviours, units)
    local = dataclasses.replace(behaviours.local, labels=local_labels.reshape(-1))
    joint = None if joint_labels is None else dataclasses.replace(behaviours.joint, labels=joint_labels)
    return _linked(joint, local, local_labels)
