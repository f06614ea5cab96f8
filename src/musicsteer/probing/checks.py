"""Input checks shared by the probing modules (one clear error per bad input)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence, Sized

import numpy as np

from musicsteer.probing.linalg import SCALINGS
from musicsteer.probing.solvers import METHODS, check_method


def _check_activations(X: np.ndarray) -> np.ndarray:
    """Return ``X`` as an array, raising unless it is ``[N, n_indices, d]``."""
    X = np.asarray(X)
    if X.ndim != 3:
        raise ValueError(f"X must be 3-D [N clips, n_indices, d], got shape {X.shape}")
    return X


def _check_lengths(n_rows: int, labels: Sized, what: str = "labels") -> None:
    """Raise if the number of labels differs from the number of clips."""
    if len(labels) != n_rows:
        raise ValueError(f"{what} has {len(labels)} entries but X has {n_rows} clips")


def _check_multiclass(labels: Sequence | np.ndarray) -> np.ndarray:
    """Return the distinct labels, raising unless there are at least two."""
    classes = np.unique(np.asarray(labels))
    if len(classes) < 2:
        raise ValueError(f"need at least 2 distinct labels, got {len(classes)}")
    return classes


def _check_class_counts(labels: np.ndarray, n_classes: int) -> None:
    """Raise unless each of ``n_classes`` classes has at least 2 samples."""
    counts = np.bincount(labels, minlength=n_classes)
    if len(counts) != n_classes or counts.min() < 2:
        raise ValueError(f"each class needs at least 2 samples, got counts {counts.tolist()}")


def _check_binary(X: np.ndarray, y: Sequence | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``X``/``y`` for a binary probe; return ``X`` and ``y`` as 0/1 int64.

    Activations are checked for NaN when they are converted for the probes.
    """
    X = _check_activations(X)
    _check_lengths(X.shape[0], y, "y")
    y = np.asarray(y)
    values = np.unique(y)
    if len(values) < 2:
        raise ValueError(f"need at least 2 classes in y, got {values.tolist()}")
    if not np.isin(values, [0, 1]).all():
        raise ValueError(f"y must be binary 0/1 (or bool), got values {values.tolist()}")
    y = y.astype(np.int64)
    _check_class_counts(y, 2)
    return X, y


def _check_methods(methods: Iterable[str]) -> list[str]:
    """Validated list of methods (at least one)."""
    methods = list(methods)
    if not methods:
        raise ValueError(f"need at least one probe method out of {tuple(METHODS)}")
    for method in methods:
        check_method(method)
    return methods


def _check_l2(l2: float) -> None:
    """Raise unless the regularisation strength is positive."""
    if l2 <= 0:
        raise ValueError(f"l2 must be > 0, got {l2}")


def _check_scaling(scaling: str) -> None:
    """Raise unless ``scaling`` is one of :data:`SCALINGS`."""
    if scaling not in SCALINGS:
        raise ValueError(f"scaling must be one of {SCALINGS}, got {scaling!r}")
