"""Norm-preserving activation steering of MusicGen, scoped by a context manager.

At each steered position the activation ``h`` becomes

    h' = (h + α v̂) · ‖h‖ / ‖h + α v̂‖

so its norm is kept. ``site="resid"`` hooks the input of decoder layer ``l``
(a forward pre-hook); ``site="attn"`` hooks the output of ``layers[l].self_attn``
before it is added to the residual stream. Hooks live only inside the ``with``
block and are removed in ``finally``; the model itself is never modified.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from musicsteer.activations import AudioSpan, _first
from musicsteer.models import MusicGen, decoder_layers, inner_decoder
from musicsteer.vectors import SITES, SteeringVector

__all__ = [
    "SteeringVector",
    "apply_vector",
    "generate",
    "generate_pair_samples",
    "norm_preserving_add",
    "steer",
]
CFG_MODES = ("both", "cond")


def norm_preserving_add(
    hidden: torch.Tensor, direction: torch.Tensor, alpha: float
) -> torch.Tensor:
    """``(h + α v) · ‖h‖ / ‖h + α v‖`` along the last dimension (computed in float32)."""
    h = hidden.float()
    moved = h + alpha * direction.float()
    scale = h.norm(dim=-1, keepdim=True) / moved.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return (moved * scale).to(hidden.dtype)


class _Steerer:
    """Applies one direction to the selected rows and audio positions of a tensor."""

    def __init__(self, direction: torch.Tensor, alpha: float, cfg: str, span: AudioSpan | None):
        self.direction, self.alpha, self.cfg, self.span = direction, alpha, cfg, span

    def __call__(self, hidden: torch.Tensor) -> torch.Tensor:
        rows = slice(0, hidden.shape[0] // 2) if self.cfg == "cond" else slice(None)
        cols = slice(hidden.shape[1] - self.span.n_audio, None) if self.span else slice(None)
        out = hidden.clone()
        v = self.direction.to(hidden.device)
        out[rows, cols] = norm_preserving_add(hidden[rows, cols], v, self.alpha)
        return out


def _resid_hook(steer_fn: _Steerer) -> Callable:
    def hook(_m: torch.nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        if args:
            return (steer_fn(args[0]), *args[1:]), kwargs
        return args, {**kwargs, "hidden_states": steer_fn(kwargs["hidden_states"])}

    return hook


def _attn_hook(steer_fn: _Steerer) -> Callable:
    def hook(_m: torch.nn.Module, _args: tuple, output: torch.Tensor | tuple) -> object:
        if isinstance(output, tuple):
            return (steer_fn(_first(output)), *output[1:])
        return steer_fn(output)

    return hook


def _check_layers(directions: Mapping[int, torch.Tensor], n_layers: int, d: int) -> None:
    for layer, vec in directions.items():
        if not 0 <= layer < n_layers:
            raise ValueError(
                f"cannot steer layer {layer}: the model has decoder layers 0..{n_layers - 1} "
                "(the residual index n_layers is the final output, after every layer)"
            )
        if vec.shape != (d,):
            raise ValueError(
                f"direction for layer {layer} has shape {tuple(vec.shape)}, model d={d}"
            )


@contextmanager
def steer(
    model: torch.nn.Module,
    directions: Mapping[int, np.ndarray | torch.Tensor],
    alpha: float,
    site: str = "resid",
    cfg: str = "both",
    skip_prefix: bool = True,
) -> Iterator[None]:
    """Steer ``model`` inside the ``with`` block.

    Args:
        model: a MusicGen or MusicGen-Melody ``...ForConditionalGeneration``.
        directions: ``layer → direction [d]`` (normalised here to unit length).
        alpha: the strength α; 0 leaves the model exactly as it is.
        site: ``"resid"`` (input of the layer) or ``"attn"`` (self-attention output).
        cfg: ``"both"`` CFG halves, or ``"cond"``: only the conditional first half of
            the batch (use with ``guidance_scale > 1``).
        skip_prefix: leave MusicGen-Melody's conditioning prefix untouched.
    """
    if site not in SITES:
        raise ValueError(f"site must be one of {SITES}, got {site!r}")
    if cfg not in CFG_MODES:
        raise ValueError(f"cfg must be one of {CFG_MODES}, got {cfg!r}")
    layers = decoder_layers(model)
    d = int(model.decoder.config.hidden_size)
    unit = {int(k): _unit(v) for k, v in directions.items()}
    _check_layers(unit, len(layers), d)
    if alpha == 0:  # exactly the unsteered model, not a rounding of it
        yield
        return
    span = AudioSpan() if skip_prefix else None
    handles = []
    try:
        if span is not None:
            handles.append(
                inner_decoder(model).register_forward_pre_hook(span.hook, with_kwargs=True)
            )
        for layer, vec in unit.items():
            fn = _Steerer(vec, float(alpha), cfg, span)
            if site == "resid":
                handles.append(
                    layers[layer].register_forward_pre_hook(_resid_hook(fn), with_kwargs=True)
                )
            else:
                handles.append(layers[layer].self_attn.register_forward_hook(_attn_hook(fn)))
        yield
    finally:
        for handle in handles:
            handle.remove()


def _unit(vec: np.ndarray | torch.Tensor) -> torch.Tensor:
    v = torch.as_tensor(np.asarray(vec, dtype=np.float32))
    norm = v.norm()
    if not torch.isfinite(norm) or norm == 0:
        raise ValueError("a steering direction is zero or not finite")
    return v / norm


def resolve_layers(vector: SteeringVector, layers: str | int | Sequence[int] | None) -> list[int]:
    """``None``/``"best"`` → the vector's chosen layer; ``"all"`` → every steerable layer."""
    if layers is None or layers == "best":
        return [vector.layer]
    if layers == "all":
        n = vector.directions.shape[0] - (1 if vector.site == "resid" else 0)
        return [i for i in range(n) if np.any(vector.directions[i])]
    if isinstance(layers, int):
        return [layers]
    return [int(x) for x in layers]


