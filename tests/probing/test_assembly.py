from __future__ import annotations

import numpy as np
import pytest

from musicsteer.probing.assembly import build_task_vectors, build_vector, mean_projection
from musicsteer.probing.probes import (
    fit_directions,
    probe_accuracy,
    task_directions,
)
from musicsteer.steering.vector import SteeringVector
from tests.probing.planted import (
    CLASS_NAMES,
    task_table,
)


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
        assert vector.accuracy == pytest.approx(rows.sort_values("layer")["accuracy"].tolist())
    loaded = SteeringVector.load(vectors[0].save(tmp_path / "v.npz"))
    assert loaded.positive == "flute"
    pair = task_table(labels, "multiclass").query("label != 'xylophone'").assign(kind="pairwise")
    keep = pair.index.to_numpy()
    (vector,) = build_task_vectors(
        {"resid": X[keep]}, pair.reset_index(drop=True), "dim", "resid", 0, "pair", "m"
    )
    assert (vector.positive, vector.negative) == ("violin", "flute")
    assert np.isnan(vector.accuracy).all()
