from __future__ import annotations

import pytest

from musicsteer.probing.probes import (
    probe_table,
    probe_task,
)
from tests.probing.planted import (
    planted_classes,
    planted_data,
    task_table,
)


@pytest.fixture(scope="module")
def planted():
    return planted_data()


@pytest.fixture(scope="module")
def planted_table(planted):
    X, y, _ = planted
    return probe_table({"resid": X}, y)


@pytest.fixture(scope="module")
def classes_data():
    return planted_classes()


@pytest.fixture(scope="module")
def multiclass_probes(classes_data):
    X, labels, _ = classes_data
    return probe_task({"resid": X}, task_table(labels, "multiclass"))
