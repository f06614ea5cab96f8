"""The steering hook: move a site's activations along a direction inside a ``with`` block.

This module knows direction tensors only (never :class:`SteeringVector`, which calls
:func:`steer` from its ``apply``); where each site lives comes from
:mod:`musicsteer.models.hookpoints`. How a direction moves an activation is an
:data:`Operator` (``norm_preserving_add`` by default), as in steering-vectors'
``steering_operators``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import NamedTuple
from weakref import WeakKeyDictionary

import numpy as np
import torch

from musicsteer.models.hookpoints import (
    AudioSpan,
    check_site,
    decoder_layers,
    hidden_size,
    hook_point,
    steerable_layers,
    write_hook,
)

CFG_MODES = ("both", "cond", "uncond")

# Beyond this |α| (in the units of h), h + α v̂ equals α v̂ to float32 precision, and the
# squares in ‖h + α v̂‖ would overflow float32 soon after: larger α are clamped to it,
# so any finite α steers to the limit ‖h‖ v̂ instead of to NaN.
MAX_ALPHA = 1e18

# (activations [rows, pos, d], shift α v̂ broadcastable to them) -> moved activations
Operator = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

# models inside a ``steer(..., cfg="cond" | "uncond")`` block (a count: blocks may nest)
_COND_ONLY: WeakKeyDictionary[torch.nn.Module, int] = WeakKeyDictionary()


def norm_preserving_add(hidden: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """``(h + s) · ‖h‖ / ‖h + s‖`` along the last dimension, ``s = α v̂`` (in float32).

    Runs once per steered layer and decoding step, so it allocates as little as it can:
    during generation its cost is set by allocations and dispatch, not arithmetic
    (in-place norms and scaling halved it, 49 → 31 µs per call at musicgen-small's
    width on CPU). ``hidden`` itself is never written: other code may hold it.
    """
    h = hidden if hidden.dtype == torch.float32 else hidden.float()
    moved = torch.add(h, shift)
    scale = torch.linalg.vector_norm(h, dim=-1, keepdim=True)
    scale.div_(torch.linalg.vector_norm(moved, dim=-1, keepdim=True).clamp_min_(1e-12))
    moved.mul_(scale)
    return moved if hidden.dtype == torch.float32 else moved.to(hidden.dtype)


def shift_of(direction: torch.Tensor, alpha: float) -> torch.Tensor:
    """``α v̂`` in float32, α clamped to ±:data:`MAX_ALPHA`; NaN or infinite α is refused."""
    if not math.isfinite(alpha):
        raise ValueError(f"alpha must be a finite number, got {alpha!r}")
    return min(max(float(alpha), -MAX_ALPHA), MAX_ALPHA) * direction.float()


def steered_in_cfg(model: torch.nn.Module) -> bool:
    """Whether ``model`` runs inside a block that steers one CFG half only."""
    return model in _COND_ONLY


class _Plan(NamedTuple):
    """Which rows of a batch move, and by what (worked out once per batch size and device)."""

    rows: slice | torch.Tensor
    shift: torch.Tensor
    every_row: bool


class _Steerer:
    """Moves the selected rows and audio positions of a tensor by a shift.

    ``shift`` is ``[d]`` (every row) or ``[rows, d]``, one per prompt row of the
    batch; a zero row leaves that prompt untouched, so settings can share a batch.
    With classifier-free guidance the batch holds each prompt twice (conditional
    half first): ``cfg`` says which halves move. Each batch size and device gets its
    rows and shift worked out once; when every row and position moves, the
    operator's result is returned as is (no copy of the activations).
    """

    def __init__(self, shift: torch.Tensor, cfg: str, span: AudioSpan | None, op: Operator):
        self.shift, self.cfg, self.span, self.operator = shift, cfg, span, op
        self._plans: dict[tuple[int, torch.device], _Plan] = {}

    def _plan(self, n_rows: int, device: torch.device) -> _Plan:
        key = (n_rows, device)
        plan = self._plans.get(key)
        if plan is None:
            rows, shift = self._rows_and_shift(n_rows)
            every_row = isinstance(rows, slice) and rows == slice(None)
            rows = rows if isinstance(rows, slice) else rows.to(device)
            plan = self._plans[key] = _Plan(rows, shift.to(device), every_row)
        return plan

    def _rows_and_shift(self, n_rows: int) -> tuple[slice | torch.Tensor, torch.Tensor]:
        if self.shift.dim() == 1:
            half = n_rows // 2
            rows = {"cond": slice(0, half), "uncond": slice(half, None)}.get(self.cfg, slice(None))
            return rows, self.shift
        prompts = self.shift.shape[0]
        if n_rows not in (prompts, 2 * prompts) or (self.cfg != "both" and n_rows == prompts):
            expected = f"2 × {prompts}" if self.cfg != "both" else f"{prompts} or 2 × {prompts}"
            raise RuntimeError(
                f"steering shifts for {prompts} prompts (cfg={self.cfg!r}) met a batch of "
                f"{n_rows} rows; expected {expected} prompts (one per CFG half)"
            )
        halves = {"cond": [0], "uncond": [prompts]}.get(self.cfg, range(0, n_rows, prompts))
        moved = self.shift.ne(0).any(dim=-1).nonzero().flatten()
        picked = torch.cat([moved + offset for offset in halves])
        shift = self.shift[moved].repeat(len(halves), 1).unsqueeze(1)
        return (slice(None) if len(picked) == n_rows else picked), shift

    def __call__(self, hidden: torch.Tensor) -> torch.Tensor:
        plan = self._plan(hidden.shape[0], hidden.device)
        n_audio = self.span.n_audio if self.span else hidden.shape[1]
        if plan.every_row and n_audio == hidden.shape[1]:
            return self.operator(hidden, plan.shift)
        cols = slice(hidden.shape[1] - n_audio, None)
        out = hidden.clone()
        out[plan.rows, cols] = self.operator(hidden[plan.rows, cols], plan.shift)
        return out


def _check_layers(directions: Mapping[int, torch.Tensor], site: str, n_layers: int, d: int) -> None:
    steerable = steerable_layers(site, n_layers)
    for layer, vec in directions.items():
        if layer not in steerable:
            raise ValueError(
                f"cannot steer {site} layer {layer}: the model has decoder layers "
                f"0..{n_layers - 1} (resid layer n_layers is the final output, after every layer)"
            )
        if vec.shape[-1:] != (d,) or vec.dim() > 2:
            raise ValueError(
                f"direction for layer {layer} has shape {tuple(vec.shape)}, model d={d}"
            )


@contextmanager
def steer(
    model: torch.nn.Module,
    directions: Mapping[int, np.ndarray | torch.Tensor],
    alpha: float | Mapping[int, float],
    site: str = "resid",
    cfg: str = "both",
    skip_prefix: bool = True,
    operator: Operator = norm_preserving_add,
) -> Iterator[None]:
    """Steer ``model`` inside the ``with`` block.

    Args:
        model: a MusicGen or MusicGen-Melody ``...ForConditionalGeneration``.
        directions: ``layer → direction [d]`` (normalised here to unit length).
        alpha: the strength α, one for all layers or one per layer; 0 leaves the model
            exactly as it is.
        site: ``"resid"`` (input of the layer) or ``"attn"`` (self-attention output);
            see :mod:`musicsteer.models.hookpoints`.
        cfg: ``"both"`` CFG halves, ``"cond"``: only the conditional first half of
            the batch, or ``"uncond"``: only the unconditional second half (a control:
            guidance then pushes away from the direction). One half needs
            ``guidance_scale > 1`` (without guidance the batch is not doubled):
            ``generate`` refuses to run inside such a block otherwise.
        skip_prefix: leave MusicGen-Melody's conditioning prefix untouched.
        operator: how a position moves by the shift ``α v̂``: ``operator(h, shift)``
            (default: the paper's norm-preserving addition). α beyond ±:data:`MAX_ALPHA`
            is clamped; NaN or infinite α is refused.
    """
    unit = {int(k): unit_vector(v) for k, v in directions.items()}
    wide = [k for k, v in unit.items() if v.dim() != 1]
    if wide:
        raise ValueError(f"directions must be vectors [d]; layers {wide} are not (steer_shifts?)")
    alphas = {k: float(alpha[k] if isinstance(alpha, Mapping) else alpha) for k in unit}
    shifts = {k: shift_of(v, alphas[k]) for k, v in unit.items()}
    with steer_shifts(model, shifts, site, cfg, skip_prefix, operator):
        yield


@contextmanager
def steer_shifts(
    model: torch.nn.Module,
    shifts: Mapping[int, torch.Tensor],
    site: str = "resid",
    cfg: str = "both",
    skip_prefix: bool = True,
    operator: Operator = norm_preserving_add,
) -> Iterator[None]:
    """Steer ``model`` by ready-made shifts ``layer → α v̂`` inside the ``with`` block.

    A shift is ``[d]`` (every prompt of the batch) or ``[prompts, d]``: one per prompt
    row, zero where that prompt is not steered at this layer. So one batch can carry
    different strengths and vectors (see :func:`steer` for the other arguments).
    A layer whose shift is zero everywhere gets no hook at all.
    """
    check_site(site)
    if cfg not in CFG_MODES:
        raise ValueError(f"cfg must be one of {CFG_MODES}, got {cfg!r}")
    shifts = {int(k): torch.as_tensor(v).float() for k, v in shifts.items()}
    _check_layers(shifts, site, len(decoder_layers(model)), hidden_size(model))
    for layer, shift in shifts.items():
        if not torch.isfinite(shift).all():
            raise ValueError(f"the steering shift at layer {layer} is not finite")
    shifts = {k: v for k, v in shifts.items() if v.any()}
    span = AudioSpan() if skip_prefix and shifts else None
    handles = []
    if cfg != "both":
        _COND_ONLY[model] = _COND_ONLY.get(model, 0) + 1
    try:
        if span is not None:
            handles.append(span.track(model))
        for layer, shift in shifts.items():
            steerer = _Steerer(shift, cfg, span, operator)
            handles.append(write_hook(hook_point(model, site, layer), steerer))
        yield  # with α = 0 no hook at all: exactly the unsteered model, not a rounding of it
    finally:
        for handle in handles:
            handle.remove()
        if cfg != "both":
            _COND_ONLY[model] -= 1
            if not _COND_ONLY[model]:
                del _COND_ONLY[model]


def unit_vector(vec: np.ndarray | torch.Tensor) -> torch.Tensor:
    """``vec / ‖vec‖`` in float32; a zero or non-finite vector is refused."""
    v = torch.as_tensor(np.asarray(vec, dtype=np.float32))
    norm = v.norm()
    if not torch.isfinite(norm) or norm == 0:
        raise ValueError("a steering direction is zero or not finite")
    return v / norm
