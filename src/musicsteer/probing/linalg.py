"""Batched linear algebra for the penalised probes: every layer and fold in one solve.

Primal form (clips ≥ features): :class:`_Primal` fits all folds at once on implicitly
scaled features, preconditioned by one Cholesky factor per layer (conjugate gradients
for ridge, L-BFGS for logistic). Dual form (fewer clips): :class:`_DualFold` solves one
fold on its ``n × n`` clip Gram matrix. Weights live on scaled features and are mapped
back to raw activations by :class:`_Rules`. :mod:`musicsteer.probing.solvers` turns
these into direction methods.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

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


class _DualFold:
    """Ridge and logistic probes of one fold in dual form, for clips < features.

    The ``n × n`` clip Gram matrix replaces the ``d × d`` one; ``T [n_train, m]``. The
    ridge solve is shared: it is the mse fit and the logistic fit's warm start.
    """

    def __init__(
        self, Xl: torch.Tensor, rows: torch.Tensor, T: torch.Tensor, l2: float, scaling: str
    ):
        Z = Xl.index_select(1, rows)
        L, n, d = Z.shape
        mean = Z.mean(1, keepdim=True)
        Z.sub_(mean)
        std = _scale(Z.square().mean(1, keepdim=True), scaling)
        Z.div_(std)
        self.standardised = _Features(Xl, mean.transpose(0, 1), 1.0 / std.transpose(0, 1))
        self.plain = _Features.plain(Z)
        self.K = torch.bmm(Z, Z.mT)
        self.ridge_strength = l2 * n
        self.l2, self.n, self.T = l2, n, T
        factor = _cholesky(_add_diagonal(self.K, self.ridge_strength))
        self.intercept = T.mean(0)
        centred = (T - self.intercept).expand(L, n, -1)
        alpha = _cholesky_solve(factor, centred)
        residual = centred - torch.bmm(self.K, alpha) - self.ridge_strength * alpha
        self.alpha = alpha + _cholesky_solve(factor, residual)

    def ridge(self) -> _Rules:
        w = self.plain.apply_t(self.alpha.unsqueeze(2))  # Zᵀ α: [1, L, d, m]
        L = w.shape[1]
        return _Rules.from_standardised(w, self.intercept.expand(1, L, -1), self.standardised)

    def logistic(self) -> _Rules:
        n = self.n
        phi = _row_space_features(self.K)
        phi_factor = _cholesky(_add_diagonal(torch.bmm(phi.mT, phi), self.ridge_strength))
        c0 = _BCE_WARM_START * torch.bmm(phi.mT, self.alpha).squeeze(-1)  # Φᵀ α ≙ the ridge w
        c, b = _fit_logistic(
            _Features.plain(phi), phi_factor, n, self.T[:, 0], torch.ones(n, 1), self.l2, c0[None]
        )
        a = torch.linalg.solve_triangular(phi.mT, c[0].unsqueeze(-1), upper=True)  # Φ⁻ᵀ c
        w = self.plain.apply_t(a.unsqueeze(2))
        return _Rules.from_standardised(w, b.unsqueeze(-1), self.standardised)


def _stack_rules(per_fold: list[_Rules]) -> _Rules:
    """Concatenate single-fold rules along the fold axis."""
    return _Rules(torch.cat([r.weight for r in per_fold]), torch.cat([r.bias for r in per_fold]))
