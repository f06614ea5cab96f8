"""Which layer to steer: the selection rules, their evidence and the summary table."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import numpy as np
import pandas as pd

from musicsteer.probing.probes import ALL_CLASSES, nested_accuracy


def _filter_rows(table: pd.DataFrame, **equal: object) -> pd.DataFrame:
    """Rows matching ``column == value`` for each given column that exists."""
    mask = np.ones(len(table), dtype=bool)
    for column, value in equal.items():
        if column in table.columns:
            mask &= (table[column] == value).to_numpy()
    return table[mask]


def _best_index(table: pd.DataFrame, score: str) -> int:
    """Index with the highest ``score`` (ties → earliest index; NaNs ignored)."""
    if score not in table.columns:
        raise ValueError(f"table has no {score!r} column (columns: {list(table.columns)})")
    scored = table.dropna(subset=[score]).sort_values("layer", kind="stable")
    if scored.empty:
        raise ValueError(f"no rows with a {score!r} value to select a layer from")
    return int(scored.loc[scored[score].idxmax(), "layer"])  # type: ignore[call-overload,index]


def select_layer(
    table: pd.DataFrame,
    rule: str = "accuracy",
    site: str = "resid",
    method: str = "mse",
    fixed: int | None = None,
    max_index: int | None = None,
) -> int:
    """Choose the layer index to steer at.

    Args:
        table: per-index scores with an ``index`` column; ``site``/``method``
            columns are filtered on when present.
        rule: ``"accuracy"`` (best ``accuracy`` of ``site``/``method``), ``"ari"``
            (best ``ari`` of ``site``) or ``"fixed"`` (return ``fixed``).
        site: site to select for.
        method: probe method (``"accuracy"`` rule only).
        fixed: the index for ``rule="fixed"``.
        max_index: indices above it are not eligible (the resid index
            ``n_layers`` is the final output, which a pre-hook cannot steer).

    Returns:
        The chosen index; ties go to the earliest index.
    """
    if rule == "fixed":
        if fixed is None:
            raise ValueError('rule="fixed" needs a `fixed` layer index')
        if fixed < 0 or (max_index is not None and fixed > max_index):
            raise ValueError(f"fixed index {fixed} outside 0..{max_index}")
        return int(fixed)
    if rule not in ("accuracy", "ari"):
        raise ValueError(f'rule must be "accuracy", "ari" or "fixed", got {rule!r}')
    if "layer" not in table.columns:
        raise ValueError(f"table has no 'layer' column (columns: {list(table.columns)})")
    rows = _filter_rows(table, site=site, method=method) if rule == "accuracy" else table
    rows = _filter_rows(rows, site=site)
    if max_index is not None:
        rows = rows[rows["layer"] <= max_index]
    return _best_index(rows, rule)


_SIZE_COLUMNS = ("n_positive", "n_negative", "folds", "grouped")


def _probe_groups(table: pd.DataFrame) -> list[str]:
    """Columns that identify one probe's accuracy curve in a probe table."""
    return [c for c in ("task", "site", "method", "positive") if c in table.columns]


def _groups(frame: pd.DataFrame, keys: list[str]) -> Iterator[tuple[dict, pd.DataFrame]]:
    """``({column: value}, rows)`` per group of ``keys`` (one group of everything if none)."""
    if not keys:
        yield {}, frame
        return
    for key, group in frame.groupby(keys, sort=False):
        yield dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True)), group


