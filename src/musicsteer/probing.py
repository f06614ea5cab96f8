"""Probing activations for concepts: clustering scores, linear probes, layer choice.

Activations for one site are arrays ``X`` of shape ``[N clips, n_indices, d]``
(float16 or float32; see :mod:`musicsteer.vectors` for the layer indexing).

Binary probes are fitted for *all* layer indices at once: the activations are
moved to a layer-major ``[n_indices, N, d]`` float32 torch tensor, standardised
per feature, and each method is solved with batched linear algebra:

* ``"dim"``: difference of class means (in the raw space).
* ``"mse"``: ridge regression on ±1 targets with an intercept, minimising
  ``mean((t - z·w - b)²) + l2·‖w‖²`` over standardised features ``z`` (the same
  as sklearn ``Ridge(alpha=l2 * N)`` on standardised features). Solved in primal
  (``d × d``) or dual (``N × N``) Gram form, whichever is smaller.
* ``"bce"``: logistic regression with an intercept, minimising
  ``mean(log(1 + exp(-s·(z·w + b)))) + l2/2·‖w‖²`` (sklearn
  ``LogisticRegression(C=1 / (l2 * N))`` on standardised features), with one
  L-BFGS run over the weights of all layers together (the objective is a sum of
  independent per-layer terms), preconditioned by the ridge system's Cholesky
  factor so that it converges in tens of steps.

Cross-validation shares each fold's data preparation, Gram matrix and its
factorisation between ``"mse"`` and ``"bce"``.

Weights found on standardised features are mapped back to the raw activation
space (``w_raw = w_z / σ``: the normal of the decision hyperplane) before being
normalised, so directions can be added to the raw activations.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
import torch
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.model_selection import StratifiedKFold

from musicsteer.vectors import METHODS, SteeringVector

# L-BFGS settings for "bce": accuracy saturates long before a tight optimum.
_BCE_MAX_ITER = 100
_BCE_HISTORY = 10
_BCE_TOL_GRAD = 1e-5
_BCE_TOL_CHANGE = 1e-9
# Features whose standard deviation is below this are treated as constant.
_MIN_STD = 1e-6

# ---------------------------------------------------------------------------
# Validation helpers
# ---------------------------------------------------------------------------


def _check_activations(X: np.ndarray) -> np.ndarray:
    """Return ``X`` as an array, raising unless it is ``[N, n_indices, d]``."""
    X = np.asarray(X)
    if X.ndim != 3:
        raise ValueError(f"X must be 3-D [N clips, n_indices, d], got shape {X.shape}")
    return X


def _check_lengths(n_rows: int, labels: Sequence, what: str = "labels") -> None:
    """Raise if the number of labels differs from the number of clips."""
    if len(labels) != n_rows:
        raise ValueError(f"{what} has {len(labels)} entries but X has {n_rows} clips")


def _check_multiclass(labels: Sequence) -> np.ndarray:
    """Return the distinct labels, raising unless there are at least two."""
    classes = np.unique(np.asarray(labels))
    if len(classes) < 2:
        raise ValueError(f"need at least 2 distinct labels, got {len(classes)}")
    return classes


def _check_binary(X: np.ndarray, y: Sequence) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``X``/``y`` for a binary probe; return ``X`` and ``y`` as 0/1 int64."""
    X = _check_activations(X)
    _check_lengths(X.shape[0], y, "y")
    y = np.asarray(y)
    values = np.unique(y)
    if len(values) < 2:
        raise ValueError(f"need at least 2 classes in y, got {values.tolist()}")
    if not np.isin(values, [0, 1]).all():
        raise ValueError(f"y must be binary 0/1 (or bool), got values {values.tolist()}")
    if not np.isfinite(X).all():
        raise ValueError("X contains NaN or infinite activations")
    y = y.astype(np.int64)
    counts = np.bincount(y, minlength=2)
    if counts.min() < 2:
        raise ValueError(f"each class needs at least 2 samples, got counts {counts.tolist()}")
    return X, y


