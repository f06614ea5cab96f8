"""Tests for musicsteer.probing: clustering scores, batched probes, layer choice."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler

from musicsteer import tasks
from musicsteer.probing import (
    ALL_CLASSES,
    CV_COLUMNS,
    PROBE_COLUMNS,
    balance_binary,
    build_task_vectors,
    build_vector,
    clustering_scores,
    fit_directions,
    jaccard_matrix,
    layer_selection,
    mean_projection,
    probe_accuracy,
    probe_table,
    probe_task,
    select_layer,
    summary_table,
    task_directions,
)
from musicsteer.vectors import METHODS, SteeringVector

PLANTED_LAYER = 3


def planted_data(n: int = 200, n_layers: int = 6, d: int = 32, seed: int = 0):
    """Gaussian noise with a unit direction × 3 added to class 1 at one layer only."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_layers, d)).astype(np.float32)
    y = np.repeat([0, 1], n // 2)
    rng.shuffle(y)
    direction = rng.standard_normal(d)
    direction /= np.linalg.norm(direction)
    X[y == 1, PLANTED_LAYER] += 3.0 * direction.astype(np.float32)
    return X, y, direction


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


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture(scope="module")
def planted():
    return planted_data()


@pytest.fixture(scope="module")
def planted_table(planted):
    X, y, _ = planted
    return probe_table({"resid": X}, y)


# ---------------------------------------------------------------------------
# Clustering
# ---------------------------------------------------------------------------


def test_clustering_scores_equal_sklearn_on_same_inputs():
    rng = np.random.default_rng(1)
    X, labels = blobs(spread=4.0)  # overlapping: scores strictly between 0 and 1
    X[:, 1] = rng.standard_normal(X[:, 1].shape)  # pure noise at layer 1
    scores = clustering_scores(X, labels, seed=3, n_init=2)
    assert list(scores.columns) == ["index", "ari", "nmi"]
    assert scores["index"].tolist() == [0, 1]
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


# ---------------------------------------------------------------------------
# Probes on planted data
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_probe_accuracy_peaks_at_planted_layer(planted, method):
    X, y, _ = planted
    accuracy = probe_accuracy(X, y, method)
    assert accuracy.shape == (X.shape[1],)
    assert int(np.argmax(accuracy)) == PLANTED_LAYER
    assert accuracy[PLANTED_LAYER] > 0.85
    noise = np.delete(accuracy, PLANTED_LAYER)
    assert np.all(np.abs(noise - 0.5) < 0.2)
    assert abs(noise.mean() - 0.5) < 0.1


def test_probe_table_shape_and_columns(planted, planted_table):
    X, _, _ = planted
    assert list(planted_table.columns) == ["site", "index", "method", *CV_COLUMNS]
    assert len(planted_table) == X.shape[1] * 3
    assert set(planted_table["method"]) == {"dim", "bce", "mse"}
    for method in METHODS:  # same folds and seed as probe_accuracy
        rows = planted_table[planted_table["method"] == method].sort_values("index")
        np.testing.assert_array_equal(rows["accuracy"], probe_accuracy(X, planted[1], method))


@pytest.mark.parametrize("method", METHODS)
def test_select_layer_picks_planted_layer(planted_table, method):
    assert select_layer(planted_table, "accuracy", site="resid", method=method) == PLANTED_LAYER


@pytest.mark.parametrize("method", METHODS)
def test_directions_recover_planted_direction(method):
    # N=2000: at N=200, d=32 the sampling noise of the class means alone caps the
    # expected cosine near 0.95, so the threshold would test luck, not the fit.
    X, y, planted_direction = planted_data(n=2000)
    directions = fit_directions(X, y, method)
    assert directions.shape == (6, 32) and directions.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(directions, axis=1), 1.0, atol=1e-5)
    assert cosine(directions[PLANTED_LAYER], planted_direction) > 0.95


@pytest.mark.parametrize("method", METHODS)
def test_directions_point_towards_positive_class(planted, method):
    X, y, planted_direction = planted
    directions = fit_directions(X, y, method)
    np.testing.assert_allclose(np.linalg.norm(directions, axis=1), 1.0, atol=1e-5)
    assert directions[PLANTED_LAYER] @ planted_direction > 0.8
    flipped = fit_directions(X, 1 - y, method)
    np.testing.assert_allclose(flipped, -directions, atol=1e-4)