@contextmanager
def apply_vector(
    vector: SteeringVector,
    model: torch.nn.Module,
    alpha: float,
    site: str | None = None,
    layers: str | int | Sequence[int] | None = None,
    cfg: str = "both",
    skip_prefix: bool = True,
    relative: bool = False,
) -> Iterator[None]:
    """Steer with a saved :class:`SteeringVector` (see :func:`steer`).

    ``relative=True`` multiplies α by the mean projection of the training activations
    onto the direction at each layer (the paper's α search is around that value).
    """
    if vector.d != int(model.decoder.config.hidden_size):
        raise ValueError(
            f"vector has d={vector.d} (from {vector.model or 'unknown model'}), "
            f"the model has d={model.decoder.config.hidden_size}"
        )
    chosen = resolve_layers(vector, layers)
    scale = 1.0
    if relative:
        if not vector.mean_projection:
            raise ValueError("relative alpha needs mean_projection stored with the vector")
        scale = float(np.mean([abs(vector.mean_projection[i]) for i in chosen]))
    with steer(model, {i: vector.directions[i] for i in chosen}, alpha * scale,
               site or vector.site, cfg, skip_prefix):  # fmt: skip
        yield


# ---------------------------------------------------------------------- generation


@torch.inference_mode()
def generate(
    mg: MusicGen,
    prompts: Sequence[str],
    max_new_tokens: int,
    seed: int = 0,
    guidance_scale: float = 3.0,
    do_sample: bool = True,
    melody: np.ndarray | None = None,
    return_codes: bool = False,
) -> np.ndarray | tuple[np.ndarray, torch.Tensor]:
    """Generate audio ``[B, samples]`` (float32, ``mg.sample_rate``) for text prompts.

    ``melody`` (32-kHz mono) conditions MusicGen-Melody through its chroma. With
    ``return_codes`` the decoder's input tokens of every step are returned too
    (``[B * K (* 2 with CFG), steps]``): equal codes mean equal generations.
    """
    from musicsteer.models import melody_chroma

    inputs = mg.tokenizer(list(prompts), return_tensors="pt", padding=True).to(mg.device)
    if melody is not None and mg.is_melody:
        chroma = melody_chroma(np.broadcast_to(melody, (len(prompts), len(melody))), mg.sample_rate)
        inputs["input_features"] = chroma.to(mg.device, dtype=mg.model.dtype)
    torch.manual_seed(seed)
    steps: list[torch.Tensor] = []
    hook = inner_decoder(mg.model).register_forward_pre_hook(
        lambda _m, a, k: steps.append((k.get("input_ids", a[0] if a else None))[:, -1:].clone()),
        with_kwargs=True,
    )
    try:
        audio = mg.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=do_sample,
                                  guidance_scale=guidance_scale)  # fmt: skip
    finally:
        hook.remove()
    waves = audio[:, 0].float().cpu().numpy()
    return (waves, torch.cat(steps, dim=1)) if return_codes else waves


def generate_pair_samples(
    mg: MusicGen,
    vector: SteeringVector,
    prompts: Sequence[str],
    seeds: Sequence[int],
    out_dir: str | Path,
    alpha: float,
    relative: bool = False,
    site: str | None = None,
    cfg: str = "both",
    max_new_tokens: int = 500,
    guidance_scale: float = 3.0,
) -> pd.DataFrame:
    """Original and steered WAVs for every prompt × seed; the pair shares prompt and seed.

    Returns one row per WAV: ``path, kind, prompt_id, prompt, seed, alpha, site,
    method, layer``.
    """
    from musicsteer.audio import write_wav

    out = Path(out_dir)
    rows = []
    for seed in seeds:
        original = generate(mg, prompts, max_new_tokens, seed, guidance_scale)
        with apply_vector(vector, mg.model, alpha, site, None, cfg, relative=relative):
            steered = generate(mg, prompts, max_new_tokens, seed, guidance_scale)
        for kind, waves in (("original", original), ("steered", steered)):
            for i, (prompt, wave) in enumerate(zip(prompts, waves, strict=True)):
                path = write_wav(out / f"{kind}_p{i:02d}_s{seed}.wav", wave, mg.sample_rate)
                rows.append({
                    "path": str(path), "kind": kind, "prompt_id": i, "prompt": prompt,
                    "seed": seed, "alpha": alpha if kind == "steered" else 0.0,
                    "site": site or vector.site, "method": vector.method, "layer": vector.layer,
                })  # fmt: skip
    return pd.DataFrame(rows)
