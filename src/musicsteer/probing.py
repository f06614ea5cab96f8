"""Probing activations for concepts: clustering scores, linear probes, layer choice.

Activations for one site are arrays ``X`` of shape ``[N clips, n_indices, d]``
(float16 or float32; see :mod:`musicsteer.vectors` for the layer indexing).

Probes are fitted for *all* layer indices, and all cross-validation folds, at
once: the activations are moved to a layer-major ``[n_indices, N, d]`` float32
torch tensor, centred, and each method is solved with batched linear algebra on
per-fold scaled features (each fold's training mean; see *Scaling*):

* ``"dim"``: difference of class means (in the raw space); for several classes,
  the nearest class mean.
* ``"mse"``: ridge regression on ±1 targets (one-hot targets for several
  classes, all solved together) with an intercept, minimising
  ``mean((t - z·w - b)²) + l2·‖w‖²`` over scaled features ``z`` (the same
  as sklearn ``Ridge(alpha=l2 * N)`` on those features).
* ``"bce"``: logistic regression with an intercept, minimising
  ``mean(log(1 + exp(-s·(z·w + b)))) + l2/2·‖w‖²`` (sklearn
  ``LogisticRegression(C=1 / (l2 * N))`` on scaled features), with one
  L-BFGS run over the weights of all layers and folds together (the objective is
  a sum of independent terms), preconditioned by a ridge system's Cholesky
  factor and started from the ridge solution, so it converges in tens of steps.

*Scaling* (``scaling=``): ``"global"`` (default) divides every feature by one scale,
``√(tr Σ / d)``, so the L2 penalty is the same in every direction of activation
space and ``l2`` is relative to the mean feature variance. ``"feature"`` z-scores each
dimension: mapped back to raw space, that penalises loud dimensions and hardly
penalises near-constant ones, and a unit step along the direction lands almost
entirely where the model barely varies (99.8 % of the energy on planted data with 4
loud and 32 quiet dimensions, cosine 0.03 with difference-in-means).

*Held out* means held out: with a ``group`` per clip (the track of a 10-s clip, the
item a SynTheory clip was rendered from), folds are group-disjoint. The maximum
accuracy over layers is optimistic (it is chosen on the clips it is read on); the
probe tables also keep each half of the folds' accuracy so :func:`nested_accuracy`
can choose the layer on one half and read it on the other.

With at least as many training clips as features (primal form), every fold's
scaling is applied implicitly, so each product with the data serves all
folds in one pass; one Cholesky factor per layer, of the ridge system of all
clips, preconditions both the ridge fits (a few conjugate-gradient steps) and
the logistic fits of every fold. With fewer clips than features, each fold is
solved in dual form on its ``n × n`` clip Gram matrix.

Weights found on scaled features are mapped back to the raw activation
space (``w_raw = w_z / σ``: the normal of the decision hyperplane) before being
normalised, so directions can be added to the raw activations.

:func:`probe_task` runs the probes of a task table (:mod:`musicsteer.tasks`): one
binary probe for binary kinds, one balanced one-vs-rest probe per class plus an
all-class argmax accuracy for multi-class kinds. :func:`summary_table` and
:func:`layer_selection` condense the results.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from musicsteer.tasks import even_split
from musicsteer.vectors import METHODS, SteeringVector

# L-BFGS settings for "bce": accuracy saturates long before a tight optimum.
_BCE_MAX_ITER = 100
_BCE_HISTORY = 10
_BCE_TOL_GRAD = 1e-5
_BCE_TOL_CHANGE = 1e-9
# The logistic fit starts from this multiple of the ridge (±1 target) solution: the
# first Newton step of the logistic loss from w = 0 is about twice the ridge fit.
_BCE_WARM_START = 2.0
# Ridge fits by preconditioned conjugate gradients: relative residual and step cap.
_CG_TOL = 1e-5
_CG_MAX_ITER = 200
# Features whose standard deviation is below this are treated as constant.
_MIN_STD = 1e-6
# How features are scaled before the L2-penalised fits (see the module docstring).
SCALINGS = ("global", "feature")
# L2 strength relative to the mean feature variance (with "global" scaling). 0.1 shrinks
# every direction whose variance is under a tenth of the mean: on planted data with 4
# loud (σ=30) and 32 quiet (σ=0.02) dimensions, 1e-2 left 9 % of an mse direction in
# the quiet ones, 0.1 leaves 0.1 %.
DEFAULT_L2 = 0.1

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


def _check_class_counts(labels: np.ndarray, n_classes: int) -> None:
    """Raise unless each of ``n_classes`` classes has at least 2 samples."""
    counts = np.bincount(labels, minlength=n_classes)
    if len(counts) != n_classes or counts.min() < 2:
        raise ValueError(f"each class needs at least 2 samples, got counts {counts.tolist()}")


def _check_binary(X: np.ndarray, y: Sequence) -> tuple[np.ndarray, np.ndarray]:
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


def _check_method(method: str) -> None:
    """Raise unless ``method`` is one of :data:`musicsteer.vectors.METHODS`."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")


