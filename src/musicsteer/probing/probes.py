"""Probes per layer with held-out accuracy: binary probes, task probes, directions.

:func:`probe_task` runs the probes of a task table (:mod:`musicsteer.tasks`): one
binary probe for binary kinds (a genre pair is a pairwise task), one balanced
one-vs-rest probe per class plus an all-class argmax accuracy for multi-class kinds.
*Held out* means held out: with a ``group`` per clip (the track of a 10-s clip, the
item a SynTheory clip was rendered from), folds are group-disjoint. The maximum
accuracy over layers is optimistic (it is chosen on the clips it is read on); the
probe tables also keep each half of the folds' accuracy so :func:`nested_accuracy`
can choose the layer on one half and read it on the other. Every method comes from
:data:`musicsteer.probing.solvers.METHODS`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from musicsteer.probing.checks import (
    _check_activations,
    _check_binary,
    _check_class_counts,
    _check_l2,
    _check_lengths,
    _check_methods,
    _check_scaling,
)
from musicsteer.probing.solvers import (
    DEFAULT_L2,
    METHODS,
    _centred_layer_major,
    _correct_predictions,
    _fit_rules,
    _orient_towards_positive,
    _timed,
    _unit_rows,
    check_method,
)
from musicsteer.tasks import _balanced_draw


def fit_directions(
    X: np.ndarray,
    y: Sequence | np.ndarray,
    method: str,
    l2: float = DEFAULT_L2,
    scaling: str = "global",
) -> np.ndarray:
    """Fit one binary probe per layer index and return its unit direction.

    Args:
        X: ``[N, n_indices, d]`` activations.
        y: ``N`` binary labels (0/1 or bool); 1 is the positive class.
        method: ``"dim"``, ``"mse"`` or ``"bce"`` (see module docstring).
        l2: regularisation strength for ``"mse"`` and ``"bce"`` (must be > 0).
        scaling: ``"global"`` (one scale for all features: an isotropic penalty) or
            ``"feature"`` (z-scores; see :func:`_scale`).

    Returns:
        ``[n_indices, d]`` float32, unit-norm rows in the raw activation space,
        signed so that moving along a row goes towards class ``y == 1``.
    """
    check_method(method)
    _check_l2(l2)
    _check_scaling(scaling)
    X, y_np = _check_binary(X, y)
    Xl = _centred_layer_major(X)
    everything = np.full(len(y_np), -1)  # one "fold" that trains on every clip
    labels = torch.from_numpy(y_np)
    rules = _fit_rules(Xl, labels, 2, everything, 1, [method], l2, scaling)[method]
    w_raw = rules.weight[0, :, :, 0].numpy()  # hyperplane normal in raw coordinates
    return _orient_towards_positive(_unit_rows(w_raw), X, y_np)


@dataclass(frozen=True)
class CVOptions:
    """How held-out accuracy is measured.

    Attributes:
        folds: requested folds, capped at what the smallest class allows.
        seed: fold shuffling (and, for tasks, negative sampling) seed.
        l2: regularisation strength of ``"mse"`` and ``"bce"``.
        scaling: feature scaling before the L2 fits (:data:`SCALINGS`).
    """

    folds: int = 5
    seed: int = 0
    l2: float = DEFAULT_L2
    scaling: str = "global"

    def __post_init__(self) -> None:
        _check_l2(self.l2)
        _check_scaling(self.scaling)
        if self.folds < 2:
            raise ValueError(f"folds must be >= 2, got {self.folds}")


def assign_folds(
    labels: np.ndarray,
    folds: int,
    seed: int,
    groups: Sequence | np.ndarray | None = None,
    what: str = "probe",
) -> np.ndarray:
    """Each clip's test fold: stratified, and group-disjoint when ``groups`` are given.

    With ``groups`` (e.g. the track of each 10-s clip, or the chord a clip was
    rendered from), every group's clips share one test fold, so no sibling of a test
    clip is ever trained on (:class:`~sklearn.model_selection.StratifiedGroupKFold`).
    The number of folds is capped at the smallest class's clip count (no groups) or
    number of groups it appears in, and must reach 2; every fold must train on every
    class. ``what`` names the problem in errors.
    """
    labels = np.asarray(labels)
    classes = sorted(set(labels.tolist()))  # plain Python values for the messages
    if groups is None:
        capacity = {c: int((labels == c).sum()) for c in classes}
        unit = "clips"
    else:
        groups = np.asarray(groups).astype(str)
        _check_lengths(len(labels), groups, "groups")
        capacity = {c: len(np.unique(groups[labels == c])) for c in classes}
        unit = "groups"
    smallest = min(capacity, key=capacity.__getitem__)
    n_splits = min(folds, capacity[smallest])
    if n_splits < 2:
        raise ValueError(
            f"{what}: class {smallest!r} has {capacity[smallest]} {unit}; held-out accuracy "
            f"needs at least 2 (counts: {capacity})"
        )
    if groups is None:
        splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        splits = splitter.split(np.zeros(len(labels)), labels)
    else:
        splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        splits = splitter.split(np.zeros(len(labels)), labels, groups)
    fold_of = np.empty(len(labels), dtype=np.int64)
    for f, (_, test) in enumerate(splits):
        fold_of[test] = f
    _check_folds_train_every_class(labels, fold_of, n_splits, what)
    return fold_of


def _check_folds_train_every_class(
    labels: np.ndarray, fold_of: np.ndarray, n_splits: int, what: str
) -> None:
    """Raise if some fold would train without one of the classes."""
    for f in range(n_splits):
        missing = sorted(set(labels.tolist()) - set(labels[fold_of != f].tolist()))
        if missing:
            raise ValueError(
                f"{what}: fold {f} of {n_splits} has no training clip of class(es) {missing}; "
                "add clips or groups, or lower probing.folds"
            )


@dataclass(frozen=True)
class _Heldout:
    """Per-clip held-out correctness of one probe: ``correct [L, n]``, ``fold_of [n]``."""

    correct: np.ndarray
    fold_of: np.ndarray
    n_splits: int
    grouped: bool


def _cross_validated(
    X: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    methods: Sequence[str],
    options: CVOptions,
    rows: np.ndarray | None = None,
    groups: Sequence | np.ndarray | None = None,
    what: str = "probe",
    timings: dict[str, float] | None = None,
) -> dict[str, _Heldout]:
    """Held-out correctness per clip and layer index for methods sharing the same folds.

    ``labels`` are class indices ``0..n_classes-1`` of ``X[rows]`` (all clips when
    ``rows`` is None), ``groups`` their groups (see :func:`assign_folds`). Every clip
    is predicted exactly once, by the fold that held it out.
    """
    fold_of = assign_folds(labels, options.folds, options.seed, groups, what)
    n_splits = int(fold_of.max()) + 1
    with _timed(timings, "prepare"):
        Xl = _centred_layer_major(X, rows)
    labels_t = torch.from_numpy(labels)
    rules = _fit_rules(
        Xl, labels_t, n_classes, fold_of, n_splits, methods, options.l2, options.scaling, timings
    )
    with _timed(timings, "score"):
        return {
            m: _Heldout(
                _correct_predictions(Xl, rules[m], labels_t, fold_of),
                fold_of,
                n_splits,
                groups is not None,
            )
            for m in methods
        }


def probe_accuracy(
    X: np.ndarray,
    y: Sequence | np.ndarray,
    method: str,
    folds: int = 5,
    seed: int = 0,
    l2: float = DEFAULT_L2,
    groups: Sequence | None = None,
    scaling: str = "global",
) -> np.ndarray:
    """Stratified (group) k-fold held-out accuracy of a binary probe at every layer index.

    Predictions: ``"dim"`` thresholds the projection at the midpoint of the two
    class-mean projections, ``"mse"`` takes the sign of the regression output and
    ``"bce"`` predicts ``p > 0.5``. ``folds`` is capped at the smaller class count
    (or group count, with ``groups``).

    Returns:
        ``[n_indices]`` accuracies pooled over folds.
    """
    check_method(method)
    options = CVOptions(folds, seed, l2, scaling)
    X, y_np = _check_binary(X, y)
    held = _cross_validated(X, y_np, 2, [method], options, groups=groups)[method]
    return held.correct.mean(1)


def probe_table(
    X_by_site: dict[str, np.ndarray],
    y: Sequence,
    methods: Iterable[str] = ("dim", "bce", "mse"),
    folds: int = 5,
    seed: int = 0,
    l2: float = DEFAULT_L2,
    timings: dict[str, float] | None = None,
    groups: Sequence | None = None,
    scaling: str = "global",
) -> pd.DataFrame:
    """Held-out binary probe accuracy for every site, layer index and method.

    All methods and folds share each site's data preparation, Gram matrices and
    their factors. ``timings``, if given, accumulates seconds per stage
    (``prepare``, ``dim``, ``mse``, ``bce``, ``score``).

    Returns:
        Long DataFrame with columns ``site, index, method`` and :data:`CV_COLUMNS`.
    """
    methods = _check_methods(methods)
    options = CVOptions(folds, seed, l2, scaling)
    if not X_by_site:
        raise ValueError("X_by_site is empty: need activations for at least one site")
    frames = []
    for site, X in X_by_site.items():
        X, y_np = _check_binary(X, y)
        held = _cross_validated(X, y_np, 2, methods, options, groups=groups, timings=timings)
        counts = _class_counts(y_np, 2)
        frames += [_long_rows(site, m, None, held[m], counts) for m in methods]
    return pd.concat(frames, ignore_index=True)[["site", "layer", "method", *CV_COLUMNS]]


# Columns of a probe table beside ``site, index, method(, positive)``. ``accuracy_h0``
# / ``accuracy_h1``: held-out accuracy on the clips of even / odd test folds, whose
# groups are disjoint: choosing a layer on one half and reading the other gives the
# nested (selection-free) accuracy of :func:`nested_accuracy`.
CV_COLUMNS = [
    "accuracy",
    "accuracy_h0",
    "accuracy_h1",
    "n_h0",
    "n_h1",
    "n_positive",
    "n_negative",
    "folds",
    "grouped",
]


def _class_counts(labels: np.ndarray, n_classes: int) -> tuple[int, int]:
    """``(n_positive, n_negative)`` of a binary problem; (smallest, largest) otherwise."""
    counts = np.bincount(labels, minlength=n_classes)
    if n_classes == 2:
        return int(counts[1]), int(counts[0])
    return int(counts.min()), int(counts.max())


def _long_rows(
    site: str, method: str, positive: str | None, held: _Heldout, counts: tuple[int, int]
) -> pd.DataFrame:
    """One site/method/positive's held-out accuracies as long-table rows."""
    half = held.fold_of % 2
    frame: dict[str, object] = {
        "site": site,
        "layer": np.arange(held.correct.shape[0]),
        "method": method,
    }
    if positive is not None:
        frame["positive"] = positive
    return pd.DataFrame(
        {
            **frame,
            "accuracy": held.correct.mean(1),
            "accuracy_h0": held.correct[:, half == 0].mean(1),
            "accuracy_h1": held.correct[:, half == 1].mean(1),
            "n_h0": int((half == 0).sum()),
            "n_h1": int((half == 1).sum()),
            "n_positive": counts[0],
            "n_negative": counts[1],
            "folds": held.n_splits,
            "grouped": held.grouped,
        }
    )