def summary_table(probes: pd.DataFrame, clustering: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per probe (``site, method, positive``; ``task`` too if present): where it peaks.

    Columns: the group columns, ``best_index``, ``max_accuracy`` (the maximum over
    layer indices, ties → earliest: optimistic, as it is picked on the clips it is read
    on), ``nested_accuracy`` (:func:`nested_accuracy`: the layer picked on half of the
    folds, read on the other), ``mean_accuracy`` over indices, ``n_indices``, and the
    class sizes, folds and grouping of the probe; with ``clustering`` (``index, ari``
    and optionally ``site``/``task``), also ``ari_index`` and ``best_ari``: the index
    where KMeans best recovers the classes.
    """
    rows = []
    for names, group in _groups(probes, _probe_groups(probes)):
        best = _best_index(group, "accuracy")
        rows.append(
            {
                **names,
                "best_index": best,
                "max_accuracy": _accuracy_at(group, best),
                "nested_accuracy": nested_accuracy(group),
                "mean_accuracy": float(group["accuracy"].mean()),
                "n_indices": int(group["layer"].nunique()),
                **{c: group[c].iloc[0] for c in _SIZE_COLUMNS if c in group.columns},
            }
        )
    summary = pd.DataFrame(rows)
    if clustering is None:
        return summary
    keys = [c for c in ("task", "site") if c in clustering.columns and c in summary.columns]
    best_ari = pd.DataFrame(_best_ari(names, g) for names, g in _groups(clustering, keys))
    if not keys:
        return summary.assign(**cast(dict[str, Any], best_ari.iloc[0].to_dict()))
    return summary.merge(best_ari, on=keys, how="left")


def _best_ari(names: dict, rows: pd.DataFrame) -> dict:
    """``names`` plus the index with the highest ARI and that ARI."""
    index = _best_index(rows, "ari")
    return {**names, "ari_index": index, "best_ari": _score_at(rows, "ari", index)}


def _score_at(rows: pd.DataFrame, score: str, index: int) -> float:
    """``score`` at one layer index (NaN if not measured there)."""
    hit = rows.loc[rows["layer"] == index, score]
    return float(hit.iloc[0]) if len(hit) else float("nan")


def _accuracy_at(rows: pd.DataFrame, index: int) -> float:
    """Accuracy at one layer index (NaN if not measured there)."""
    return _score_at(rows, "accuracy", index)


def _evidence(rule: str, rows: pd.DataFrame, layer: int, method: str, ari: pd.DataFrame) -> str:
    """Why ``rule`` chose ``layer`` for one probe: its score, the runner-up, the mean."""
    if rule == "ari":
        return f"highest KMeans ARI {_score_at(ari, 'ari', layer):.3f} at layer {layer} of {len(ari)} eligible"
    scored = rows.dropna(subset=["accuracy"]).sort_values(
        "accuracy", ascending=False, kind="stable"
    )
    best = int(scored["layer"].iloc[0])
    if rule == "fixed":
        return f"fixed layer from the config; best accuracy {_accuracy_at(rows, best):.3f} is at layer {best}"
    others = scored[scored["layer"] != layer]
    runner_up = (
        f"; next best {others['accuracy'].iloc[0]:.3f} at layer {int(others['layer'].iloc[0])}"
        if len(others)
        else ""
    )
    return (
        f"highest held-out {method} accuracy (max over layers) {_accuracy_at(rows, layer):.3f}"
        f" at layer {layer} of {len(scored)} eligible{runner_up}; mean"
        f" {scored['accuracy'].mean():.3f}"
    )


def layer_selection(
    table: pd.DataFrame,
    rule: str = "accuracy",
    site: str = "resid",
    method: str = "mse",
    fixed: int | None = None,
    max_index: int | None = None,
    clustering: pd.DataFrame | None = None,
    min_class_clips: int = 0,
    task: str = "",
) -> pd.DataFrame:
    """The steering layer of every positive class of a probe table, with the evidence.

    Applies :func:`select_layer` per positive class (the ``"__all__"`` rows have no
    direction to steer with and are skipped). ``rule="ari"`` uses ``clustering``
    (``index, ari``; filtered on ``site`` if it has that column), the same layer for
    every class. Refuses (naming ``task``, the class and its count) when a probe's
    smaller class has fewer than ``min_class_clips`` clips: with few clips the best of
    many layers is high on noise alone.

    Returns:
        DataFrame with columns ``site, method, positive, layer, accuracy,
        nested_accuracy, rule, evidence`` (plus ``task`` first if the table has it):
        ``accuracy`` is the probe's held-out accuracy at the chosen layer (for the
        ``accuracy`` rule, the maximum over layers); ``nested_accuracy`` the
        selection-free estimate of :func:`nested_accuracy` among eligible layers.
    """
    if rule == "ari" and clustering is None:
        raise ValueError('rule="ari" needs the clustering table')
    rows = _filter_rows(table, site=site, method=method)
    if "positive" in rows.columns:
        rows = rows[rows["positive"] != ALL_CLASSES]
    if max_index is not None:
        rows = rows[rows["layer"] <= max_index]
    if rows.empty:
        raise ValueError(f"no probe rows for site {site!r} and method {method!r}")
    _check_class_sizes(rows, min_class_clips, task)
    ari = pd.DataFrame() if clustering is None else _filter_rows(clustering, site=site)
    if max_index is not None and not ari.empty:
        ari = ari[ari["layer"] <= max_index]
    keys = [c for c in ("task", "positive") if c in rows.columns]
    out = []
    for names, group in _groups(rows, keys):
        layer = select_layer(ari if rule == "ari" else group, rule, site, method, fixed, max_index)
        out.append(
            {
                **names,
                "site": site,
                "method": method,
                "positive": names.get("positive", ""),
                "layer": layer,
                "accuracy": _accuracy_at(group, layer),
                "nested_accuracy": (
                    nested_accuracy(group) if rule == "accuracy" else _accuracy_at(group, layer)
                ),
                "rule": rule,
                "evidence": _evidence(rule, group, layer, method, ari),
            }
        )
    columns = [
        "site",
        "method",
        "positive",
        "layer",
        "accuracy",
        "nested_accuracy",
        "rule",
        "evidence",
    ]
    return pd.DataFrame(out, columns=(["task"] if "task" in keys else []) + columns)


def _check_class_sizes(table: pd.DataFrame, minimum: int, task: str) -> None:
    """Raise unless every probe's classes have at least ``minimum`` clips each."""
    if minimum <= 0 or "n_positive" not in table.columns:
        return
    keys = [c for c in ("positive",) if c in table.columns]
    for names, group in _groups(table.drop_duplicates([*keys, "n_positive", "n_negative"]), keys):
        n_pos, n_neg = int(group["n_positive"].min()), int(group["n_negative"].min())
        if min(n_pos, n_neg) < minimum:
            label = names.get("positive", "the positive class")
            raise ValueError(
                f"task {task or '?'}: class {label!r} has {n_pos} clips against {n_neg}, fewer "
                f"than probing.min_class_clips = {minimum}; a best-of-layers accuracy on so few "
                "clips is high on noise alone. Add clips (e.g. more roots, qualities or "
                "tracks) or lower probing.min_class_clips"
            )