def _check_methods(methods: Iterable[str]) -> list[str]:
    """Validated list of methods (at least one)."""
    methods = list(methods)
    if not methods:
        raise ValueError(f"need at least one probe method out of {METHODS}")
    for method in methods:
        _check_method(method)
    return methods


def _check_l2(l2: float) -> None:
    """Raise unless the regularisation strength is positive."""
    if l2 <= 0:
        raise ValueError(f"l2 must be > 0, got {l2}")


def _check_scaling(scaling: str) -> None:
    """Raise unless ``scaling`` is one of :data:`SCALINGS`."""
    if scaling not in SCALINGS:
        raise ValueError(f"scaling must be one of {SCALINGS}, got {scaling!r}")


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
# Batched probes (torch: all layer indices and all folds at once)
# ---------------------------------------------------------------------------
# Shapes: L layer indices, n clips, d features, F folds (training subsets of the
# same clips), m target columns (1 for a binary ±1 target, K for one-hot classes).
# Products are written as (matrix) @ (few columns) or (few rows) @ (matrix) with
# the big operand contiguous: on CPU these are several times faster than
# products with a transposed view of it.


@contextmanager
def _timed(timings: dict[str, float] | None, stage: str) -> Iterator[None]:
    """Add the seconds spent in the block to ``timings[stage]`` (if given)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        if timings is not None:
            timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - start


def _centred_layer_major(X: np.ndarray, rows: np.ndarray | None = None) -> torch.Tensor:
    """``X[rows]`` as a contiguous ``[L, n, d]`` float32 tensor, centred over its clips.

    Centring once keeps the float32 Gram algebra below accurate: fold means are
    then small, so removing them from a Gram matrix cancels nothing.
    """
    part = X if rows is None else X[rows]
    src = torch.from_numpy(np.ascontiguousarray(part)).permute(1, 0, 2)
    out = torch.empty(src.shape, dtype=torch.float32)
    out.copy_(src)  # one pass: transpose and upcast together
    if not all(bool(torch.isfinite(layer).all()) for layer in out):
        raise ValueError("X contains NaN or infinite activations")
    return out.sub_(out.mean(1, keepdim=True))


def _fold_masks(fold_of: np.ndarray, n_folds: int) -> torch.Tensor:
    """``[n, F]`` float 0/1: clip ``i`` trains fold ``f`` unless ``fold_of[i] == f``."""
    return torch.from_numpy(fold_of[:, None] != np.arange(n_folds)[None, :]).to(torch.float32)


def _cholesky(A: torch.Tensor) -> torch.Tensor:
    """Lower Cholesky factor of a batch of SPD matrices."""
    factor, info = torch.linalg.cholesky_ex(A)
    if bool((info > 0).any()):
        raise ValueError("probe system is not positive definite; increase l2 or check X")
    return factor


def _cholesky_solve(factor: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
    """``(C Cᵀ)⁻¹ rhs`` by two triangular solves (fast for a few right-hand sides)."""
    half = torch.linalg.solve_triangular(factor, rhs, upper=False)
    return torch.linalg.solve_triangular(factor.mT, half, upper=True)


def _add_diagonal(A: torch.Tensor, value: float) -> torch.Tensor:
    """``A + value·I`` for a batch of square matrices (a new tensor)."""
    out = A.clone()
    out.diagonal(dim1=-2, dim2=-1).add_(value)
    return out


class _Features:
    """Standardised views ``Z_f = (X - shift_f) · inv_scale_f`` of shared clips ``X``.

    ``X [L, n, k]`` is shared by every fold; ``shift`` and ``inv_scale`` ``[F, L, k]``
    are each fold's training mean and inverse standard deviation. Products with
    ``Z_f`` never materialise it and serve all folds in one pass over ``X``.
    """

    def __init__(self, X: torch.Tensor, shift: torch.Tensor, inv_scale: torch.Tensor) -> None:
        self.X, self.shift, self.inv_scale = X, shift, inv_scale

    @classmethod
    def plain(cls, X: torch.Tensor) -> _Features:
        """One fold whose features are ``X`` itself."""
        L, _, k = X.shape
        return cls(X, torch.zeros(1, L, k), torch.ones(1, L, k))

    def apply(self, w: torch.Tensor) -> torch.Tensor:
        """``Z_f w_f`` for every clip and fold: ``w [F, L, k, m]`` → ``[L, n, F, m]``."""
        F, L, k, m = w.shape
        u = w * self.inv_scale.unsqueeze(-1)
        out = torch.bmm(self.X, u.permute(1, 2, 0, 3).reshape(L, k, F * m))
        offset = (self.shift.unsqueeze(-1) * u).sum(2)  # [F, L, m]
        return out.view(L, -1, F, m) - offset.transpose(0, 1).unsqueeze(1)

    def apply_t(self, g: torch.Tensor) -> torch.Tensor:
        """``Z_fᵀ g_f`` for every fold: ``g [L, n, F, m]`` → ``[F, L, k, m]``."""
        L, n, F, m = g.shape
        rows = g.reshape(L, n, F * m).transpose(1, 2).contiguous()
        out = torch.bmm(rows, self.X).view(L, F, m, -1).permute(1, 0, 3, 2)
        total = g.sum(1).transpose(0, 1).unsqueeze(2)  # [F, L, 1, m]
        return (out - self.shift.unsqueeze(-1) * total) * self.inv_scale.unsqueeze(-1)


@dataclass
class _Rules:
    """Linear scores ``x · weight + bias`` per fold, on the centred activations.

    ``weight [F, L, d, m]``, ``bias [F, L, m]``. With ``m == 1`` a clip is predicted
    positive when its score is > 0; otherwise the predicted class is the argmax.
    """

    weight: torch.Tensor
    bias: torch.Tensor

    @classmethod
    def from_standardised(cls, w: torch.Tensor, b: torch.Tensor, features: _Features) -> _Rules:
        """Map ``z·w + b`` on standardised features back to raw coordinates.

        ``w_raw = w / σ`` is the normal of the decision hyperplane in activation space.
        """
        weight = w * features.inv_scale.unsqueeze(-1)
        bias = b - (features.shift.unsqueeze(-1) * weight).sum(2)
        return cls(weight, bias)


def _fit_logistic(
    features: _Features,
    factor: torch.Tensor,
    factor_clips: int,
    sign: torch.Tensor,
    train: torch.Tensor,
    l2: float,
    w0: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """L2 logistic regression for every fold and layer with one preconditioned L-BFGS.

    Minimises, summed over folds ``f`` and layers (independent problems),
    ``mean_train(log(1 + exp(-s·(z·w + b)))) + l2/2·‖w‖²``. ``factor`` is ``C`` with
    ``C Cᵀ = Zᵀ Z + l2·n·I`` over ``n = factor_clips`` clips; optimising ``v`` with
    ``w = √(4n)·C⁻ᵀ v`` makes the Hessian close to the identity (``Zᵀ Z / 4n``
    bounds the data term's), so L-BFGS needs few steps. One factor serves every
    fold: that of all clips is close to each fold's own (scaled by ``n / n_f``,
    which ``√(4n)`` undoes), and a shared factor makes the two triangular solves
    per step one pass over ``C`` for all folds. ``w0`` (the ridge
    solution, scaled) starts it near the optimum. Gradients are written out by
    hand: no autograd graph over the big tensors.

    Args:
        features: standardised features of the ``F`` folds.
        factor: ``[L, k, k]`` lower Cholesky factors.
        factor_clips: the number of clips ``n`` in ``factor``'s system.
        sign: ``[n]`` ±1 targets.
        train: ``[n, F]`` 0/1 training masks.
        l2: regularisation strength.
        w0: ``[F, L, k]`` starting weights.

    Returns:
        ``(w [F, L, k], b [F, L])`` on the standardised features.
    """
    F, L, k = w0.shape
    n_train = train.sum(0)
    weight = train / n_train  # per-clip weight of each fold's mean loss
    scale = (4.0 * factor_clips) ** 0.5
    v = torch.bmm(w0.transpose(0, 1), factor) / scale  # rows [L, F, k]: (Cᵀ w0)ᵀ / scale
    prior = (train * (sign > 0).unsqueeze(1)).sum(0) / n_train
    bias = torch.logit(prior.clamp(1e-6, 1 - 1e-6)).unsqueeze(0).repeat(L, 1)  # [L, F]
    s = sign.view(1, -1, 1)

    def weights_of(v: torch.Tensor) -> torch.Tensor:
        # Rows of √(4n)·C⁻ᵀ v: solve w C = v; as [F, L, k, 1] for the features.
        w = scale * torch.linalg.solve_triangular(factor, v, upper=False, left=False)
        return w.transpose(0, 1).unsqueeze(-1)

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
        margin = s * (features.apply(w).squeeze(-1) + bias.unsqueeze(1))  # [L, n, F]
        # float64 sum: the line search compares losses summed over F·L problems.
        loss = (torch.nn.functional.softplus(-margin) * weight).sum(dtype=torch.float64)
        loss = loss + 0.5 * l2 * w.square().sum(dtype=torch.float64)
        dloss_dlogit = -s * torch.sigmoid(-margin) * weight
        grad_w = features.apply_t(dloss_dlogit.unsqueeze(-1)) + l2 * w  # [F, L, k, 1]
        columns = grad_w.squeeze(-1).permute(1, 2, 0).contiguous()  # [L, k, F]
        grad_v = scale * torch.linalg.solve_triangular(factor, columns, upper=False)
        v.grad = grad_v.transpose(1, 2).contiguous()
        bias.grad = dloss_dlogit.sum(1)
        return loss

    optimiser.step(closure)
    return weights_of(v).squeeze(-1), bias.T.contiguous()


def _safe_ratio(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """``num / den`` with 0 where ``den`` is 0 (converged or all-zero systems)."""
    return torch.where(den != 0, num / torch.where(den != 0, den, 1.0), 0.0)


def _conjugate_gradient(
    apply_A: Callable[[torch.Tensor], torch.Tensor],
    precondition: Callable[[torch.Tensor], torch.Tensor],
    rhs: torch.Tensor,
) -> torch.Tensor:
    """Solve ``A x = rhs`` for a batch of SPD systems by preconditioned CG.

    ``rhs [F, L, k, m]``: independent systems along every axis but ``k``. Stops
    when every residual is below ``_CG_TOL`` relative to its right-hand side.
    """
    x = torch.zeros_like(rhs)
    r = rhs.clone()
    z = precondition(r)
    p = z.clone()
    rz = (r * z).sum(2, keepdim=True)
    limit = _CG_TOL * torch.linalg.vector_norm(rhs, dim=2, keepdim=True)
    for _ in range(_CG_MAX_ITER):
        if bool((torch.linalg.vector_norm(r, dim=2, keepdim=True) <= limit).all()):
            break
        Ap = apply_A(p)
        alpha = _safe_ratio(rz, (p * Ap).sum(2, keepdim=True))
        x.add_(alpha * p)
        r.sub_(alpha * Ap)
        z = precondition(r)
        rz_next = (r * z).sum(2, keepdim=True)
        p = z + _safe_ratio(rz_next, rz) * p
        rz = rz_next
    else:
        worst = float((torch.linalg.vector_norm(r, dim=2, keepdim=True) / limit).max()) * _CG_TOL
        warnings.warn(
            f"ridge solve stopped after {_CG_MAX_ITER} conjugate-gradient steps at relative "
            f"residual {worst:.1e}; accuracies may be slightly off (try a larger l2)",
            RuntimeWarning,
            stacklevel=2,
        )
    return x


class _Primal:
    """Ridge and logistic probes for all folds at once when clips ≥ features.

    Each fold's probes live on its own standardised features (its training mean
    and std), applied implicitly so that every product with the data serves all
    folds in one pass. Both methods are preconditioned by one Cholesky factor per
    layer: that of the ridge system of *all* clips, which differs from each fold's
    own only by its test clips. Ridge fits then take a few conjugate-gradient
    steps instead of a factorisation per fold; with no test clips (``fold_of``
    all ``-1``: one fold trains on everything) the factor is exact.
    """

    def __init__(
        self, Xl: torch.Tensor, fold_of: np.ndarray, n_folds: int, l2: float, scaling: str
    ) -> None:
        L, n, d = Xl.shape
        self.l2 = l2
        self.train = _fold_masks(fold_of, n_folds)
        self.n_train = self.train.sum(0)
        # Sums and square sums over each fold's training clips, and over all clips.
        masks = torch.cat([self.train.T, torch.ones(1, n)])  # [F + 1, n]
        sums = torch.matmul(masks, Xl).transpose(0, 1)  # [F + 1, L, d]
        squares = torch.stack([masks @ layer.square() for layer in Xl], dim=1)
        counts = torch.cat([self.n_train, torch.tensor([float(n)])]).view(-1, 1, 1)
        mean, inv_std = _mean_and_inverse_std(sums, squares, counts, scaling)
        self.features = _Features(Xl, mean[:-1], inv_std[:-1])
        # Xl is centred over all clips, so its Gram matrix needs no mean correction.
        A = torch.bmm(Xl.mT, Xl).mul_(inv_std[-1].unsqueeze(2)).mul_(inv_std[-1].unsqueeze(1))
        A.diagonal(dim1=1, dim2=2).add_(l2 * n)
        self.factor = _cholesky(A)
        self.factor_clips = n

    def _normal_apply(self, w: torch.Tensor) -> torch.Tensor:
        """``(Z_fᵀ Z_f + l2·n_f·I) w`` for every fold."""
        z = self.features.apply(w) * self.train[None, :, :, None]
        ridge = (self.l2 * self.n_train).view(-1, 1, 1, 1)
        return self.features.apply_t(z) + ridge * w

    def _precondition(self, r: torch.Tensor) -> torch.Tensor:
        """Solve the all-clip ridge system for ``r [F, L, d, m]`` (one pass over ``C``)."""
        F, L, d, m = r.shape
        columns = r.permute(1, 2, 0, 3).reshape(L, d, F * m)
        return _cholesky_solve(self.factor, columns).view(L, d, F, m).permute(2, 0, 1, 3)

    def ridge(self, T: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Ridge fits of targets ``T [n, m]``: ``(w [F, L, d, m], b [F, L, m])``."""
        L, n = self.features.X.shape[:2]
        mean = self.train.T @ T / self.n_train.unsqueeze(1)  # [F, m]: the intercept
        centred = (T.unsqueeze(1) - mean) * self.train.unsqueeze(-1)  # [n, F, m]
        rhs = self.features.apply_t(centred.expand(L, *centred.shape))
        w = _conjugate_gradient(self._normal_apply, self._precondition, rhs)
        return w, mean.unsqueeze(1).expand(-1, L, -1)

    def logistic(self, sign: torch.Tensor, w0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logistic fits: ``(w [F, L, d], b [F, L])``."""
        return _fit_logistic(
            self.features, self.factor, self.factor_clips, sign, self.train, self.l2, w0
        )


def _mean_and_inverse_std(
    total: torch.Tensor, square: torch.Tensor, n: torch.Tensor, scaling: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and ``1/scale`` from sums over ``n`` clips (see :func:`_scale`)."""
    mean = total.double() / n
    variance = (square.double() / n - mean.square()).clamp_min(0.0)
    return mean.to(torch.float32), (1.0 / _scale(variance, scaling)).to(torch.float32)


def _scale(variance: torch.Tensor, scaling: str) -> torch.Tensor:
    """Per-feature scale from per-feature variances ``[..., d]``.

    ``"global"``: one scale ``√(tr Σ / d)`` for every feature, so the L2 penalty is the
    same in every direction of activation space and directions follow the class
    difference where the model varies. ``"feature"``: each feature's own std (z-scores;
    the penalty then favours near-constant features, whose weights blow up when
    mapped back to raw space). Scales below ``_MIN_STD`` become 1 (constant → 0).
    """
    if scaling == "global":
        variance = variance.mean(-1, keepdim=True).expand_as(variance)
    std = variance.sqrt()
    return torch.where(std < _MIN_STD, torch.ones_like(std), std)


def _row_space_features(K: torch.Tensor) -> torch.Tensor:
    """Features ``Φ [L, n, n]`` (lower triangular) with ``Φ Φᵀ ≈ K = Z Zᵀ``.

    The L2 logistic optimum lies in the row space of ``Z``: writing
    ``w = Zᵀ Φ⁻ᵀ c`` gives ``Z w = Φ c`` and ``‖w‖ = ‖c‖``, so the ``d``-dimensional
    problem becomes an equivalent ``n``-dimensional one.
    """
    K = K.to(torch.float64)
    # Z is centred, so K is singular. The jitter acts like one extra feature of size
    # √ε per clip, changing the logits by a relative ~ε / mean(diag K) = 1e-4.
    jitter = 1e-4 * float(K.diagonal(dim1=1, dim2=2).mean())
    phi, info = torch.linalg.cholesky_ex(_add_diagonal(K, jitter))
    if bool((info > 0).any()):
        raise ValueError("could not factor the clip Gram matrix; check for NaN activations")
    return phi.to(torch.float32)


def _dual_fold(
    Xl: torch.Tensor,
    rows: torch.Tensor,
    T: torch.Tensor,
    methods: Sequence[str],
    l2: float,
    scaling: str,
) -> dict[str, _Rules]:
    """Ridge (and logistic) probes of one fold in dual form, for clips < features.

    The ``n × n`` clip Gram matrix replaces the ``d × d`` one; ``T [n_train, m]``.
    """
    Z = Xl.index_select(1, rows)
    L, n, d = Z.shape
    mean = Z.mean(1, keepdim=True)
    Z.sub_(mean)
    std = _scale(Z.square().mean(1, keepdim=True), scaling)
    Z.div_(std)
    standardised = _Features(Xl, mean.transpose(0, 1), 1.0 / std.transpose(0, 1))
    plain = _Features.plain(Z)
    K = torch.bmm(Z, Z.mT)
    ridge = l2 * n
    factor = _cholesky(_add_diagonal(K, ridge))
    intercept = T.mean(0)
    centred = (T - intercept).expand(L, n, -1)
    alpha = _cholesky_solve(factor, centred)
    residual = centred - torch.bmm(K, alpha) - ridge * alpha
    alpha = alpha + _cholesky_solve(factor, residual)
    rules = {}
    if "mse" in methods:
        w = plain.apply_t(alpha.unsqueeze(2))  # Zᵀ α: [1, L, d, m]
        rules["mse"] = _Rules.from_standardised(w, intercept.expand(1, L, -1), standardised)
    if "bce" in methods:
        phi = _row_space_features(K)
        phi_factor = _cholesky(_add_diagonal(torch.bmm(phi.mT, phi), ridge))
        c0 = _BCE_WARM_START * torch.bmm(phi.mT, alpha).squeeze(-1)  # Φᵀ α ≙ the ridge w
        c, b = _fit_logistic(
            _Features.plain(phi), phi_factor, n, T[:, 0], torch.ones(n, 1), l2, c0[None]
        )
        a = torch.linalg.solve_triangular(phi.mT, c[0].unsqueeze(-1), upper=True)  # Φ⁻ᵀ c
        w = plain.apply_t(a.unsqueeze(2))
        rules["bce"] = _Rules.from_standardised(w, b.unsqueeze(-1), standardised)
    return rules


def _stack_rules(per_fold: list[_Rules]) -> _Rules:
    """Concatenate single-fold rules along the fold axis."""
    return _Rules(torch.cat([r.weight for r in per_fold]), torch.cat([r.bias for r in per_fold]))


def _dim_rules(
    Xl: torch.Tensor, labels: torch.Tensor, n_classes: int, train: torch.Tensor
) -> _Rules:
    """Nearest class mean in activation space (for two classes: difference of means).

    Scores ``x·μ_k - ‖μ_k‖²/2``; with two classes, their difference: ``x·Δ`` minus
    the midpoint of the two class-mean projections.
    """
    L, n, d = Xl.shape
    F = train.shape[1]
    weights = train.unsqueeze(2) * torch.nn.functional.one_hot(labels, n_classes).unsqueeze(1)
    weights = weights / weights.sum(0)  # [n, F, K]: mean over each fold's training class
    means = torch.matmul(weights.reshape(n, -1).T.contiguous(), Xl)  # [L, F·K, d]
    means = means.view(L, F, n_classes, d).transpose(0, 1)  # [F, L, K, d]
    half_square = 0.5 * means.square().sum(-1)  # [F, L, K]
    if n_classes == 2:
        weight = (means[:, :, 1] - means[:, :, 0]).unsqueeze(-1)
        return _Rules(weight, (half_square[..., 0] - half_square[..., 1]).unsqueeze(-1))
    return _Rules(means.mT, -half_square)


def _targets(labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Regression targets ``[n, m]``: ±1 for two classes, one-hot (0/1) for more."""
    if n_classes == 2:
        return (2.0 * labels.to(torch.float32) - 1.0).unsqueeze(1)
    return torch.nn.functional.one_hot(labels, n_classes).to(torch.float32)


def _fit_rules(
    Xl: torch.Tensor,
    labels: torch.Tensor,
    n_classes: int,
    fold_of: np.ndarray,
    n_folds: int,
    methods: Sequence[str],
    l2: float,
    scaling: str = "global",
    timings: dict[str, float] | None = None,
) -> dict[str, _Rules]:
    """Fit each method's probes on every fold's training clips.

    ``fold_of`` gives each clip's test fold; ``-1`` trains every fold.
    """
    if "bce" in methods and n_classes != 2:
        raise ValueError("bce probes are binary; use dim or mse for several classes")
    train = _fold_masks(fold_of, n_folds)
    rules: dict[str, _Rules] = {}
    if "dim" in methods:
        with _timed(timings, "dim"):
            rules["dim"] = _dim_rules(Xl, labels, n_classes, train)
    regression = [m for m in ("mse", "bce") if m in methods]
    if not regression:
        return rules
    T = _targets(labels, n_classes)
    if int(train.sum(0).min()) < Xl.shape[2]:
        with _timed(timings, "+".join(regression)):
            folds = [torch.from_numpy(np.flatnonzero(train[:, f].numpy())) for f in range(n_folds)]
            per_fold = [_dual_fold(Xl, rows, T[rows], regression, l2, scaling) for rows in folds]
        return rules | {m: _stack_rules([r[m] for r in per_fold]) for m in regression}
    with _timed(timings, "prepare"):
        primal = _Primal(Xl, fold_of, n_folds, l2, scaling)
    with _timed(timings, "mse"):
        w, b = primal.ridge(T)
        rules["mse"] = _Rules.from_standardised(w, b, primal.features)
    if "bce" in methods:
        with _timed(timings, "bce"):
            w, b = primal.logistic(T[:, 0], _BCE_WARM_START * w[..., 0])
            rules["bce"] = _Rules.from_standardised(
                w.unsqueeze(-1), b.unsqueeze(-1), primal.features
            )
    return {m: rules[m] for m in methods}


def _correct_predictions(
    Xl: torch.Tensor, rules: _Rules, labels: torch.Tensor, fold_of: np.ndarray
) -> np.ndarray:
    """``[L, n]`` bool: is each clip's held-out prediction (by its own test fold) right?"""
    F, L, d, m = rules.weight.shape
    n = Xl.shape[1]
    scores = torch.bmm(Xl, rules.weight.permute(1, 2, 0, 3).reshape(L, d, F * m))
    own = torch.from_numpy(fold_of)
    scores = scores.view(L, n, F, m)[:, torch.arange(n), own] + rules.bias.transpose(0, 1)[:, own]
    predicted = (scores[..., 0] > 0).long() if m == 1 else scores.argmax(-1)
    return (predicted == labels).numpy()


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


def fit_directions(
    X: np.ndarray, y: Sequence, method: str, l2: float = DEFAULT_L2, scaling: str = "global"
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
    _check_method(method)
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
    groups: Sequence | None = None,
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
    groups: Sequence | None = None,
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
    y: Sequence,
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
    _check_method(method)
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
    return pd.concat(frames, ignore_index=True)[["site", "index", "method", *CV_COLUMNS]]


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
        "index": np.arange(held.correct.shape[0]),
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
    rows = curve.dropna(subset=["accuracy_h0", "accuracy_h1"]).sort_values("index", kind="stable")
    if rows.empty:
        return float("nan")
    pick0 = rows["accuracy_h0"].to_numpy().argmax()
    pick1 = rows["accuracy_h1"].to_numpy().argmax()
    n0, n1 = int(rows["n_h0"].iloc[0]), int(rows["n_h1"].iloc[0])
    read1 = rows["accuracy_h1"].to_numpy()[pick0]
    read0 = rows["accuracy_h0"].to_numpy()[pick1]
    return float((read1 * n1 + read0 * n0) / (n0 + n1))


# ---------------------------------------------------------------------------
# Probing a task table: binary, one-vs-rest per class, and all classes at once
# ---------------------------------------------------------------------------

ALL_CLASSES = "__all__"
PROBE_COLUMNS = ["site", "index", "method", "positive", *CV_COLUMNS]
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


def _balanced_draw(
    positives: np.ndarray, negative_pools: dict[str, np.ndarray], seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Equally many positives and negatives, the negatives spread over their pools.

    Returns sorted clip indices and their 0/1 labels (1 = positive).
    """
    n = min(len(positives), sum(len(p) for p in negative_pools.values()))
    if n < 2:
        raise ValueError(f"need at least 2 samples per side, got {n}")
    quota = even_split({c: len(p) for c, p in negative_pools.items()}, n)
    rng = np.random.default_rng(seed)
    chosen = rng.choice(positives, size=n, replace=False)
    negatives = [
        rng.choice(pool, size=quota[c], replace=False) for c, pool in negative_pools.items()
    ]
    indices = np.sort(np.concatenate([chosen, *negatives]))
    return indices, np.isin(indices, chosen).astype(np.int64)


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
            chosen = methods if p.positive != ALL_CLASSES else [m for m in methods if m != "bce"]
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


def _accuracy_curve(
    probes: pd.DataFrame | None, site: str, method: str, positive: str
) -> np.ndarray | None:
    """Per-index accuracy of one probe from a :func:`probe_task` table (None if absent)."""
    if probes is None:
        return None
    rows = _filter_rows(probes, site=site, method=method, positive=positive)
    return None if rows.empty else rows.sort_values("index")["accuracy"].to_numpy()


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
                "n_indices": int(group["index"].nunique()),
                **{c: group[c].iloc[0] for c in _SIZE_COLUMNS if c in group.columns},
            }
        )
    summary = pd.DataFrame(rows)
    if clustering is None:
        return summary
    keys = [c for c in ("task", "site") if c in clustering.columns and c in summary.columns]
    best_ari = pd.DataFrame(_best_ari(names, g) for names, g in _groups(clustering, keys))
    if not keys:
        return summary.assign(**best_ari.iloc[0].to_dict())
    return summary.merge(best_ari, on=keys, how="left")


def _best_ari(names: dict, rows: pd.DataFrame) -> dict:
    """``names`` plus the index with the highest ARI and that ARI."""
    index = _best_index(rows, "ari")
    return {**names, "ari_index": index, "best_ari": _score_at(rows, "ari", index)}


def _score_at(rows: pd.DataFrame, score: str, index: int) -> float:
    """``score`` at one layer index (NaN if not measured there)."""
    hit = rows.loc[rows["index"] == index, score]
    return float(hit.iloc[0]) if len(hit) else float("nan")


def _accuracy_at(rows: pd.DataFrame, index: int) -> float:
    """Accuracy at one layer index (NaN if not measured there)."""
    return _score_at(rows, "accuracy", index)


def _evidence(rule: str, rows: pd.DataFrame, layer: int, method: str, ari: pd.DataFrame) -> str:
    """Why ``rule`` chose ``layer`` for one probe: its score, the runner-up, the mean."""
    if rule == "ari":
        return f"highest KMeans ARI {_score_at(ari, 'ari', layer):.3f} at index {layer} of {len(ari)} eligible"
    scored = rows.dropna(subset=["accuracy"]).sort_values(
        "accuracy", ascending=False, kind="stable"
    )
    best = int(scored["index"].iloc[0])
    if rule == "fixed":
        return f"fixed index from the config; best accuracy {_accuracy_at(rows, best):.3f} is at index {best}"
    others = scored[scored["index"] != layer]
    runner_up = (
        f"; next best {others['accuracy'].iloc[0]:.3f} at index {int(others['index'].iloc[0])}"
        if len(others)
        else ""
    )
    return (
        f"highest held-out {method} accuracy (max over layers) {_accuracy_at(rows, layer):.3f}"
        f" at index {layer} of {len(scored)} eligible{runner_up}; mean"
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
        rows = rows[rows["index"] <= max_index]
    if rows.empty:
        raise ValueError(f"no probe rows for site {site!r} and method {method!r}")
    _check_class_sizes(rows, min_class_clips, task)
    ari = pd.DataFrame() if clustering is None else _filter_rows(clustering, site=site)
    if max_index is not None and not ari.empty:
        ari = ari[ari["index"] <= max_index]
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


# ---------------------------------------------------------------------------
# Balanced subsampling
# ---------------------------------------------------------------------------


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
    pools = {c: np.flatnonzero(labels == c) for c in neg_classes}
    return _balanced_draw(np.flatnonzero(labels == positive), pools, seed)


__all__: list[str] = [
    "ALL_CLASSES",
    "CV_COLUMNS",
    "DEFAULT_L2",
    "PROBE_COLUMNS",
    "SCALINGS",
    "CVOptions",
    "assign_folds",
    "balance_binary",
    "build_task_vectors",
    "build_vector",
    "clustering_scores",
    "fit_directions",
    "jaccard_matrix",
    "layer_selection",
    "mean_projection",
    "nested_accuracy",
    "probe_accuracy",
    "probe_table",
    "probe_task",
    "select_layer",
    "summary_table",
    "task_directions",
]