def _check_method(method: str) -> None:
    """Raise unless ``method`` is one of :data:`musicsteer.vectors.METHODS`."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")


# ---------------------------------------------------------------------------
# Clustering
# ---------------------------------------------------------------------------


def _kmeans_labels(X_layer: np.ndarray, k: int, seed: int, n_init: int) -> np.ndarray:
    """Cluster assignments of KMeans with ``k`` clusters on float32 features."""
    km = KMeans(n_clusters=k, random_state=seed, n_init=n_init)
    return km.fit_predict(np.asarray(X_layer, dtype=np.float32))


def clustering_scores(
    X: np.ndarray, labels: Sequence, seed: int = 0, n_init: int = 4
) -> pd.DataFrame:
    """How well unsupervised KMeans recovers ``labels`` at each layer index.

    Args:
        X: ``[N, n_indices, d]`` activations.
        labels: ``N`` class labels (any hashable values).
        seed: KMeans ``random_state``.
        n_init: KMeans restarts.

    Returns:
        DataFrame with columns ``index, ari, nmi`` (one row per layer index).
    """
    X = _check_activations(X)
    _check_lengths(X.shape[0], labels)
    k = len(_check_multiclass(labels))
    labels = np.asarray(labels)
    rows = []
    for index in range(X.shape[1]):
        clusters = _kmeans_labels(X[:, index], k, seed, n_init)
        rows.append(
            {
                "index": index,
                "ari": adjusted_rand_score(labels, clusters),
                "nmi": normalized_mutual_info_score(labels, clusters),
            }
        )
    return pd.DataFrame(rows, columns=["index", "ari", "nmi"])


def _jaccard(label_masks: np.ndarray, cluster_masks: np.ndarray) -> np.ndarray:
    """Pairwise Jaccard ``|A∩B| / |A∪B|`` between rows of two boolean mask arrays."""
    a = label_masks.astype(np.int64)
    b = cluster_masks.astype(np.int64)
    inter = a @ b.T
    union = a.sum(1)[:, None] + b.sum(1)[None, :] - inter
    return np.divide(inter, union, out=np.zeros(inter.shape), where=union > 0)


def jaccard_matrix(
    X_layer: np.ndarray, labels: Sequence, seed: int = 0, n_init: int = 4
) -> pd.DataFrame:
    """Jaccard overlap between true classes and KMeans clusters at one layer.

    KMeans uses ``k`` = number of distinct labels. Columns are reordered by the
    Hungarian assignment maximising total Jaccard, so column ``i`` is the
    cluster matched to row ``i`` and a good clustering has a heavy diagonal.

    Args:
        X_layer: ``[N, d]`` activations of one layer index.
        labels: ``N`` class labels.
        seed: KMeans ``random_state``.
        n_init: KMeans restarts.

    Returns:
        DataFrame indexed by the (sorted) true labels, with columns named
        ``"c<cluster id>"`` in matched order.
    """
    X_layer = np.asarray(X_layer)
    if X_layer.ndim != 2:
        raise ValueError(f"X_layer must be 2-D [N, d], got shape {X_layer.shape}")
    _check_lengths(X_layer.shape[0], labels)
    classes = _check_multiclass(labels)
    labels = np.asarray(labels)
    clusters = _kmeans_labels(X_layer, len(classes), seed, n_init)
    cluster_ids = np.arange(len(classes))
    jac = _jaccard(labels[None, :] == classes[:, None], clusters[None, :] == cluster_ids[:, None])
    _, matched = linear_sum_assignment(jac, maximize=True)
    return pd.DataFrame(
        jac[:, matched],
        index=pd.Index(classes, name="label"),
        columns=[f"c{c}" for c in matched],
    )


# ---------------------------------------------------------------------------
# Batched binary probes (torch, all layer indices at once)
# ---------------------------------------------------------------------------
# Matrix-vector products below are written as (row vector) @ (matrix) or
# (matrix) @ (column vector) with the big operand contiguous: on CPU these are
# several times faster than products with a transposed view of the big operand.


def _layer_major(X: np.ndarray, rows: np.ndarray | None = None) -> torch.Tensor:
    """Copy ``X[rows]`` into a contiguous ``[n_indices, n_rows, d]`` float32 tensor."""
    part = X if rows is None else X[rows]
    src = torch.from_numpy(np.ascontiguousarray(part)).permute(1, 0, 2)
    out = torch.empty(src.shape, dtype=torch.float32)
    out.copy_(src)  # one pass: transpose and upcast together
    return out


def _standardise_(Z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Standardise ``Z`` in place per layer and feature; return ``(mean, std)``."""
    mean = Z.mean(1, keepdim=True)
    Z.sub_(mean)
    # Per-layer squares keep the temporary small (a full Z² would double memory).
    std = torch.stack([z.square().mean(0) for z in Z]).sqrt_().unsqueeze(1)
    std = torch.where(std < _MIN_STD, torch.ones_like(std), std)  # constant features -> 0
    Z.div_(std)
    return mean, std


