"""Steering vectors from probe fits: one unit direction per layer, with its norm scale."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from musicsteer.probing.checks import _check_activations
from musicsteer.probing.probes import (
    _problem_rows,
    _site_activations,
    _task_problems,
    fit_directions,
)
from musicsteer.probing.selection import _filter_rows
from musicsteer.probing.solvers import DEFAULT_L2
from musicsteer.steering.vector import SteeringVector


def _accuracy_curve(
    probes: pd.DataFrame | None, site: str, method: str, positive: str
) -> np.ndarray | None:
    """Per-index accuracy of one probe from a :func:`probe_task` table (None if absent)."""
    if probes is None:
        return None
    rows = _filter_rows(probes, site=site, method=method, positive=positive)
    return None if rows.empty else rows.sort_values("layer")["accuracy"].to_numpy()


def build_task_vectors(
    X_by_site: Mapping[str, np.ndarray],
    task: pd.DataFrame,
    method: str,
    site: str,
    layer: int | Mapping[str, int],
    task_name: str,
    model: str,
    probes: pd.DataFrame | None = None,
    seed: int = 0,
    l2: float = DEFAULT_L2,
    scaling: str = "global",
    token_norms: np.ndarray | None = None,
) -> list[SteeringVector]:
    """One :class:`SteeringVector` per positive class of a task.

    Each is fitted on the same clips as its probe in :func:`probe_task` (same seed);
    ``negative`` is the other class of a pairwise task and ``"rest"`` otherwise.

    Args:
        layer: the steering index, or one per positive class.
        probes: a :func:`probe_task` table to fill each vector's ``accuracy`` from.
        token_norms: ``[N, n_indices]`` mean token norms of the site, row ``i`` for
            task row ``i`` (see :func:`build_vector`).
    """
    if site not in X_by_site:
        raise ValueError(f"no activations for site {site!r}; have {sorted(X_by_site)}")
    X = _site_activations({site: X_by_site[site]}, task)[site]
    problems, _ = _task_problems(task, seed)
    vectors = []
    for p in problems:
        chosen = layer[p.positive] if isinstance(layer, Mapping) else layer
        vectors.append(
            build_vector(
                _problem_rows(X, p),
                p.labels,
                method,
                site,
                int(chosen),
                task=task_name,
                positive=p.positive,
                negative=p.negative,
                model=model,
                accuracy=_accuracy_curve(probes, site, method, p.positive),
                l2=l2,
                scaling=scaling,
                token_norms=None if token_norms is None else _problem_rows(token_norms, p),
            )
        )
    return vectors


def mean_projection(X: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """Mean over clips of ``x · v`` at each layer index.

    Args:
        X: ``[N, n_indices, d]`` activations.
        directions: ``[n_indices, d]`` directions.

    Returns:
        ``[n_indices]`` float64 (the mean of the projections = projection of the mean).
    """
    X = _check_activations(X)
    directions = np.asarray(directions)
    if directions.shape != X.shape[1:]:
        raise ValueError(f"directions {directions.shape} do not match X {X.shape[1:]}")
    mean = X.mean(axis=0, dtype=np.float64)  # float64: float16 sums would overflow
    return np.einsum("ld,ld->l", mean, directions.astype(np.float64))


def build_vector(
    X: np.ndarray,
    y: Sequence | np.ndarray,
    method: str,
    site: str,
    layer: int,
    task: str,
    positive: str,
    negative: str,
    model: str,
    accuracy: Sequence[float] | np.ndarray | None = None,
    l2: float = DEFAULT_L2,
    scaling: str = "global",
    token_norms: np.ndarray | None = None,
) -> SteeringVector:
    """Fit directions on ``X``/``y`` and wrap them as a :class:`SteeringVector`.

    ``mean_norm`` (the unit of α) is the mean of ``token_norms`` ``[N, n_indices]``
    (each clip's mean per-position norm, :func:`musicsteer.activations.load_token_norms`)
    when given, else the mean norm of the rows of ``X``; the two agree for last-token
    activations, while a mean over time has a smaller norm than its positions.
    """
    directions = fit_directions(X, y, method, l2=l2, scaling=scaling)
    n_indices = directions.shape[0]
    acc = [float("nan")] * n_indices if accuracy is None else [float(a) for a in accuracy]
    if len(acc) != n_indices:
        raise ValueError(f"accuracy has {len(acc)} entries, expected {n_indices}")
    return SteeringVector(
        directions=directions,
        layer=layer,
        site=site,
        method=method,
        task=task,
        positive=positive,
        negative=negative,
        model=model,
        mean_projection=mean_projection(X, directions).tolist(),
        mean_norm=_mean_norms(X, token_norms),
        accuracy=acc,
    )


def _mean_norms(X: np.ndarray, token_norms: np.ndarray | None) -> list[float]:
    """Mean ‖x‖ per index, the unit of α: of the tokens if given, else of the rows of X."""
    if token_norms is not None:
        token_norms = np.asarray(token_norms, dtype=np.float64)
        if token_norms.shape != X.shape[:2]:
            raise ValueError(f"token_norms {token_norms.shape} do not match X {X.shape[:2]}")
        return token_norms.mean(0).tolist()
    # float64 layer by layer (float16 squares overflow)
    return [
        float(np.linalg.norm(np.asarray(X)[:, i].astype(np.float64), axis=-1).mean())
        for i in range(X.shape[1])
    ]