def nested_accuracy(curve: pd.DataFrame) -> float:
    """Held-out accuracy at a layer chosen without looking at the clips it is read on.

    The layer is chosen (highest accuracy, ties → earliest) on the clips of one half of
    the test folds and read on the other half, both ways round, weighted by clips.
    Unlike the maximum over layers, this is not inflated by picking among noisy
    per-layer accuracies. ``curve``: one probe's rows of a probe table.
    """
    rows = curve.dropna(subset=["accuracy_h0", "accuracy_h1"]).sort_values("layer", kind="stable")
    if rows.empty:
        return float("nan")
    pick0 = rows["accuracy_h0"].to_numpy().argmax()
    pick1 = rows["accuracy_h1"].to_numpy().argmax()
    n0, n1 = int(rows["n_h0"].iloc[0]), int(rows["n_h1"].iloc[0])
    read1 = rows["accuracy_h1"].to_numpy()[pick0]
    read0 = rows["accuracy_h0"].to_numpy()[pick1]
    return float((read1 * n1 + read0 * n0) / (n0 + n1))


ALL_CLASSES = "__all__"


PROBE_COLUMNS = ["site", "layer", "method", "positive", *CV_COLUMNS]


_BINARY_KINDS = ("one_vs_rest", "pairwise")


_MULTI_KINDS = ("multiclass", "multilabel")


