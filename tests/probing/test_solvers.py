"""The direction-method registry: every method fits through it, and the config agrees."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from musicsteer.probing.probes import fit_directions, probe_table
from musicsteer.probing.solvers import METHODS
from tests.probing.planted import PLANTED_LAYER, cosine, planted_data

SCHEMA = "workflow/schemas/config.schema.yaml"


def _method_enums() -> list[list[str]]:
    schema = yaml.safe_load(Path(SCHEMA).read_text())["properties"]
    probing, steering = schema["probing"]["properties"], schema["steering"]["properties"]
    return [
        probing["methods"]["items"]["enum"],
        steering["method"]["enum"],
        steering["methods"]["items"]["enum"],
    ]


def test_the_schema_offers_exactly_the_registered_methods():
    for enum in _method_enums():
        assert enum == list(METHODS)


def test_random_directions_are_the_control_that_finds_nothing():
    X, y, planted = planted_data(n=400, d=64)
    table = probe_table({"resid": X}, y, methods=("dim", "random"))
    at = table[table["layer"] == PLANTED_LAYER].set_index("method")["accuracy"]
    assert at["dim"] > 0.85  # the concept is there to be found (Bayes rate ~0.93)
    assert table[table["method"] == "random"]["accuracy"].max() < 0.7  # but not at random
    random = fit_directions(X, y, "random")[PLANTED_LAYER]
    assert abs(cosine(random, planted)) < 0.4  # 64-d: |cos| of a random pair ~ 0.125
    np.testing.assert_array_equal(random, fit_directions(X, y, "random")[PLANTED_LAYER])


@pytest.mark.parametrize("method", list(METHODS))
def test_every_registered_method_points_towards_the_positive_class(method):
    X, y, _ = planted_data(n=200, d=32)
    directions = fit_directions(X, y, method)
    gap = X[y == 1].mean(0) - X[y == 0].mean(0)
    assert np.all(np.einsum("ld,ld->l", gap, directions) >= 0)
    np.testing.assert_allclose(np.linalg.norm(directions, axis=1), 1.0, rtol=1e-5)
