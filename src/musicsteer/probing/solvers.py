"""Direction methods: the :data:`METHODS` registry and the batched fits behind it.

Activations for one site are arrays ``X`` of shape ``[N clips, n_layers_stored, d]``
(see :mod:`musicsteer.models.hookpoints` for the layer convention). Every method fits
*all* layers and cross-validation folds at once: the activations are moved to a
layer-major ``[L, N, d]`` float32 tensor, centred, and shared preparations (the primal
system or the per-fold dual ones, and the ridge solve) are made once per
:class:`Problem`, on first use (:mod:`musicsteer.probing.linalg`):

* ``"dim"``: difference of class means (in the raw space); for several classes,
  the nearest class mean.
* ``"mse"``: ridge regression on ±1 targets (one-hot for several classes) with an
  intercept, minimising ``mean((t - z·w - b)²) + l2·‖w‖²`` over scaled features
  ``z`` (sklearn ``Ridge(alpha=l2 * N)`` on those features).
* ``"bce"``: logistic regression with an intercept, minimising
  ``mean(log(1 + exp(-s·(z·w + b)))) + l2/2·‖w‖²`` (sklearn
  ``LogisticRegression(C=1 / (l2 * N))``), one L-BFGS run over all layers and folds,
  started from the ridge solution.
* ``"random"``: a seeded random direction, the control.

*Scaling* (``scaling=``): ``"global"`` (default) divides every feature by one scale,
``√(tr Σ / d)``, so the L2 penalty is the same in every direction of activation
space and ``l2`` is relative to the mean feature variance. ``"feature"`` z-scores each
dimension: mapped back to raw space, that penalises loud dimensions and hardly
penalises near-constant ones, and a unit step along the direction lands almost
entirely where the model barely varies (99.8 % of the energy on planted data with 4
loud and 32 quiet dimensions, cosine 0.03 with difference-in-means). Weights are
mapped back to raw space (``w_raw = w_z / σ``, the hyperplane's normal) before they
are normalised, so directions can be added to the raw activations.

A new method is a :data:`Fitter` (``Problem → rules``) and an entry in :data:`METHODS`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from musicsteer.probing.linalg import (
    _BCE_WARM_START,
    _DualFold,
    _fold_masks,
    _Primal,
    _Rules,
    _stack_rules,
)

# L2 strength relative to the mean feature variance (with "global" scaling). 0.1 shrinks
# every direction whose variance is under a tenth of the mean: on planted data with 4
# loud (σ=30) and 32 quiet (σ=0.02) dimensions, 1e-2 left 9 % of an mse direction in
# the quiet ones, 0.1 leaves 0.1 %.
DEFAULT_L2 = 0.1


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


class Problem:
    """One batched fit: layer-major activations, labels and folds, shared by every method.

    What several methods need is prepared once, on first use: the primal system (or
    the per-fold dual ones) and the ridge solution, which is the mse fit and the
    logistic fit's warm start.
    """

    def __init__(
        self,
        Xl: torch.Tensor,
        labels: torch.Tensor,
        n_classes: int,
        fold_of: np.ndarray,
        n_folds: int,
        l2: float,
        scaling: str = "global",
        timings: dict[str, float] | None = None,
    ) -> None:
        self.Xl, self.labels, self.n_classes = Xl, labels, n_classes
        self.fold_of, self.n_folds, self.l2, self.scaling = fold_of, n_folds, l2, scaling
        self.timings = timings
        self.train = _fold_masks(fold_of, n_folds)  # [n, F]
        self.targets = _targets(labels, n_classes)

    @property
    def dual(self) -> bool:
        """Fewer training clips than features in some fold: solve in dual form."""
        return int(self.train.sum(0).min()) < self.Xl.shape[2]

    @cached_property
    def primal(self) -> _Primal:
        with _timed(self.timings, "prepare"):
            return _Primal(self.Xl, self.fold_of, self.n_folds, self.l2, self.scaling)

    @cached_property
    def dual_folds(self) -> list[_DualFold]:
        with _timed(self.timings, "prepare"):
            rows = [np.flatnonzero(self.train[:, f].numpy()) for f in range(self.n_folds)]
            T = self.targets
            return [
                _DualFold(self.Xl, torch.from_numpy(r), T[r], self.l2, self.scaling) for r in rows
            ]

    @cached_property
    def primal_ridge(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.primal.ridge(self.targets)


# A direction method: fits every fold's and layer's probe of a Problem at once.
Fitter = Callable[[Problem], _Rules]


def fit_dim(problem: Problem) -> _Rules:
    """Difference of class means (nearest class mean for several classes), raw space."""
    return _dim_rules(problem.Xl, problem.labels, problem.n_classes, problem.train)


def fit_mse(problem: Problem) -> _Rules:
    """Ridge regression on ±1 (one-hot) targets over scaled features."""
    if problem.dual:
        return _stack_rules([fold.ridge() for fold in problem.dual_folds])
    w, b = problem.primal_ridge
    return _Rules.from_standardised(w, b, problem.primal.features)


def fit_bce(problem: Problem) -> _Rules:
    """L2-penalised logistic regression over scaled features, warm-started from ridge."""
    if problem.dual:
        return _stack_rules([fold.logistic() for fold in problem.dual_folds])
    w, b = problem.primal.logistic(
        problem.targets[:, 0], _BCE_WARM_START * problem.primal_ridge[0][..., 0]
    )
    return _Rules.from_standardised(w.unsqueeze(-1), b.unsqueeze(-1), problem.primal.features)


def fit_random(problem: Problem) -> _Rules:
    """A random direction per layer and fold (seeded): the control no peer reports.

    The threshold sits halfway between the class means' projections, so accuracy is
    what chance alignment with the concept gives; steering along it separates "any
    push of this size" from "a push towards the concept".
    """
    L, n, d = problem.Xl.shape
    F = problem.train.shape[1]
    m = 1 if problem.n_classes == 2 else problem.n_classes
    generator = torch.Generator().manual_seed(_RANDOM_SEED)
    weight = torch.randn(F, L, d, m, generator=generator)
    one_hot = torch.nn.functional.one_hot(problem.labels, problem.n_classes).to(torch.float32)
    counts = problem.train.T @ one_hot  # [F, K] training clips per class
    sums = torch.einsum("nf,nk,lnd->flkd", problem.train, one_hot, problem.Xl)
    means = sums / counts.clamp_min(1)[:, None, :, None]  # [F, L, K, d]
    projected = torch.einsum("flkd,fldm->flkm", means, weight)  # class means' scores
    if m == 1:
        return _Rules(weight, -0.5 * projected.sum(2))
    return _Rules(weight, -projected.diagonal(dim1=2, dim2=3))


# fit_random's seed: the same random directions for every task and run
_RANDOM_SEED = 0


@dataclass(frozen=True)
class Method:
    """A registered direction method: its fitter and whether it handles only two classes."""

    fit: Fitter
    binary_only: bool = False


# The direction methods, by config name. A new method is a Fitter and an entry here.
METHODS: dict[str, Method] = {
    "dim": Method(fit_dim),
    "bce": Method(fit_bce, binary_only=True),
    "mse": Method(fit_mse),
    "random": Method(fit_random),
}


def check_method(method: str) -> None:
    """Raise unless ``method`` is registered in :data:`METHODS`."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {tuple(METHODS)}, got {method!r}")


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
    for method in methods:
        check_method(method)
        if METHODS[method].binary_only and n_classes != 2:
            raise ValueError(f"{method} probes are binary; use dim or mse for several classes")
    problem = Problem(Xl, labels, n_classes, fold_of, n_folds, l2, scaling, timings)
    rules = {}
    for method in methods:
        with _timed(timings, method):
            rules[method] = METHODS[method].fit(problem)
    return rules


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