@dataclass(frozen=True)
class _Problem:
    """One probing problem of a task: clips ``rows`` with class indices ``labels``."""

    positive: str
    negative: str
    rows: np.ndarray | None  # None: every clip of the task, in order
    labels: np.ndarray
    n_classes: int = 2
    groups: np.ndarray | None = None  # leakage groups of these clips (None: ungrouped)


def _task_kind(task: pd.DataFrame) -> str:
    """The single ``kind`` of a task table, validated."""
    missing = [c for c in ("kind", "label", "y") if c not in task.columns]
    if missing:
        raise ValueError(f"task table lacks column(s) {missing}; has {list(task.columns)}")
    kinds = task["kind"].astype(str).unique()
    if len(kinds) != 1:
        raise ValueError(f"a task table has one kind, got {sorted(kinds)}")
    if kinds[0] not in _BINARY_KINDS + _MULTI_KINDS:
        raise ValueError(
            f"unknown task kind {kinds[0]!r}; expected one of {_BINARY_KINDS + _MULTI_KINDS}"
        )
    return str(kinds[0])


def _only_label(task: pd.DataFrame, y: int) -> str:
    """The one label of the clips with ``y == y`` (raising if there are several)."""
    labels = task.loc[task["y"] == y, "label"].astype(str).unique()
    if len(labels) != 1:
        raise ValueError(f"clips with y={y} should share one label, got {sorted(labels)}")
    return str(labels[0])


