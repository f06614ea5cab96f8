from __future__ import annotations

import numpy as np
import pandas as pd

from musicsteer.probing.solvers import METHODS as REGISTERED

PLANTED_LAYER = 3


# the fitted methods (random is the control: tests/probing/test_solvers.py)
METHODS = tuple(m for m in REGISTERED if m != "random")


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


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
