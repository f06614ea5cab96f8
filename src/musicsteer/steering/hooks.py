"""The steering hook: move a site's activations along a direction inside a ``with`` block.

This module knows direction tensors only (never :class:`SteeringVector`, which calls
:func:`steer` from its ``apply``); where each site lives comes from
:mod:`musicsteer.models.hookpoints`. How a direction moves an activation is an
:data:`Operator` (``norm_preserving_add`` by default), as in steering-vectors'
``steering_operators``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
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

# (activations [rows, pos, d], unit direction [d], α) -> moved activations, same shape
Operator = Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]

# models inside a ``steer(..., cfg="cond" | "uncond")`` block (a count: blocks may nest)
_COND_ONLY: WeakKeyDictionary[torch.nn.Module, int] = WeakKeyDictionary()


def norm_preserving_add(
    hidden: torch.Tensor, direction: torch.Tensor, alpha: float
) -> torch.Tensor:
    """``(h + α v) · ‖h‖ / ‖h + α v‖`` along the last dimension (computed in float32)."""
    h = hidden.float()
    moved = h + alpha * direction.float()
    scale = h.norm(dim=-1, keepdim=True) / moved.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return (moved * scale).to(hidden.dtype)


def steered_in_cfg(model: torch.nn.Module) -> bool:
    """Whether ``model`` runs inside a block that steers one CFG half only."""
    return model in _COND_ONLY


class _Steerer:
    """Applies one direction to the selected rows and audio positions of a tensor."""

    def __init__(
        self,
        direction: torch.Tensor,
        alpha: float,
        cfg: str,
        span: AudioSpan | None,
        operator: Operator,
    ):
        self.direction, self.alpha, self.cfg, self.span = direction, alpha, cfg, span
        self.operator = operator

    def __call__(self, hidden: torch.Tensor) -> torch.Tensor:
        half = hidden.shape[0] // 2
        rows = {"cond": slice(0, half), "uncond": slice(half, None)}.get(self.cfg, slice(None))
        cols = slice(hidden.shape[1] - self.span.n_audio, None) if self.span else slice(None)
        out = hidden.clone()
        v = self.direction.to(hidden.device)
        out[rows, cols] = self.operator(hidden[rows, cols], v, self.alpha)
        return out


def _check_layers(directions: Mapping[int, torch.Tensor], site: str, n_layers: int, d: int) -> None:
    steerable = steerable_layers(site, n_layers)
    for layer, vec in directions.items():
        if layer not in steerable:
            raise ValueError(
                f"cannot steer {site} layer {layer}: the model has decoder layers "
                f"0..{n_layers - 1} (resid layer n_layers is the final output, after every layer)"
            )
        if vec.shape != (d,):
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
        operator: how a position moves along the direction (default: the paper's
            norm-preserving addition).
    """
    check_site(site)
    if cfg not in CFG_MODES:
        raise ValueError(f"cfg must be one of {CFG_MODES}, got {cfg!r}")
    unit = {int(k): _unit(v) for k, v in directions.items()}
    _check_layers(unit, site, len(decoder_layers(model)), hidden_size(model))
    alphas = {k: float(alpha[k] if isinstance(alpha, Mapping) else alpha) for k in unit}
    unit = {k: v for k, v in unit.items() if alphas[k] != 0}
    span = AudioSpan() if skip_prefix and unit else None
    handles = []
    if cfg != "both":
        _COND_ONLY[model] = _COND_ONLY.get(model, 0) + 1
    try:
        if span is not None:
            handles.append(span.track(model))
        for layer, vec in unit.items():
            steerer = _Steerer(vec, alphas[layer], cfg, span, operator)
            handles.append(write_hook(hook_point(model, site, layer), steerer))
        yield  # with α = 0 no hook at all: exactly the unsteered model, not a rounding of it
    finally:
        for handle in handles:
            handle.remove()
        if cfg != "both":
            _COND_ONLY[model] -= 1
            if not _COND_ONLY[model]:
                del _COND_ONLY[model]


def _unit(vec: np.ndarray | torch.Tensor) -> torch.Tensor:
    v = torch.as_tensor(np.asarray(vec, dtype=np.float32))
    norm = v.norm()
    if not torch.isfinite(norm) or norm == 0:
        raise ValueError("a steering direction is zero or not finite")
    return v / norm
