"""Where concepts cluster: k-means per layer scored by ARI/NMI, and the Jaccard matrix."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from musicsteer.probing.checks import _check_activations, _check_lengths, _check_multiclass


def _kmeans_labels(X_layer: np.ndarray, k: int, seed: int, n_init: int) -> np.ndarray:
    """Cluster assignments of KMeans with ``k`` clusters on float32 features."""
    km = KMeans(n_clusters=k, random_state=seed, n_init=n_init)
    return km.fit_predict(np.asarray(X_layer, dtype=np.float32))


def clustering_scores(
    X: np.ndarray, labels: Sequence | np.ndarray, seed: int = 0, n_init: int = 4
) -> pd.DataFrame:
    """How well unsupervised KMeans recovers ``labels`` at each layer index.

    Args:
        X: ``[N, n_indices, d]`` activations.
        labels: ``N`` class labels (any hashable values).
        seed: KMeans ``random_state``.
        n_init: KMeans restarts.

    Returns:
        DataFrame with columns ``index, ari, nmi`` (one row per layer index).
    """
    X = _check_activations(X)
    _check_lengths(X.shape[0], labels)
    k = len(_check_multiclass(labels))
    labels = np.asarray(labels)
    rows = []
    for index in range(X.shape[1]):
        clusters = _kmeans_labels(X[:, index], k, seed, n_init)
        rows.append(
            {
                "layer": index,
                "ari": adjusted_rand_score(labels, clusters),
                "nmi": normalized_mutual_info_score(labels, clusters),
            }
        )
    return pd.DataFrame(rows, columns=["layer", "ari", "nmi"])


def _jaccard(label_masks: np.ndarray, cluster_masks: np.ndarray) -> np.ndarray:
    """Pairwise Jaccard ``|A∩B| / |A∪B|`` between rows of two boolean mask arrays."""
    a = label_masks.astype(np.int64)
    b = cluster_masks.astype(np.int64)
    inter = a @ b.T
    union = a.sum(1)[:, None] + b.sum(1)[None, :] - inter
    return np.divide(inter, union, out=np.zeros(inter.shape), where=union > 0)


def jaccard_matrix(
    X_layer: np.ndarray, labels: Sequence | np.ndarray, seed: int = 0, n_init: int = 4
) -> pd.DataFrame:
    """Jaccard overlap between true classes and KMeans clusters at one layer.

    KMeans uses ``k`` = number of distinct labels. Columns are reordered by the
    Hungarian assignment maximising total Jaccard, so column ``i`` is the
    cluster matched to row ``i`` and a good clustering has a heavy diagonal.

    Args:
        X_layer: ``[N, d]`` activations of one layer index.
        labels: ``N`` class labels.
        seed: KMeans ``random_state``.
        n_init: KMeans restarts.

    Returns:
        DataFrame indexed by the (sorted) true labels, with columns named
        ``"c<cluster id>"`` in matched order.
    """
    X_layer = np.asarray(X_layer)
    if X_layer.ndim != 2:
        raise ValueError(f"X_layer must be 2-D [N, d], got shape {X_layer.shape}")
    _check_lengths(X_layer.shape[0], labels)
    classes = _check_multiclass(labels)
    labels = np.asarray(labels)
    clusters = _kmeans_labels(X_layer, len(classes), seed, n_init)
    cluster_ids = np.arange(len(classes))
    jac = _jaccard(labels[None, :] == classes[:, None], clusters[None, :] == cluster_ids[:, None])
    _, matched = linear_sum_assignment(jac, maximize=True)
    return pd.DataFrame(
        jac[:, matched],
        index=pd.Index(classes, name="label"),
        columns=[f"c{c}" for c in matched],
    )