def _binary_problem(task: pd.DataFrame, kind: str) -> _Problem:
    """The task itself: the ``y == 1`` class against the ``y == 0`` class (or the rest)."""
    y = task["y"].to_numpy().astype(np.int64)
    if not np.isin(y, [0, 1]).all():
        raise ValueError(f"a {kind} task needs y in {{0, 1}}, got {sorted(set(y.tolist()))}")
    negative = _only_label(task, 0) if kind == "pairwise" else "rest"
    return _Problem(_only_label(task, 1), negative, None, y, groups=_task_groups(task))


def _task_groups(task: pd.DataFrame) -> np.ndarray | None:
    """The task's ``group`` column (clips that must share a test fold), if it has one."""
    return task["group"].astype(str).to_numpy() if "group" in task.columns else None


def _class_membership(task: pd.DataFrame, kind: str) -> tuple[list[str], np.ndarray]:
    """Class names and ``[N, K]`` bool membership (``is_<class>`` columns for multilabel)."""
    if kind == "multilabel":
        columns = [c for c in task.columns if str(c).startswith("is_")]
        if len(columns) < 2:
            raise ValueError(f"a multilabel task needs >= 2 is_<class> columns, got {columns}")
        return [str(c)[3:] for c in columns], task[columns].to_numpy().astype(bool)
    values = np.sort(task["y"].unique())
    classes = [_only_label(task, int(v)) for v in values]
    return classes, task["y"].to_numpy()[:, None] == values[None, :]


def _class_problems(task: pd.DataFrame, kind: str, seed: int) -> list[_Problem]:
    """One balanced one-vs-rest problem per class of a multiclass/multilabel task.

    Positives are the clips of the class; negatives the same number of the other
    clips, drawn as evenly over their labels as sizes allow (as
    :func:`balance_binary` does).
    """
    classes, member = _class_membership(task, kind)
    labels = task["label"].astype(str).to_numpy()
    groups = _task_groups(task)
    problems = []
    for k, cls in enumerate(classes):
        others = ~member[:, k]
        pools = {
            lab: np.flatnonzero(others & (labels == lab)) for lab in sorted(set(labels[others]))
        }
        rows, y = _balanced_draw(np.flatnonzero(member[:, k]), pools, seed)
        problems.append(
            _Problem(cls, "rest", rows, y, groups=None if groups is None else groups[rows])
        )
    return problems


def _overall_problem(task: pd.DataFrame, kind: str) -> _Problem | None:
    """All classes at once (argmax over per-class scores); None unless one class per clip."""
    classes, member = _class_membership(task, kind)
    if not (member.sum(1) == 1).all():
        return None  # a genuinely multi-label clip has no single class to predict
    labels = member.argmax(1).astype(np.int64)
    return _Problem(ALL_CLASSES, "", None, labels, len(classes), _task_groups(task))


