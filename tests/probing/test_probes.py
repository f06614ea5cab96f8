"""Tests for musicsteer.probing: clustering scores, batched probes, layer choice."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler

from musicsteer import tasks
from musicsteer.probing.assembly import build_task_vectors
from musicsteer.probing.probes import (
    ALL_CLASSES,
    CV_COLUMNS,
    PROBE_COLUMNS,
    assign_folds,
    fit_directions,
    nested_accuracy,
    probe_accuracy,
    probe_table,
    probe_task,
    task_directions,
)
from musicsteer.probing.selection import summary_table
from musicsteer.tasks import balance_binary
from tests.probing.planted import (
    CLASS_LAYER,
    CLASS_NAMES,
    METHODS,
    PLANTED_LAYER,
    cosine,
    planted_classes,
    planted_data,
    task_table,
)

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
    assert list(planted_table.columns) == ["site", "layer", "method", *CV_COLUMNS]
    assert len(planted_table) == X.shape[1] * 3
    assert set(planted_table["method"]) == {"dim", "bce", "mse"}
    for method in METHODS:  # same folds and seed as probe_accuracy
        rows = planted_table[planted_table["method"] == method].sort_values("layer")
        np.testing.assert_array_equal(rows["accuracy"], probe_accuracy(X, planted[1], method))


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


def test_orientation_safety_net_flips_backward_rows(planted):
    from musicsteer.probing.solvers import _orient_towards_positive

    X, y, _ = planted
    directions = fit_directions(X, y, "dim")
    backward = directions.copy()
    backward[[1, 3]] *= -1
    np.testing.assert_array_equal(_orient_towards_positive(backward, X, y), directions)


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
        curve = rows[rows["positive"] == cls].sort_values("layer")["accuracy"].to_numpy()
        assert int(np.argmax(curve)) == CLASS_LAYER
        assert curve[CLASS_LAYER] > 0.9
        assert np.all(np.abs(np.delete(curve, CLASS_LAYER) - 0.5) < 0.1)


@pytest.mark.parametrize("method", ["dim", "mse"])
def test_all_class_argmax_accuracy(multiclass_probes, method):
    rows = multiclass_probes[
        (multiclass_probes["method"] == method) & (multiclass_probes["positive"] == ALL_CLASSES)
    ]
    curve = rows.sort_values("layer")["accuracy"].to_numpy()
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
    rows = probes[probes["positive"] == ALL_CLASSES].sort_values("layer")
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
        got = probes[probes["positive"] == cls].sort_values("layer")["accuracy"]
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


LOUD, QUIET = 4, 32


def loud_and_quiet(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """4 loud dimensions (σ = 30) carry a half-σ class shift; 32 quiet ones (σ = 0.02) don't."""
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], n // 2)
    rng.shuffle(y)
    sigma = np.r_[np.full(LOUD, 30.0), np.full(QUIET, 0.02)]
    X = rng.standard_normal((n, LOUD + QUIET)) * sigma
    X[y == 1, :LOUD] += 15.0
    return X[:, None, :].astype(np.float32), y


def quiet_energy(v: np.ndarray) -> float:
    return float(np.sum(v[LOUD:] ** 2) / np.sum(v**2))


@pytest.mark.parametrize("n", [400, 24], ids=["primal", "dual"])
@pytest.mark.parametrize("method", ["mse", "bce"])
def test_directions_stay_where_the_activations_vary(method, n):
    X, y = loud_and_quiet(n)
    dim = fit_directions(X, y, "dim")[0]
    v = fit_directions(X, y, method)[0]
    assert float(v @ dim) > 0.9
    assert quiet_energy(v) < 0.02
    # Per-dimension z-scores (the old default) put the direction in the quiet dimensions.
    old = fit_directions(X, y, method, l2=1e-2, scaling="feature")[0]
    assert quiet_energy(old) > 0.9
    assert abs(float(old @ dim)) < 0.2


def track_fingerprints(n_tracks: int = 40, clips: int = 4, d: int = 64, seed: int = 0):
    """Every track has a random fingerprint and a random label; nothing else carries it."""
    rng = np.random.default_rng(seed)
    track_label = rng.permutation(np.repeat([0, 1], n_tracks // 2))
    fingerprint = rng.standard_normal((n_tracks, d))
    track = np.repeat(np.arange(n_tracks), clips)
    X = fingerprint[track] + 0.1 * rng.standard_normal((len(track), d))
    return X[:, None, :].astype(np.float32), track_label[track], track


@pytest.mark.parametrize("method", ["mse", "bce"])
def test_grouped_folds_do_not_leak_sibling_clips(method):
    X, y, track = track_fingerprints()
    plain = probe_accuracy(X, y, method)[0]
    grouped = probe_accuracy(X, y, method, groups=track)[0]
    assert plain > 0.9  # a test clip's siblings were trained on
    assert abs(grouped - 0.5) < 0.15  # unseen tracks: chance, the truth


def test_assign_folds_keeps_groups_together_and_trains_every_class():
    _, y, track = track_fingerprints(n_tracks=20, clips=3)
    fold_of = assign_folds(y, 5, seed=0, groups=track)
    for t in np.unique(track):
        assert len(set(fold_of[track == t])) == 1
    assert fold_of.max() == 4
    # A class in fewer groups than folds caps them; a class in one group cannot be held out.
    y_one = np.where(track == 0, 1, 0)
    with pytest.raises(ValueError, match="class 1 has 1 groups"):
        assign_folds(y_one, 5, seed=0, groups=track, what="pair_x")


def test_nested_accuracy_is_not_inflated_by_picking_the_best_of_many_layers():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 49, 16)).astype(np.float32)  # pure noise at 49 layers
    task = pd.DataFrame(
        {
            "task": "noise",
            "kind": "pairwise",
            "clip_id": [str(i) for i in range(60)],
            "label": np.repeat(["a", "b"], 30),
            "y": np.repeat([0, 1], 30),
        }
    )
    probes = probe_task({"resid": X}, task, ["mse"], folds=5)
    summary = summary_table(probes).iloc[0]
    assert summary["max_accuracy"] > 0.6  # the winner's curse of 49 noisy layers
    assert abs(summary["nested_accuracy"] - 0.5) < 0.12
    assert summary["nested_accuracy"] < summary["max_accuracy"] - 0.05


def test_nested_accuracy_reads_each_half_at_the_layer_the_other_half_chose():
    curve = pd.DataFrame(
        {
            "layer": [0, 1, 2],
            "accuracy_h0": [0.9, 0.5, 0.6],
            "accuracy_h1": [0.4, 0.8, 0.7],
            "n_h0": 10,
            "n_h1": 30,
        }
    )
    # h0 picks layer 0 → h1 reads 0.4; h1 picks layer 1 → h0 reads 0.5.
    assert nested_accuracy(curve) == pytest.approx((0.4 * 30 + 0.5 * 10) / 40)