def _add_diagonal(A: torch.Tensor, value: float) -> torch.Tensor:
    """``A + value·I`` for a batch of square matrices (a new tensor)."""
    out = A.clone()
    out.diagonal(dim1=1, dim2=2).add_(value)
    return out


def _inverse_cholesky(A: torch.Tensor) -> torch.Tensor:
    """``C⁻¹`` (lower triangular) where ``C Cᵀ = A``, for a batch of SPD matrices.

    An explicit inverse turns every later solve into two fast matrix-vector
    products instead of slow, sequential triangular solves.
    """
    factor, info = torch.linalg.cholesky_ex(A)
    if bool((info > 0).any()):
        raise ValueError("probe system is not positive definite; increase l2 or check X")
    eye = torch.eye(A.shape[-1], dtype=A.dtype).expand_as(A)
    return torch.linalg.solve_triangular(factor, eye, upper=False)


def _solve_with_inverse(inv: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
    """``x = C⁻ᵀ C⁻¹ rhs`` for column vectors ``rhs [L, k, 1]``."""
    half = torch.bmm(inv, rhs)
    return torch.bmm(half.transpose(1, 2), inv).transpose(1, 2)


class _Design:
    """Standardised training features ``Z [L, n, d]`` with lazily cached Gram algebra.

    The Gram matrix is ``Zᵀ Z`` (primal, ``d × d``) when ``n >= d`` and ``Z Zᵀ``
    (dual, ``n × n``) otherwise. It and the inverse Cholesky factor of
    ``gram + l2·n·I`` dominate the cost, so ``"mse"`` and ``"bce"`` share them.
    """

    def __init__(self, Z: torch.Tensor, std: torch.Tensor, l2: float) -> None:
        if l2 <= 0:
            raise ValueError(f"l2 must be > 0, got {l2}")
        self.Z, self.std, self.l2 = Z, std, l2
        self.n = Z.shape[1]
        self.primal = self.n >= Z.shape[2]
        self._gram: torch.Tensor | None = None
        self._ridge_inverse: torch.Tensor | None = None

    @property
    def ridge(self) -> float:
        """Diagonal ridge ``l2·n`` matching the mean-loss objectives."""
        return self.l2 * self.n

    def gram(self) -> torch.Tensor:
        """``Zᵀ Z`` (primal) or ``Z Zᵀ`` (dual), computed once."""
        if self._gram is None:
            Zt = self.Z.transpose(1, 2)
            self._gram = torch.bmm(Zt, self.Z) if self.primal else torch.bmm(self.Z, Zt)
        return self._gram

    def ridge_inverse(self) -> torch.Tensor:
        """Inverse Cholesky factor of ``gram + l2·n·I``, computed once."""
        if self._ridge_inverse is None:
            self._ridge_inverse = _inverse_cholesky(_add_diagonal(self.gram(), self.ridge))
        return self._ridge_inverse

    def ridge_solve(self, rhs: torch.Tensor) -> torch.Tensor:
        """Solve ``(gram + l2·n·I) x = rhs`` with one step of iterative refinement.

        The refinement squares the float32 solve's relative error: cheap insurance
        for badly conditioned (highly correlated) activations.
        """
        inv = self.ridge_inverse()
        x = _solve_with_inverse(inv, rhs)
        residual = rhs - torch.bmm(self.gram(), x) - self.ridge * x
        return x + _solve_with_inverse(inv, residual)


def _fit_dim(design: _Design, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Difference of class means, as a linear rule on standardised features.

    The raw-space direction is ``Δ_raw = σ·Δ_z``; scoring ``(x - μ)·Δ_raw`` in
    standardised coordinates needs ``w_z = σ²·Δ_z``. The threshold is the
    midpoint of the two class-mean projections.
    """
    onehot = torch.stack([y == 1, y == 0]).to(torch.float32)
    means = torch.matmul(onehot / onehot.sum(1, keepdim=True), design.Z)  # [L, 2, d]
    mean_pos, mean_neg = means[:, 0], means[:, 1]
    w = (mean_pos - mean_neg) * design.std.squeeze(1) ** 2
    midpoint = 0.5 * ((mean_pos * w).sum(1) + (mean_neg * w).sum(1))
    return w, -midpoint


def _fit_mse(design: _Design, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Ridge regression on ±1 targets (intercept = target mean, since ``Z`` is centred)."""
    Z, n_layers = design.Z, design.Z.shape[0]
    target = 2.0 * y.to(torch.float32) - 1.0
    intercept = target.mean()
    centred = (target - intercept).expand(n_layers, 1, design.n)  # row vectors [L, 1, n]
    if design.primal:  # w = (Zᵀ Z + λI)⁻¹ Zᵀ t
        w = design.ridge_solve(torch.bmm(centred, Z).transpose(1, 2))
    else:  # dual: w = Zᵀ (Z Zᵀ + λI)⁻¹ t, cheaper when clips < features
        alpha = design.ridge_solve(centred.transpose(1, 2).contiguous())
        w = torch.bmm(alpha.transpose(1, 2), Z).transpose(1, 2)
    return w.squeeze(-1), intercept.expand(n_layers).clone()


def _row_space_features(design: _Design) -> torch.Tensor:
    """Features ``Φ [L, n, n]`` (lower triangular) with ``Φ Φᵀ ≈ Z Zᵀ``, for ``n < d``.

    The L2 logistic optimum lies in the row space of ``Z``: writing
    ``w = Zᵀ Φ⁻ᵀ c`` gives ``Z w = Φ c`` and ``‖w‖ = ‖c‖``, so the ``d``-dimensional
    problem becomes an equivalent ``n``-dimensional one.
    """
    K = design.gram().to(torch.float64)
    # Z is centred, so K is singular. The jitter acts like one extra feature of size
    # √ε per clip, changing the logits by a relative ~ε / mean(diag K) = 1e-4.
    jitter = 1e-4 * float(K.diagonal(dim1=1, dim2=2).mean())
    phi, info = torch.linalg.cholesky_ex(_add_diagonal(K, jitter))
    if bool((info > 0).any()):
        raise ValueError("could not factor the clip Gram matrix; check for NaN activations")
    return phi.to(torch.float32)


def _lbfgs_logistic(
    features: torch.Tensor, y: torch.Tensor, l2: float, inv: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Minimise the summed per-layer logistic losses with preconditioned L-BFGS.

    ``inv`` is ``C⁻¹`` for ``C Cᵀ = Fᵀ F + l2·n·I``. Optimising ``v`` with
    ``w = √(4n)·C⁻ᵀ v`` makes the Hessian close to the identity (``Fᵀ F / 4n``
    bounds the data term's Hessian), so L-BFGS needs only a handful of steps.
    Gradients are written out by hand: no autograd graph over the big tensors.
    """
    n_layers, n, k = features.shape
    scale = (4.0 * n) ** 0.5
    sign = 2.0 * y.to(torch.float32) - 1.0
    prior = y.float().mean().clamp(1e-6, 1 - 1e-6)
    v = torch.zeros(n_layers, 1, k)  # row vectors
    bias = torch.full((n_layers,), float(torch.logit(prior)))

    def weights_of(v: torch.Tensor) -> torch.Tensor:
        return scale * torch.bmm(v, inv)  # row form of √(4n)·C⁻ᵀ v

    optimiser = torch.optim.LBFGS(
        [v, bias],
        lr=1.0,
        max_iter=_BCE_MAX_ITER,
        history_size=_BCE_HISTORY,
        tolerance_grad=_BCE_TOL_GRAD,
        tolerance_change=_BCE_TOL_CHANGE,
        line_search_fn="strong_wolfe",
    )

    @torch.no_grad()
    def closure() -> torch.Tensor:
        w = weights_of(v)
        logits = torch.baddbmm(bias[:, None, None], features, w.transpose(1, 2)).squeeze(-1)
        margin = sign * logits
        # Sum over layers of each layer's mean loss: the problems stay independent.
        loss = torch.nn.functional.softplus(-margin).mean(1).sum() + 0.5 * l2 * w.pow(2).sum()
        dloss_dlogit = -sign * torch.sigmoid(-margin) / n  # [L, n]
        grad_w = torch.bmm(dloss_dlogit.unsqueeze(1), features) + l2 * w  # [L, 1, k]
        v.grad = scale * torch.bmm(inv, grad_w.transpose(1, 2)).reshape(v.shape)
        bias.grad = dloss_dlogit.sum(1)
        return loss

    optimiser.step(closure)
    return weights_of(v).squeeze(1), bias


def _fit_bce(design: _Design, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """L2-regularised logistic regression for all layers at once."""
    if design.primal:
        return _lbfgs_logistic(design.Z, y, design.l2, design.ridge_inverse())
    phi = _row_space_features(design)
    inv = _inverse_cholesky(_add_diagonal(torch.bmm(phi.transpose(1, 2), phi), design.ridge))
    c, bias = _lbfgs_logistic(phi, y, design.l2, inv)
    # Back to feature space: w = Zᵀ Φ⁻ᵀ c.
    a = torch.linalg.solve_triangular(phi.transpose(1, 2), c.unsqueeze(-1), upper=True)
    return torch.bmm(a.transpose(1, 2), design.Z).squeeze(1), bias


_FITTERS = {"dim": _fit_dim, "mse": _fit_mse, "bce": _fit_bce}


def _unit_rows(W: np.ndarray) -> np.ndarray:
    """Normalise each row to unit length (all-zero rows stay zero)."""
    norms = np.linalg.norm(W, axis=1, keepdims=True)
    return np.divide(W, norms, out=np.zeros_like(W), where=norms > 0).astype(np.float32)


def _orient_towards_positive(directions: np.ndarray, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Flip rows whose class-mean difference projects negatively (a safety net)."""
    mean_diff = X[y == 1].mean(0, dtype=np.float64) - X[y == 0].mean(0, dtype=np.float64)
    flip = np.einsum("ld,ld->l", mean_diff, directions) < 0
    directions[flip] *= -1
    return directions


def fit_directions(X: np.ndarray, y: Sequence, method: str, l2: float = 1e-2) -> np.ndarray:
    """Fit one binary probe per layer index and return its unit direction.

    Args:
        X: ``[N, n_indices, d]`` activations.
        y: ``N`` binary labels (0/1 or bool); 1 is the positive class.
        method: ``"dim"``, ``"mse"`` or ``"bce"`` (see module docstring).
        l2: regularisation strength for ``"mse"`` and ``"bce"`` (must be > 0).

    Returns:
        ``[n_indices, d]`` float32, unit-norm rows in the raw activation space,
        signed so that moving along a row goes towards class ``y == 1``.
    """
    _check_method(method)
    X, y_np = _check_binary(X, y)
    Z = _layer_major(X)
    _, std = _standardise_(Z)
    w_z, _ = _FITTERS[method](_Design(Z, std, l2), torch.from_numpy(y_np))
    w_raw = (w_z / std.squeeze(1)).numpy()  # hyperplane normal in raw coordinates
    return _orient_towards_positive(_unit_rows(w_raw), X, y_np)


def _n_folds(y: np.ndarray, folds: int) -> int:
    """Requested folds, capped at the smaller class count (at least 2)."""
    return max(2, min(folds, int(np.bincount(y).min())))


def _fold_correct(
    X: np.ndarray,
    y: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    methods: Sequence[str],
    l2: float,
) -> dict[str, np.ndarray]:
    """Correct held-out predictions per layer index for each method on one fold."""
    Z_train = _layer_major(X, train)
    mean, std = _standardise_(Z_train)
    Z_test = _layer_major(X, test).sub_(mean).div_(std)
    design = _Design(Z_train, std, l2)
    y_train, y_test = torch.from_numpy(y[train]), torch.from_numpy(y[test])
    correct: dict[str, np.ndarray] = {}
    for method in methods:
        w, b = _FITTERS[method](design, y_train)
        scores = torch.baddbmm(b[:, None, None], Z_test, w.unsqueeze(-1)).squeeze(-1)
        correct[method] = ((scores > 0).long() == y_test).sum(1).numpy()
    return correct


def _cross_validated_accuracy(
    X: np.ndarray, y: Sequence, methods: Sequence[str], folds: int, seed: int, l2: float
) -> dict[str, np.ndarray]:
    """Held-out accuracy per layer index for several methods sharing the same folds."""
    for method in methods:
        _check_method(method)
    X, y_np = _check_binary(X, y)
    splitter = StratifiedKFold(n_splits=_n_folds(y_np, folds), shuffle=True, random_state=seed)
    totals = {m: np.zeros(X.shape[1], dtype=np.int64) for m in methods}
    for train, test in splitter.split(np.zeros(len(y_np)), y_np):
        for method, correct in _fold_correct(X, y_np, train, test, methods, l2).items():
            totals[method] += correct
    # Every clip is predicted exactly once, so pooled accuracy = correct / N.
    return {m: totals[m] / len(y_np) for m in methods}


def probe_accuracy(
    X: np.ndarray, y: Sequence, method: str, folds: int = 5, seed: int = 0, l2: float = 1e-2
) -> np.ndarray:
    """Stratified k-fold held-out accuracy of a binary probe at every layer index.

    Predictions: ``"dim"`` thresholds the projection at the midpoint of the two
    class-mean projections, ``"mse"`` takes the sign of the regression output and
    ``"bce"`` predicts ``p > 0.5``. ``folds`` is capped at the smaller class
    count (minimum 2).

    Returns:
        ``[n_indices]`` accuracies pooled over folds.
    """
    return _cross_validated_accuracy(X, y, [method], folds, seed, l2)[method]


def probe_table(
    X_by_site: dict[str, np.ndarray],
    y: Sequence,
    methods: Iterable[str] = ("dim", "bce", "mse"),
    folds: int = 5,
    seed: int = 0,
    l2: float = 1e-2,
) -> pd.DataFrame:
    """Held-out probe accuracy for every site, layer index and method.

    All methods share each fold's data preparation and Gram matrix.

    Returns:
        Long DataFrame with columns ``site, index, method, accuracy``.
    """
    methods = list(methods)
    if not X_by_site:
        raise ValueError("X_by_site is empty: need activations for at least one site")
    frames = []
    for site, X in X_by_site.items():
        accuracy = _cross_validated_accuracy(X, y, methods, folds, seed, l2)
        for method in methods:
            acc = accuracy[method]
            frames.append(
                pd.DataFrame(
                    {"site": site, "index": np.arange(len(acc)), "method": method, "accuracy": acc}
                )
            )
    return pd.concat(frames, ignore_index=True)[["site", "index", "method", "accuracy"]]


# ---------------------------------------------------------------------------
# Layer selection and vector assembly
# ---------------------------------------------------------------------------


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
    scored = table.dropna(subset=[score]).sort_values("index", kind="stable")
    if scored.empty:
        raise ValueError(f"no rows with a {score!r} value to select a layer from")
    return int(scored.loc[scored[score].idxmax(), "index"])


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
    if "index" not in table.columns:
        raise ValueError(f"table has no 'index' column (columns: {list(table.columns)})")
    rows = _filter_rows(table, site=site, method=method) if rule == "accuracy" else table
    rows = _filter_rows(rows, site=site)
    if max_index is not None:
        rows = rows[rows["index"] <= max_index]
    return _best_index(rows, rule)


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
    y: Sequence,
    method: str,
    site: str,
    layer: int,
    task: str,
    positive: str,
    negative: str,
    model: str,
    accuracy: Sequence[float] | None = None,
    l2: float = 1e-2,
) -> SteeringVector:
    """Fit directions on ``X``/``y`` and wrap them as a :class:`SteeringVector`."""
    directions = fit_directions(X, y, method, l2=l2)
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
        accuracy=acc,
    )


# ---------------------------------------------------------------------------
# Balanced subsampling
# ---------------------------------------------------------------------------


def _water_fill(capacities: dict[str, int], total: int) -> dict[str, int]:
    """Split ``total`` as evenly as possible across classes, respecting capacities.

    Smallest classes are served first so any shortfall is taken up by the others.
    """
    allocation: dict[str, int] = {}
    remaining = total
    ordered = sorted(capacities, key=lambda c: (capacities[c], str(c)))
    for i, cls in enumerate(ordered):
        share = remaining // (len(ordered) - i)
        allocation[cls] = min(capacities[cls], share)
        remaining -= allocation[cls]
    return allocation


def balance_binary(
    labels: Sequence[str], positive: str, negative: str | None, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Balanced positive-vs-negative subsample of a labelled set.

    Args:
        labels: class label of every clip.
        positive: the positive class.
        negative: the negative class, or ``None`` for "rest": all other classes,
            drawn as evenly across them as their sizes allow.
        seed: random seed (the result is deterministic given it).

    Returns:
        ``(indices, y)``: sorted clip indices and their 0/1 labels (1 = positive),
        with equally many positives and negatives.
    """
    labels = np.asarray(labels)
    if positive not in labels:
        raise ValueError(f"positive class {positive!r} not found in labels")
    if negative is not None and negative not in labels:
        raise ValueError(f"negative class {negative!r} not found in labels")
    if negative == positive:
        raise ValueError(f"positive and negative are the same class {positive!r}")
    neg_classes = [negative] if negative is not None else sorted(set(labels) - {positive})
    if not neg_classes:
        raise ValueError(f"no classes other than {positive!r} to use as negatives")
    pools = {c: np.flatnonzero(labels == c) for c in [positive, *neg_classes]}
    n_neg_available = sum(len(pools[c]) for c in neg_classes)
    n = min(len(pools[positive]), n_neg_available)
    if n < 2:
        raise ValueError(f"need at least 2 samples per side, got {n}")
    quota = _water_fill({c: len(pools[c]) for c in neg_classes}, n)
    quota[positive] = n
    rng = np.random.default_rng(seed)
    chosen = {c: rng.choice(pools[c], size=quota[c], replace=False) for c in pools}
    indices = np.sort(np.concatenate(list(chosen.values())))
    y = (labels[indices] == positive).astype(np.int64)
    return indices, y


__all__: list[str] = [
    "balance_binary",
    "build_vector",
    "clustering_scores",
    "fit_directions",
    "jaccard_matrix",
    "mean_projection",
    "probe_accuracy",
    "probe_table",
    "select_layer",
]
