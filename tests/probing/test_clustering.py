from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from musicsteer.probing.assembly import mean_projection
from musicsteer.probing.clustering import clustering_scores, jaccard_matrix
from musicsteer.probing.probes import (
    fit_directions,
    probe_table,
)
from tests.probing.planted import (
    planted_data,
)


def blobs(n_per_class: int = 20, d: int = 8, n_layers: int = 2, spread: float = 0.1, seed=0):
    """Three tight, well-separated classes at every layer, with string labels."""
    rng = np.random.default_rng(seed)
    names = np.array(["jazz", "rock", "pop"])
    centres = 10.0 * np.eye(3, d)
    labels = np.repeat(names, n_per_class)
    X = np.stack(
        [centres[np.repeat(np.arange(3), n_per_class)] for _ in range(n_layers)], axis=1
    ) + spread * rng.standard_normal((3 * n_per_class, n_layers, d))
    return X.astype(np.float32), labels


# ---------------------------------------------------------------------------
# Clustering
# ---------------------------------------------------------------------------


def test_clustering_scores_equal_sklearn_on_same_inputs():
    rng = np.random.default_rng(1)
    X, labels = blobs(spread=4.0)  # overlapping: scores strictly between 0 and 1
    X[:, 1] = rng.standard_normal(X[:, 1].shape)  # pure noise at layer 1
    scores = clustering_scores(X, labels, seed=3, n_init=2)
    assert list(scores.columns) == ["layer", "ari", "nmi"]
    assert scores["layer"].tolist() == [0, 1]
    for index in range(2):
        clusters = KMeans(n_clusters=3, random_state=3, n_init=2).fit_predict(X[:, index])
        row = scores.iloc[index]
        assert row["ari"] == adjusted_rand_score(labels, clusters)
        assert row["nmi"] == normalized_mutual_info_score(labels, clusters)
    assert scores["ari"].iloc[0] > scores["ari"].iloc[1]


def test_clustering_scores_are_one_for_separated_classes():
    X, labels = blobs()
    scores = clustering_scores(X, labels)
    np.testing.assert_allclose(scores[["ari", "nmi"]].to_numpy(), 1.0)


def test_jaccard_matrix_is_identity_for_separated_clusters():
    X, labels = blobs()
    matrix = jaccard_matrix(X[:, 0], labels)
    assert matrix.index.tolist() == ["jazz", "pop", "rock"]
    assert sorted(matrix.columns) == ["c0", "c1", "c2"]
    np.testing.assert_array_equal(matrix.to_numpy(), np.eye(3))


def test_jaccard_matrix_values_and_hungarian_order():
    X, labels = blobs(spread=6.0, seed=2)
    matrix = jaccard_matrix(X[:, 0], labels, seed=0, n_init=2)
    clusters = KMeans(n_clusters=3, random_state=0, n_init=2).fit_predict(X[:, 0])
    for label, column in itertools.product(matrix.index, matrix.columns):
        a = set(np.flatnonzero(labels == label))
        b = set(np.flatnonzero(clusters == int(column[1:])))
        assert matrix.loc[label, column] == pytest.approx(len(a & b) / len(a | b))
    values = matrix.to_numpy()
    best = max(values[range(3), list(p)].sum() for p in itertools.permutations(range(3)))
    assert np.trace(values) == pytest.approx(best)


def test_other_input_errors():
    X, labels = blobs()
    with pytest.raises(ValueError, match="at least 2 distinct labels"):
        clustering_scores(X, ["jazz"] * len(labels))
    with pytest.raises(ValueError, match="3-D"):
        clustering_scores(X[:, 0], labels)
    with pytest.raises(ValueError, match="clips"):
        clustering_scores(X, labels[:-1])
    with pytest.raises(ValueError, match="2-D"):
        jaccard_matrix(X, labels)
    with pytest.raises(ValueError, match="l2 must be > 0"):
        fit_directions(*planted_data(n=20)[:2], "mse", l2=0.0)
    with pytest.raises(ValueError, match="empty"):
        probe_table({}, [0, 1])
    with pytest.raises(ValueError, match="do not match"):
        mean_projection(X, np.zeros((3, 8)))