def test_dim_direction_is_normalised_mean_difference(planted):
    X, y, _ = planted
    difference = X[y == 1].mean(0) - X[y == 0].mean(0)
    expected = difference / np.linalg.norm(difference, axis=1, keepdims=True)
    np.testing.assert_allclose(fit_directions(X, y, "dim"), expected, atol=1e-5)


def test_float16_input_gives_the_same_directions(planted):
    X, y, _ = planted
    X16 = X.astype(np.float16)
    for method in METHODS:
        np.testing.assert_allclose(
            fit_directions(X16, y, method),
            fit_directions(X16.astype(np.float32), y, method),
            atol=1e-6,
        )


# ---------------------------------------------------------------------------
# Exact agreement with sklearn on the same objective
# ---------------------------------------------------------------------------


def fitted_scaler(A: np.ndarray, scaling: str) -> StandardScaler:
    """sklearn's z-scores, or (``"global"``) one scale √(tr Σ / d) for every feature."""
    scaler = StandardScaler().fit(A)
    if scaling == "global":
        scaler.scale_ = np.full_like(scaler.scale_, np.sqrt(scaler.var_.mean()))
    return scaler


def sklearn_direction(
    X_layer: np.ndarray, y: np.ndarray, method: str, l2: float, scaling: str = "feature"
) -> np.ndarray:
    """Reference: sklearn on scaled features, weights mapped back to raw space."""
    scaler = fitted_scaler(X_layer, scaling)
    Z = scaler.transform(X_layer)
    if method == "mse":
        coef = Ridge(alpha=l2 * len(y)).fit(Z, 2.0 * y - 1.0).coef_
    else:
        model = LogisticRegression(C=1.0 / (l2 * len(y)), tol=1e-10, max_iter=10_000)
        coef = model.fit(Z, y).coef_[0]
    w = coef / scaler.scale_
    return w / np.linalg.norm(w)


@pytest.mark.parametrize("scaling", ["global", "feature"])
@pytest.mark.parametrize("method", ["mse", "bce"])
@pytest.mark.parametrize(("n", "d"), [(150, 12), (40, 64)], ids=["primal", "dual"])
def test_regression_directions_match_sklearn(method, n, d, scaling):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((n, 2, d)) * rng.uniform(0.1, 20, size=d) + 7.0
    y = np.repeat([0, 1], n // 2)
    X[y == 1] += 0.8 * rng.standard_normal(d)
    for l2 in (1e-2, 1e-1):
        directions = fit_directions(X, y, method, l2=l2, scaling=scaling)
        for index in range(2):
            expected = sklearn_direction(X[:, index], y, method, l2, scaling)
            assert cosine(directions[index], expected) > 1 - 1e-5


def reference_accuracy(
    X: np.ndarray, y: np.ndarray, method: str, folds: int, seed: int, scaling: str = "feature"
):
    """Per-layer sklearn/numpy loop implementing the documented prediction rules."""
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    correct = np.zeros(X.shape[1])
    for train, test in splitter.split(X[:, 0], y):
        for index in range(X.shape[1]):
            A, B = X[train, index].astype(np.float64), X[test, index].astype(np.float64)
            if method == "dim":
                m1, m0 = A[y[train] == 1].mean(0), A[y[train] == 0].mean(0)
                w = m1 - m0
                predicted = B @ w > 0.5 * (m1 @ w + m0 @ w)
            else:
                scaler = fitted_scaler(A, scaling)
                ZA, ZB = scaler.transform(A), scaler.transform(B)
                if method == "mse":
                    ridge = Ridge(alpha=1e-2 * len(train)).fit(ZA, 2.0 * y[train] - 1.0)
                    predicted = ridge.predict(ZB) > 0
                else:
                    logistic = LogisticRegression(C=1 / (1e-2 * len(train)), tol=1e-10)
                    predicted = logistic.fit(ZA, y[train]).predict_proba(ZB)[:, 1] > 0.5
            correct[index] += (predicted == y[test]).sum()
    return correct / len(y)


@pytest.mark.parametrize("scaling", ["global", "feature"])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("n", "d"), [(120, 16), (40, 64)], ids=["primal", "dual"])
def test_probe_accuracy_matches_per_layer_reference(method, n, d, scaling):
    X, y, _ = planted_data(n=n, n_layers=4, d=d, seed=3)
    expected = reference_accuracy(X, y, method, folds=4, seed=7, scaling=scaling)
    actual = probe_accuracy(X, y, method, folds=4, seed=7, l2=1e-2, scaling=scaling)
    # Identical up to a clip sitting exactly on a decision boundary.
    np.testing.assert_allclose(actual, expected, atol=1.5 / len(y))


