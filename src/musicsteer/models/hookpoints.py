"""Where each site lives in a MusicGen decoder: the one module that knows the paths.

Capture (:mod:`musicsteer.activations`) and steering (:mod:`musicsteer.steering.hooks`)
both address the model through :func:`hook_point`, as steering-vectors' recorder and
steering share ``layer_matching``. Sites and their TransformerLens names
(``blocks.{l}.hook_*``):

* ``"resid"`` layer ``l < n_layers``: the residual stream entering block ``l``
  (``hook_resid_pre``, equal to ``output_hidden_states[l]``), ``[batch, pos, d]``.
  Layer ``n_layers`` is the raw output of the last block (``hook_resid_post`` of
  block ``n_layers - 1``, before the final LayerNorm): captured, never steered.
* ``"attn"`` layer ``l``: the self-attention output of block ``l`` after ``out_proj``
  and before the residual add (``hook_attn_out``), ``[batch, pos, d]``.

The layer column is called ``layer`` in every table; :func:`site_layers` and
:func:`steerable_layers` are the only spelling of the index convention.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, cast

import torch
from torch.utils.hooks import RemovableHandle

SITES = ("resid", "attn")
HookKind = Literal["pre", "post"]  # a forward pre-hook on the input, or a hook on the output


def decoder_layers(model: torch.nn.Module) -> torch.nn.ModuleList:
    """The transformer blocks of a MusicGen(-Melody) ``...ForConditionalGeneration``."""
    return model.decoder.model.decoder.layers  # type: ignore[union-attr,return-value]


def inner_decoder(model: torch.nn.Module) -> torch.nn.Module:
    """The decoder stack (embeddings, blocks, final LayerNorm)."""
    return model.decoder.model.decoder  # type: ignore[union-attr,return-value]


def hidden_size(model: torch.nn.Module) -> int:
    """The decoder's width ``d``."""
    return int(cast(Any, model.decoder).config.hidden_size)


def check_site(site: str) -> None:
    """Raise a ``ValueError`` naming the sites unless ``site`` is one."""
    if site not in SITES:
        raise ValueError(f"site must be one of {SITES}, got {site!r}")


def site_layers(site: str, n_layers: int) -> range:
    """Every layer index a site has in a ``n_layers``-block model (what capture stores)."""
    check_site(site)
    return range(n_layers + 1 if site == "resid" else n_layers)


def steerable_layers(site: str, n_layers: int) -> range:
    """The layer indices steering can hook (resid's final output is not one)."""
    check_site(site)
    return range(n_layers)


def n_layers_from_stored(site: str, n_stored: int) -> int:
    """The model's block count, from how many layer indices a site's store holds."""
    check_site(site)
    return n_stored - 1 if site == "resid" else n_stored


@dataclass(frozen=True)
class HookPoint:
    """One (site, layer) of a model: the module to hook and on which side."""

    site: str
    layer: int
    module: torch.nn.Module
    kind: HookKind


def hook_point(model: torch.nn.Module, site: str, layer: int) -> HookPoint:
    """The module and hook kind of ``(site, layer)``; a ``ValueError`` names the range."""
    blocks = decoder_layers(model)
    valid = site_layers(site, len(blocks))
    if layer not in valid:
        raise ValueError(
            f"{site} layer {layer} is outside 0..{valid[-1]} of this {len(blocks)}-layer model"
        )
    if site == "attn":
        return HookPoint(site, layer, cast(torch.nn.Module, blocks[layer].self_attn), "post")
    if layer == len(blocks):
        return HookPoint(site, layer, blocks[-1], "post")
    return HookPoint(site, layer, blocks[layer], "pre")


def _hidden_from_call(args: tuple, kwargs: dict) -> torch.Tensor:
    return args[0] if args else kwargs["hidden_states"]


def output_tensor(output: torch.Tensor | tuple) -> torch.Tensor:
    """The tensor part of a module output (Melody's layers return tuples)."""
    return output[0] if isinstance(output, tuple) else output


def read_hook(point: HookPoint, read: Callable[[torch.Tensor], None]) -> RemovableHandle:
    """Register a hook that hands the point's activations ``[batch, pos, d]`` to ``read``."""
    if point.kind == "pre":

        def pre(_m: torch.nn.Module, args: tuple, kwargs: dict) -> None:
            read(_hidden_from_call(args, kwargs))

        return point.module.register_forward_pre_hook(pre, with_kwargs=True)

    def post(_m: torch.nn.Module, _args: tuple, output: torch.Tensor | tuple) -> None:
        read(output_tensor(output))

    return point.module.register_forward_hook(post)


def write_hook(point: HookPoint, write: Callable[[torch.Tensor], torch.Tensor]) -> RemovableHandle:
    """Register a hook that replaces the point's activations by ``write(activations)``."""
    if point.kind == "pre":

        def pre(_m: torch.nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
            if args:
                return (write(args[0]), *args[1:]), kwargs
            return args, {**kwargs, "hidden_states": write(kwargs["hidden_states"])}

        return point.module.register_forward_pre_hook(pre, with_kwargs=True)

    def post(_m: torch.nn.Module, _args: tuple, output: torch.Tensor | tuple) -> object:
        if isinstance(output, tuple):
            return (write(output[0]), *output[1:])
        return write(output)

    return point.module.register_forward_hook(post)


@dataclass
class AudioSpan:
    """How many trailing positions of the decoder sequence are audio tokens.

    MusicGen-Melody prepends its conditioning to the sequence; its length is the
    hidden length minus this. Updated by a pre-hook on every decoder call, so it is
    right for the prefill (T audio tokens) and for cached steps (1 token) alike.
    """

    n_audio: int = 0

    def hook(self, _module: torch.nn.Module, args: tuple, kwargs: dict) -> None:
        """Forward pre-hook on the decoder stack: read the audio length of this call."""
        ids = kwargs.get("input_ids", args[0] if args else None)
        if ids is not None:
            self.n_audio = int(ids.shape[-1])
        else:
            self.n_audio = int(kwargs["inputs_embeds"].shape[1])

    def track(self, model: torch.nn.Module) -> RemovableHandle:
        """Keep this span up to date on every decoder call of ``model``."""
        return inner_decoder(model).register_forward_pre_hook(self.hook, with_kwargs=True)