def _task_problems(task: pd.DataFrame, seed: int) -> tuple[list[_Problem], _Problem | None]:
    """Binary problems with a direction each, and the all-class problem (or None)."""
    kind = _task_kind(task)
    if kind in _BINARY_KINDS:
        return [_binary_problem(task, kind)], None
    return _class_problems(task, kind, seed), _overall_problem(task, kind)


def _site_activations(
    X_by_site: Mapping[str, np.ndarray], task: pd.DataFrame
) -> dict[str, np.ndarray]:
    """Validated activations per site, one row per task clip."""
    if not X_by_site:
        raise ValueError("X_by_site is empty: need activations for at least one site")
    checked = {}
    for site, X in X_by_site.items():
        checked[site] = _check_activations(X)
        _check_lengths(checked[site].shape[0], task, f"task (site {site})")
    return checked


def probe_task(
    X_by_site: Mapping[str, np.ndarray],
    task: pd.DataFrame,
    methods: Iterable[str] = ("dim", "bce", "mse"),
    folds: int = 5,
    seed: int = 0,
    l2: float = DEFAULT_L2,
    scaling: str = "global",
    name: str = "",
) -> pd.DataFrame:
    """Held-out probe accuracy of a task for every site, layer index, method and class.

    * ``one_vs_rest``/``pairwise``: one binary probe; ``positive`` is the ``y == 1`` class.
    * ``multiclass``/``multilabel``: per class, a binary probe of the class against a
      balanced, seeded sample of the other classes (``positive`` = the class), so each
      class gets its own direction and accuracy. When every clip has exactly one
      class, also ``positive = "__all__"``: the accuracy of predicting the class as
      the argmax of per-class scores fitted on the same folds: ``"mse"`` is one ridge
      solve with one-hot targets, ``"dim"`` the nearest class mean (``"bce"`` is
      binary only and has no such row).

    When the task has a ``group`` column (the track of a genre clip, the item a
    SynTheory clip was rendered from), folds are group-disjoint (:func:`assign_folds`).

    Args:
        X_by_site: ``[N, n_indices, d]`` activations per site; row ``i`` is task row ``i``.
        task: a task table (:mod:`musicsteer.tasks`): ``kind``, ``label``, ``y``,
            optionally ``group`` and, for multilabel, ``is_<class>`` columns.
        methods: probe methods.
        folds: stratified folds (capped at the smallest class's clips or groups).
        seed: fold shuffling and negative sampling seed.
        l2: regularisation for ``"mse"`` and ``"bce"``.
        scaling: feature scaling before the L2 fits (:data:`SCALINGS`).
        name: the task's name, for error messages.

    Returns:
        Long DataFrame with columns :data:`PROBE_COLUMNS`.
    """
    methods = _check_methods(methods)
    options = CVOptions(folds, seed, l2, scaling)
    if not name and "task" in task.columns and len(task):
        name = str(task["task"].iloc[0])
    problems, overall = _task_problems(task, seed)
    frames = []
    for site, X in _site_activations(X_by_site, task).items():
        for p in problems + ([overall] if overall is not None else []):
            chosen = (
                methods
                if p.positive != ALL_CLASSES
                else [m for m in methods if not METHODS[m].binary_only]
            )
            if not chosen:
                continue
            _check_class_counts(p.labels, p.n_classes)
            what = f"task {name!r}, class {p.positive!r}"
            held = _cross_validated(
                X, p.labels, p.n_classes, chosen, options, p.rows, p.groups, what
            )
            counts = _class_counts(p.labels, p.n_classes)
            frames += [_long_rows(site, m, p.positive, held[m], counts) for m in chosen]
    return pd.concat(frames, ignore_index=True)[PROBE_COLUMNS]


def _problem_rows(X: np.ndarray, problem: _Problem) -> np.ndarray:
    """The activations of a problem's clips."""
    return X if problem.rows is None else X[problem.rows]


def task_directions(
    X: np.ndarray,
    task: pd.DataFrame,
    method: str,
    seed: int = 0,
    l2: float = DEFAULT_L2,
    scaling: str = "global",
) -> dict[str, np.ndarray]:
    """Unit directions ``[n_indices, d]`` per positive class of a task (see :func:`probe_task`)."""
    problems, _ = _task_problems(task, seed)
    X = _check_activations(X)
    _check_lengths(X.shape[0], task, "task")
    return {
        p.positive: fit_directions(_problem_rows(X, p), p.labels, method, l2, scaling)
        for p in problems
    }