def test_folds_are_capped_at_the_minority_class_count():
    X, y, _ = planted_data(n=40, n_layers=4, d=4)
    keep = np.concatenate([np.flatnonzero(y == 0), np.flatnonzero(y == 1)[:3]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # sklearn warns when folds exceed a class count
        capped = probe_accuracy(X[keep], y[keep], "dim", folds=5)  # 5 folds > 3 positives
    np.testing.assert_array_equal(capped, probe_accuracy(X[keep], y[keep], "dim", folds=3))


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("function", [fit_directions, probe_accuracy])
def test_probe_input_errors(function):
    X, y, _ = planted_data(n=20, n_layers=4, d=4)
    with pytest.raises(ValueError, match="3-D"):
        function(X[:, 0], y, "dim")
    with pytest.raises(ValueError, match="20 clips"):
        function(X, y[:-1], "dim")
    with pytest.raises(ValueError, match="at least 2 classes"):
        function(X, np.zeros_like(y), "dim")
    one_positive = np.zeros_like(y)
    one_positive[0] = 1
    with pytest.raises(ValueError, match="at least 2 samples"):
        function(X, one_positive, "dim")
    with pytest.raises(ValueError, match="binary"):
        function(X, y * 2, "dim")
    with pytest.raises(ValueError, match="method must be one of"):
        function(X, y, "svm")
    X_nan = X.copy()
    X_nan[0, 1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        function(X_nan, y, "mse")


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


# ---------------------------------------------------------------------------
# Layer selection, projections, vectors
# ---------------------------------------------------------------------------


def test_select_layer_rules():
    table = pd.DataFrame(
        {
            "site": ["resid"] * 8 + ["attn"] * 4,
            "index": [0, 1, 2, 3] * 3,
            "method": ["mse"] * 4 + ["dim"] * 4 + ["mse"] * 4,
            "accuracy": [0.6, 0.9, 0.9, 0.95, 0.99, 0.5, 0.5, 0.5, 0.5, 0.7, 0.8, np.nan],
        }
    )
    assert select_layer(table) == 3
    assert select_layer(table, max_index=2) == 1  # tie between 1 and 2 -> earliest
    assert select_layer(table, method="dim") == 0
    assert select_layer(table, site="attn") == 2  # NaN ignored
    assert select_layer(table, rule="fixed", fixed=2, max_index=3) == 2
    ari = pd.DataFrame({"index": [0, 1, 2], "ari": [0.1, 0.4, 0.2], "nmi": [0.9, 0.1, 0.1]})
    assert select_layer(ari, rule="ari") == 1
    assert select_layer(ari, rule="ari", max_index=0) == 0


def test_select_layer_errors():
    table = pd.DataFrame({"index": [0, 1], "accuracy": [0.5, 0.6]})
    with pytest.raises(ValueError, match="needs a `fixed`"):
        select_layer(table, rule="fixed")
    with pytest.raises(ValueError, match="outside"):
        select_layer(table, rule="fixed", fixed=5, max_index=3)
    with pytest.raises(ValueError, match="rule must be"):
        select_layer(table, rule="best")
    with pytest.raises(ValueError, match="'ari' column"):
        select_layer(table, rule="ari")
    with pytest.raises(ValueError, match="no rows"):
        select_layer(table, site="attn", max_index=-1)


def test_mean_projection_equals_direct_mean(planted):
    X, y, _ = planted
    directions = fit_directions(X, y, "mse")
    expected = np.einsum("nld,ld->nl", X.astype(np.float64), directions).mean(0)
    np.testing.assert_allclose(mean_projection(X, directions), expected, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(
        mean_projection(X.astype(np.float16), directions),
        np.einsum("nld,ld->nl", X.astype(np.float16).astype(np.float64), directions).mean(0),
        rtol=1e-6,
        atol=1e-9,
    )


def test_build_vector_round_trips(planted, tmp_path):
    X, y, _ = planted
    accuracy = probe_accuracy(X, y, "bce")
    vector = build_vector(
        X, y, "bce", "resid", 3, "genre", "rock", "rest", "musicgen-small", accuracy=accuracy
    )
    assert isinstance(vector, SteeringVector)
    np.testing.assert_allclose(vector.directions, fit_directions(X, y, "bce"))
    np.testing.assert_allclose(vector.mean_projection, mean_projection(X, vector.directions))
    assert vector.accuracy == pytest.approx(accuracy.tolist())
    loaded = SteeringVector.load(vector.save(tmp_path / "v.npz"))
    assert (loaded.layer, loaded.method, loaded.positive) == (3, "bce", "rock")
    default = build_vector(X, y, "dim", "attn", 0, "genre", "rock", "jazz", "m")
    assert np.isnan(default.accuracy).all() and len(default.accuracy) == X.shape[1]


# ---------------------------------------------------------------------------
# Balanced subsampling
# ---------------------------------------------------------------------------


def test_balance_binary_against_one_class():
    labels = ["rock"] * 30 + ["jazz"] * 12 + ["pop"] * 50
    indices, y = balance_binary(labels, "rock", "jazz", seed=0)
    chosen = np.asarray(labels)[indices]
    assert np.count_nonzero(y == 1) == np.count_nonzero(y == 0) == 12
    assert set(chosen[y == 0]) == {"jazz"} and set(chosen[y == 1]) == {"rock"}
    assert np.all(np.diff(indices) > 0)  # sorted, no repeats


def test_balance_binary_rest_spreads_over_other_classes():
    labels = ["rock"] * 30 + ["jazz"] * 50 + ["pop"] * 50 + ["folk"] * 5
    indices, y = balance_binary(labels, "rock", None, seed=1)
    chosen = np.asarray(labels)[indices]
    assert np.count_nonzero(y == 1) == np.count_nonzero(y == 0) == 30
    negatives = pd.Series(chosen[y == 0]).value_counts().to_dict()
    assert negatives["folk"] == 5  # small class used fully, the rest split evenly
    assert sorted([negatives["jazz"], negatives["pop"]]) == [12, 13]


def test_balance_binary_subsamples_positive_when_rest_is_small():
    labels = ["rock"] * 40 + ["jazz"] * 6 + ["pop"] * 4
    _, y = balance_binary(labels, "rock", None, seed=0)
    assert np.count_nonzero(y == 1) == np.count_nonzero(y == 0) == 10


def test_balance_binary_is_deterministic_under_seed():
    labels = ["rock"] * 30 + ["jazz"] * 50 + ["pop"] * 50
    first = balance_binary(labels, "rock", None, seed=4)
    again = balance_binary(labels, "rock", None, seed=4)
    other = balance_binary(labels, "rock", None, seed=5)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[0], other[0])


def test_balance_binary_errors():
    labels = ["rock"] * 5 + ["jazz"] * 1
    with pytest.raises(ValueError, match="positive class 'metal'"):
        balance_binary(labels, "metal", None, seed=0)
    with pytest.raises(ValueError, match="negative class 'metal'"):
        balance_binary(labels, "rock", "metal", seed=0)
    with pytest.raises(ValueError, match="same class"):
        balance_binary(labels, "rock", "rock", seed=0)
    with pytest.raises(ValueError, match="no classes other"):
        balance_binary(["rock"] * 4, "rock", None, seed=0)
    with pytest.raises(ValueError, match="at least 2 samples"):
        balance_binary(labels, "rock", "jazz", seed=0)


def test_orientation_safety_net_flips_backward_rows(planted):
    from musicsteer.probing import _orient_towards_positive

    X, y, _ = planted
    directions = fit_directions(X, y, "dim")
    backward = directions.copy()
    backward[[1, 3]] *= -1
    np.testing.assert_array_equal(_orient_towards_positive(backward, X, y), directions)


# ---------------------------------------------------------------------------
# Task tables: multi-class and multi-label probing
# ---------------------------------------------------------------------------

CLASS_NAMES = ["flute", "violin", "xylophone"]
CLASS_LAYER = 2


def planted_classes(per_class: int = 500, n_layers: int = 5, d: int = 24, seed: int = 0):
    """Three classes, each shifted along its own direction at one layer only.

    The directions are 120° apart in a random plane (they sum to zero), so the mean
    of the other two classes lies exactly opposite each one: every class-vs-rest
    probe should recover its class's own direction.
    """
    rng = np.random.default_rng(seed)
    labels = np.repeat(CLASS_NAMES, per_class)
    rng.shuffle(labels)
    plane, _ = np.linalg.qr(rng.standard_normal((d, 2)))
    angles = 2 * np.pi * np.arange(3) / 3
    directions = (plane @ np.stack([np.cos(angles), np.sin(angles)])).T  # [3, d] unit rows
    X = rng.standard_normal((len(labels), n_layers, d)).astype(np.float32)
    index = np.searchsorted(CLASS_NAMES, labels)
    X[:, CLASS_LAYER] += 3.0 * directions[index].astype(np.float32)
    return X, labels, dict(zip(CLASS_NAMES, directions, strict=True))


def task_table(labels: np.ndarray, kind: str, classes=CLASS_NAMES) -> pd.DataFrame:
    """A task table in the musicsteer.tasks layout, rows in the order of ``labels``."""
    y = np.searchsorted(classes, labels)
    table = pd.DataFrame(
        {
            "task": kind,
            "kind": kind,
            "clip_id": np.arange(len(labels)).astype(str),
            "label": labels,
            "y": y,
        }
    )
    if kind == "multilabel":
        for i, cls in enumerate(classes):
            table[f"is_{cls}"] = (y == i).astype(np.int64)
    return table


@pytest.fixture(scope="module")
def classes_data():
    return planted_classes()


@pytest.fixture(scope="module")
def multiclass_probes(classes_data):
    X, labels, _ = classes_data
    return probe_task({"resid": X}, task_table(labels, "multiclass"))


def test_probe_task_multiclass_layout(classes_data, multiclass_probes):
    X = classes_data[0]
    assert list(multiclass_probes.columns) == PROBE_COLUMNS
    per_class = multiclass_probes[multiclass_probes["positive"] != ALL_CLASSES]
    assert set(per_class["positive"]) == set(CLASS_NAMES)
    assert len(per_class) == 3 * len(METHODS) * X.shape[1]
    overall = multiclass_probes[multiclass_probes["positive"] == ALL_CLASSES]
    assert set(overall["method"]) == {"dim", "mse"}  # bce is binary only
    assert len(overall) == 2 * X.shape[1]


@pytest.mark.parametrize("method", METHODS)
def test_each_class_peaks_at_the_planted_layer(multiclass_probes, method):
    rows = multiclass_probes[multiclass_probes["method"] == method]
    for cls in CLASS_NAMES:
        curve = rows[rows["positive"] == cls].sort_values("index")["accuracy"].to_numpy()
        assert int(np.argmax(curve)) == CLASS_LAYER
        assert curve[CLASS_LAYER] > 0.9
        assert np.all(np.abs(np.delete(curve, CLASS_LAYER) - 0.5) < 0.1)


@pytest.mark.parametrize("method", ["dim", "mse"])
def test_all_class_argmax_accuracy(multiclass_probes, method):
    rows = multiclass_probes[
        (multiclass_probes["method"] == method) & (multiclass_probes["positive"] == ALL_CLASSES)
    ]
    curve = rows.sort_values("index")["accuracy"].to_numpy()
    assert curve[CLASS_LAYER] > 0.95
    assert np.all(np.abs(np.delete(curve, CLASS_LAYER) - 1 / 3) < 0.07)


@pytest.mark.parametrize("method", METHODS)
def test_each_class_direction_is_its_own(classes_data, method):
    X, labels, planted_directions = classes_data
    directions = task_directions(X, task_table(labels, "multiclass"), method)
    assert set(directions) == set(CLASS_NAMES)
    for cls, direction in directions.items():
        assert direction.shape == X.shape[1:]
        assert cosine(direction[CLASS_LAYER], planted_directions[cls]) > 0.95


def sklearn_all_class_accuracy(X_layer, labels, method, folds=5, seed=0, l2=1e-2):
    """Reference: one-hot Ridge argmax on standardised features, or nearest class mean."""
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    correct = 0
    for train, test in splitter.split(X_layer, labels):
        A, B = X_layer[train].astype(np.float64), X_layer[test].astype(np.float64)
        if method == "mse":
            scaler = StandardScaler().fit(A)
            onehot = (labels[train, None] == np.arange(labels.max() + 1)).astype(float)
            ridge = Ridge(alpha=l2 * len(train)).fit(scaler.transform(A), onehot)
            predicted = ridge.predict(scaler.transform(B)).argmax(1)
        else:
            means = np.stack([A[labels[train] == k].mean(0) for k in range(labels.max() + 1)])
            predicted = ((B[:, None, :] - means[None]) ** 2).sum(-1).argmin(1)
        correct += int((predicted == labels[test]).sum())
    return correct / len(labels)


@pytest.mark.parametrize("method", ["dim", "mse"])
@pytest.mark.parametrize(("per_class", "d"), [(60, 8), (12, 40)], ids=["primal", "dual"])
def test_all_class_accuracy_matches_sklearn(method, per_class, d):
    X, labels, _ = planted_classes(per_class=per_class, n_layers=3, d=d, seed=4)
    X[:, CLASS_LAYER] *= 0.5  # overlapping classes: accuracies strictly inside (1/3, 1)
    probes = probe_task({"resid": X}, task_table(labels, "multiclass"), methods=[method])
    rows = probes[probes["positive"] == ALL_CLASSES].sort_values("index")
    index = np.searchsorted(CLASS_NAMES, labels)
    expected = [sklearn_all_class_accuracy(X[:, i], index, method) for i in range(X.shape[1])]
    np.testing.assert_allclose(rows["accuracy"], expected, atol=1.5 / len(labels))


def test_multiclass_class_probes_use_balanced_rest(classes_data):
    """Each class's probe is the probe of balance_binary's subsample, same seed."""
    X, labels, _ = classes_data
    probes = probe_task({"resid": X}, task_table(labels, "multiclass"), methods=["dim"], seed=3)
    for cls in CLASS_NAMES:
        rows, y = balance_binary(labels, cls, None, seed=3)
        expected = probe_accuracy(X[rows], y, "dim", seed=3)
        got = probes[probes["positive"] == cls].sort_values("index")["accuracy"]
        np.testing.assert_array_equal(got, expected)


def test_multilabel_one_hot_matches_multiclass(classes_data):
    X, labels, _ = classes_data
    multilabel = probe_task({"resid": X}, task_table(labels, "multilabel"), methods=["mse"])
    multiclass = probe_task({"resid": X}, task_table(labels, "multiclass"), methods=["mse"])
    pd.testing.assert_frame_equal(multilabel, multiclass)


def test_multilabel_uses_is_columns():
    # The label column says "mix" for every clip: only the is_ columns tell the classes,
    # and clips 0-39 belong to two classes at once (no single class: no "__all__" rows).
    rng = np.random.default_rng(2)
    member = np.zeros((240, 3), dtype=np.int64)
    member[np.arange(240), np.arange(240) % 3] = 1
    member[:40, 0] = member[:40, 1] = 1
    X = rng.standard_normal((240, 3, 6)).astype(np.float32)
    X[:, 1] += (
        4.0 * member.astype(np.float32) @ np.eye(3, 6, dtype=np.float32)
    )  # class k: +4 on feature k
    table = pd.DataFrame(
        {
            "task": "ml",
            "kind": "multilabel",
            "clip_id": [str(i) for i in range(240)],
            "label": "mix",
            "y": 0,
        }
    )
    for k, cls in enumerate(CLASS_NAMES):
        table[f"is_{cls}"] = member[:, k]
    probes = probe_task({"resid": X}, table, methods=["dim", "mse"])
    assert set(probes["positive"]) == set(CLASS_NAMES)
    directions = task_directions(X, table, "dim")
    for k, cls in enumerate(CLASS_NAMES):
        assert int(np.argmax(np.abs(directions[cls][1]))) == k  # feature k: class k's own
        curve = probes[(probes["positive"] == cls) & (probes["method"] == "dim")]["accuracy"]
        assert curve.iloc[1] > 0.9


def test_binary_task_positive_is_the_y1_class(planted):
    X, y, _ = planted
    names = np.where(y == 1, "rock", "jazz")
    pair = pd.DataFrame(
        {
            "task": "p",
            "kind": "pairwise",
            "clip_id": [str(i) for i in range(len(y))],
            "label": names,
            "y": y,
        }
    )
    probes = probe_task({"resid": X, "attn": X}, pair)
    assert set(probes["positive"]) == {"rock"}
    # Same folds and seed as probe_table: the same numbers.
    expected = probe_table({"resid": X, "attn": X}, y)
    pd.testing.assert_frame_equal(probes.drop(columns="positive"), expected)
    ovr = pair.assign(
        kind="one_vs_rest",
        label=np.where(y == 1, "rock", np.array(["jazz", "pop"])[np.arange(len(y)) % 2]),
    )
    assert set(probe_task({"resid": X}, ovr, methods=["dim"])["positive"]) == {"rock"}


def test_probe_task_on_a_tasks_module_table():
    manifest = pd.DataFrame(
        {"clip_id": [f"c{i}" for i in range(90)], "label": np.repeat(["a", "b", "c"], 30)}
    )
    table = tasks.multilabel(manifest, ["a", "b", "c"], seed=0, per_class=20)
    X = np.random.default_rng(0).standard_normal((len(table), 2, 4)).astype(np.float16)
    probes = probe_task({"attn": X}, table, methods=["dim"], folds=3)
    assert set(probes["positive"]) == {"a", "b", "c", ALL_CLASSES}
    assert set(probes["site"]) == {"attn"}


def test_build_task_vectors(classes_data, multiclass_probes, tmp_path):
    X, labels, _ = classes_data
    table = task_table(labels, "multiclass")
    layers = {"flute": 2, "violin": 1, "xylophone": 3}
    vectors = build_task_vectors(
        {"resid": X}, table, "mse", "resid", layers, "instrument", "m", probes=multiclass_probes
    )
    assert [v.positive for v in vectors] == CLASS_NAMES
    assert all(v.negative == "rest" and v.task == "instrument" for v in vectors)
    assert [v.layer for v in vectors] == [2, 1, 3]
    directions = task_directions(X, table, "mse")
    for vector in vectors:
        np.testing.assert_allclose(vector.directions, directions[vector.positive])
        rows = multiclass_probes[
            (multiclass_probes["positive"] == vector.positive)
            & (multiclass_probes["method"] == "mse")
        ]
        assert vector.accuracy == pytest.approx(rows.sort_values("index")["accuracy"].tolist())
    loaded = SteeringVector.load(vectors[0].save(tmp_path / "v.npz"))
    assert loaded.positive == "flute"
    pair = task_table(labels, "multiclass").query("label != 'xylophone'").assign(kind="pairwise")
    keep = pair.index.to_numpy()
    (vector,) = build_task_vectors(
        {"resid": X[keep]}, pair.reset_index(drop=True), "dim", "resid", 0, "pair", "m"
    )
    assert (vector.positive, vector.negative) == ("violin", "flute")
    assert np.isnan(vector.accuracy).all()


def test_task_errors(classes_data):
    X, labels, _ = classes_data
    table = task_table(labels, "multiclass")
    with pytest.raises(ValueError, match="unknown task kind 'ordinal'"):
        probe_task({"resid": X}, table.assign(kind="ordinal"))
    with pytest.raises(ValueError, match="one kind"):
        probe_task({"resid": X}, table.assign(kind=["multiclass", "pairwise"] * (len(table) // 2)))
    with pytest.raises(ValueError, match="lacks column"):
        probe_task({"resid": X}, table.drop(columns="y"))
    with pytest.raises(ValueError, match="clips"):
        probe_task({"resid": X[:-1]}, table)
    with pytest.raises(ValueError, match="empty"):
        probe_task({}, table)
    with pytest.raises(ValueError, match="y in"):
        probe_task({"resid": X}, table.assign(kind="pairwise"))
    with pytest.raises(ValueError, match="is_<class>"):
        probe_task({"resid": X}, table.assign(kind="multilabel"))
    with pytest.raises(ValueError, match="method must be one of"):
        probe_task({"resid": X}, table, methods=["svm"])
    with pytest.raises(ValueError, match="no activations for site 'attn'"):
        build_task_vectors({"resid": X}, table, "mse", "attn", 2, "t", "m")


# ---------------------------------------------------------------------------
# Summary table and layer selection
# ---------------------------------------------------------------------------


@pytest.fixture()
def probe_rows():
    """Two classes and the all-class row, one method, at two sites, 4 indices."""
    accuracy = {
        ("resid", "a"): [0.5, 0.9, 0.8, 0.95],
        ("resid", "b"): [0.6, 0.7, 0.7, 0.5],
        ("resid", ALL_CLASSES): [0.4, 0.99, 0.3, 0.3],
        ("attn", "a"): [0.5, 0.5, 0.5, 0.5],
    }
    frames = [
        pd.DataFrame(
            {
                "site": site,
                "index": range(4),
                "method": "mse",
                "positive": positive,
                "accuracy": acc,
                "accuracy_h0": acc,  # both halves agree: nested = max over layers
                "accuracy_h1": acc,
                "n_h0": 10,
                "n_h1": 10,
                "n_positive": 30,
                "n_negative": 30,
                "folds": 5,
                "grouped": False,
            }
        )
        for (site, positive), acc in accuracy.items()
    ]
    return pd.concat(frames, ignore_index=True)[PROBE_COLUMNS]


def test_summary_table(probe_rows):
    summary = summary_table(probe_rows)
    assert list(summary.columns) == [
        "site",
        "method",
        "positive",
        "best_index",
        "max_accuracy",
        "nested_accuracy",
        "mean_accuracy",
        "n_indices",
        "n_positive",
        "n_negative",
        "folds",
        "grouped",
    ]
    row = summary.set_index(["site", "positive"])
    assert row.loc[("resid", "a"), "best_index"] == 3
    assert row.loc[("resid", "a"), "max_accuracy"] == pytest.approx(0.95)
    assert row.loc[("resid", "a"), "nested_accuracy"] == pytest.approx(0.95)
    assert row.loc[("resid", "a"), "mean_accuracy"] == pytest.approx(0.7875)
    assert row.loc[("resid", "b"), "best_index"] == 1  # tie 1/2 -> earliest
    assert row.loc[("attn", "a"), "best_index"] == 0
    assert (summary["n_indices"] == 4).all()
    clustering = pd.DataFrame(
        {
            "site": ["resid"] * 4 + ["attn"] * 4,
            "index": list(range(4)) * 2,
            "ari": [0.1, 0.2, 0.6, 0.3, 0.0, 0.4, 0.1, 0.1],
        }
    )
    with_ari = summary_table(probe_rows, clustering).set_index(["site", "positive"])
    assert with_ari.loc[("resid", "b"), "ari_index"] == 2
    assert with_ari.loc[("resid", "b"), "best_ari"] == pytest.approx(0.6)
    assert with_ari.loc[("attn", "a"), "ari_index"] == 1
    no_site = summary_table(
        probe_rows, clustering[clustering["site"] == "attn"].drop(columns="site")
    )
    assert (no_site["ari_index"] == 1).all()


def test_layer_selection_accuracy_rule(probe_rows):
    chosen = layer_selection(probe_rows, "accuracy", site="resid", method="mse")
    assert list(chosen.columns) == [
        "site",
        "method",
        "positive",
        "layer",
        "accuracy",
        "nested_accuracy",
        "rule",
        "evidence",
    ]
    assert chosen["positive"].tolist() == ["a", "b"]  # "__all__" has no direction to steer
    assert chosen["layer"].tolist() == [3, 1]
    assert chosen["accuracy"].tolist() == pytest.approx([0.95, 0.7])
    assert (chosen["rule"] == "accuracy").all()
    assert "(max over layers) 0.950 at index 3" in chosen["evidence"].iloc[0]
    assert "next best 0.900 at index 1" in chosen["evidence"].iloc[0]
    capped = layer_selection(probe_rows, "accuracy", site="resid", max_index=2)
    assert capped["layer"].tolist() == [1, 1]
    # Agrees with select_layer on each class's rows.
    for positive, layer in zip(chosen["positive"], chosen["layer"], strict=True):
        assert select_layer(probe_rows[probe_rows["positive"] == positive]) == layer


def test_layer_selection_fixed_and_ari_rules(probe_rows):
    fixed = layer_selection(probe_rows, "fixed", site="resid", fixed=2)
    assert fixed["layer"].tolist() == [2, 2]
    assert fixed["accuracy"].tolist() == pytest.approx([0.8, 0.7])
    assert "fixed" in fixed["evidence"].iloc[0] and "index 3" in fixed["evidence"].iloc[0]
    clustering = pd.DataFrame({"site": "resid", "index": range(4), "ari": [0.1, 0.2, 0.6, 0.3]})
    ari = layer_selection(probe_rows, "ari", site="resid", clustering=clustering)
    assert ari["layer"].tolist() == [2, 2]
    assert "ARI 0.600 at index 2" in ari["evidence"].iloc[0]
    with pytest.raises(ValueError, match="needs the clustering"):
        layer_selection(probe_rows, "ari")
    with pytest.raises(ValueError, match="no probe rows"):
        layer_selection(probe_rows, method="dim")
    with pytest.raises(ValueError, match="rule must be"):
        layer_selection(probe_rows, "best")
    with pytest.raises(ValueError, match="outside"):
        layer_selection(probe_rows, "fixed", fixed=5, max_index=3)
