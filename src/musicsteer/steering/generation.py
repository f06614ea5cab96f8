"""Generation with MusicGen(-Melody): prompts × seeds in batches, unsteered or steered.

:func:`generate_originals` and :func:`generate_steered` share prompts, seeds, batches
and sampling, so a steered sample differs from its original only by the steering
(:meth:`SteeringVector.apply` → :func:`musicsteer.steering.hooks.steer`). Every WAV
is written atomically and every samples table records the settings that made it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import torch

from musicsteer.models.hookpoints import inner_decoder
from musicsteer.models.loading import MusicGen
from musicsteer.steering.grid import Setting
from musicsteer.steering.hooks import steered_in_cfg
from musicsteer.steering.vector import (
    ALPHA_SCALES,
    SteeringVector,
    alpha_unit,
    resolve_layers,
)

# sampling defaults of audiocraft (transformers' own top_k default is 50)
TOP_K, TOP_P, TEMPERATURE = 250, 0.0, 1.0


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
    top_k: int = TOP_K,
    top_p: float | None = TOP_P,
    temperature: float = TEMPERATURE,
) -> np.ndarray | tuple[np.ndarray, torch.Tensor]:
    """Generate audio ``[B, samples]`` (float32, ``mg.sample_rate``) for text prompts.

    ``melody`` (32-kHz mono) conditions MusicGen-Melody through its chroma. With
    ``return_codes`` the decoder's input tokens of every step are returned too
    (``[B * K (* 2 with CFG), steps]``): equal codes mean equal generations.
    Sampling keeps the ``top_k`` most likely codes (audiocraft's 250; 0 = all) and,
    with ``0 < top_p < 1``, the smallest set of them holding ``top_p`` of the
    probability; ``temperature`` divides the logits first. Greedy decoding
    (``do_sample=False``) ignores all three. Refuses ``guidance_scale <= 1`` inside a
    ``steer(..., cfg="cond" | "uncond")`` block: without guidance there are no halves.
    """
    from musicsteer.models.chroma import melody_chroma

    check_sampling(top_k, top_p, temperature)
    if guidance_scale <= 1 and steered_in_cfg(mg.model):
        raise ValueError(
            f"cfg 'cond'/'uncond' steers one half of a classifier-free-guidance "
            f"batch, but guidance_scale={guidance_scale:g} turns guidance off (the batch is "
            "not doubled, so half the prompts would be steered): use cfg='both' or "
            "guidance_scale > 1"
        )
    if melody is not None and not mg.is_melody:
        raise ValueError(f"{mg.name} is not MusicGen-Melody: it cannot take a melody")
    inputs = mg.tokenizer(list(prompts), return_tensors="pt", padding=True).to(mg.device)
    if melody is not None:
        chroma = melody_chroma(
            np.tile(np.asarray(melody, np.float32), (len(prompts), 1)), mg.sample_rate
        )
        inputs["input_features"] = chroma.to(mg.device, dtype=mg.model.dtype)
    steps: list[torch.Tensor] = []
    hook = (
        inner_decoder(mg.model).register_forward_pre_hook(
            lambda _m, a, k: steps.append(
                (k.get("input_ids", a[0] if a else None))[:, -1:].clone()
            ),
            with_kwargs=True,
        )
        if return_codes
        else None
    )
    sampling = (
        {
            "top_k": int(top_k),
            "top_p": float(top_p) if top_p else 1.0,
            "temperature": float(temperature),
        }
        if do_sample
        else {}
    )
    torch.manual_seed(seed)
    try:
        audio = cast(Any, mg.model).generate(
            **inputs,
            max_new_tokens=max_new_tokens,
            do_sample=do_sample,
            guidance_scale=guidance_scale,
            **sampling,
        )
    finally:
        if hook is not None:
            hook.remove()
    waves = audio[:, 0].float().cpu().numpy()
    return (waves, torch.cat(steps, dim=1)) if return_codes else waves


def check_sampling(top_k: int, top_p: float | None, temperature: float) -> None:
    """Raise a ``ValueError`` naming the sampling parameter that is out of range."""
    if isinstance(top_k, bool) or int(top_k) != top_k or top_k < 0:
        raise ValueError(f"top_k must be a whole number >= 0 (0 = no limit), got {top_k!r}")
    if top_p is not None and not 0 <= top_p <= 1:
        raise ValueError(f"top_p must be in [0, 1] (0 = off), got {top_p!r}")
    if not temperature > 0 or not np.isfinite(temperature):
        raise ValueError(f"temperature must be positive, got {temperature!r}")


def _write_batch(
    mg: MusicGen, waves: np.ndarray, prompts: pd.DataFrame, seed: int, out: Path, stem: str
) -> list[dict]:
    from musicsteer.audio import write_wav

    rows = []
    for prompt, wave in zip(prompts.itertuples(index=False), waves, strict=True):
        path = write_wav(out / f"{stem}_p{prompt.prompt_id:02d}_s{seed}.wav", wave, mg.sample_rate)
        rows.append(
            {
                "path": str(path),
                "prompt_id": int(prompt.prompt_id),  # type: ignore[arg-type]
                "prompt": prompt.prompt,
                "seed": seed,
            }
        )
    return rows


def generation_settings(
    max_new_tokens: int,
    guidance_scale: float,
    top_k: int = TOP_K,
    top_p: float | None = TOP_P,
    temperature: float = TEMPERATURE,
) -> dict[str, int | float]:
    """The generation settings a samples table records, one column each."""
    return {
        "max_new_tokens": int(max_new_tokens),
        "guidance_scale": float(guidance_scale),
        "top_k": int(top_k),
        "top_p": float(top_p or 0.0),
        "temperature": float(temperature),
    }


def generate_originals(
    mg: MusicGen,
    prompts: pd.DataFrame,
    seeds: Sequence[int],
    out_dir: str | Path,
    max_new_tokens: int,
    guidance_scale: float = 3.0,
    melody: np.ndarray | None = None,
    top_k: int = TOP_K,
    top_p: float | None = TOP_P,
    temperature: float = TEMPERATURE,
) -> pd.DataFrame:
    """Unsteered WAVs for every prompt × seed (``prompts``: ``prompt_id, prompt``).

    Each seed generates all prompts as one batch; a steered sample made with the same
    prompts, seed, batch and settings by :func:`generate_steered` differs only by the
    steering. The table records the settings (:func:`generation_settings`).
    """
    check_sampling(top_k, top_p, temperature)
    sampling: dict[str, Any] = {"top_k": top_k, "top_p": top_p, "temperature": temperature}
    made_with = generation_settings(max_new_tokens, guidance_scale, **sampling)
    rows = []
    for seed in map(int, seeds):
        waves = cast(
            np.ndarray,
            generate(
                mg,
                prompts.prompt.tolist(),
                max_new_tokens,
                seed,
                guidance_scale,
                melody=melody,
                **sampling,
            ),
        )
        for row in _write_batch(mg, waves, prompts, seed, Path(out_dir), "original"):
            rows.append({**row, **made_with})
    table = pd.DataFrame(rows)
    table["kind"] = "original"
    return table


def generate_steered(
    mg: MusicGen,
    vectors: Mapping[tuple[str, str, str], SteeringVector],
    settings: Sequence[Setting],
    prompts: pd.DataFrame,
    seeds: Sequence[int],
    out_dir: str | Path,
    max_new_tokens: int,
    guidance_scale: float = 3.0,
    cfg: str = "both",
    alpha_scale: str = "norm",
    melody: np.ndarray | None = None,
    skip_prefix: bool = True,
    progress: Callable[[Iterable], Iterable] = iter,
    top_k: int = TOP_K,
    top_p: float | None = TOP_P,
    temperature: float = TEMPERATURE,
) -> pd.DataFrame:
    """Steered WAVs for every setting × prompt × seed.

    ``vectors`` maps ``(target, site, method)`` to the vector a setting uses; α is in
    units of ``alpha_scale`` (see :meth:`SteeringVector.apply`). Every WAV is named by all
    choices (:meth:`Setting.stem`, prompt, seed) and shares prompt, seed and batch
    with the original of :func:`generate_originals`. The table records the generation
    settings and ``alpha_scale``, ``cfg``, ``skip_prefix``.
    """
    check_sampling(top_k, top_p, temperature)
    if alpha_scale not in ALPHA_SCALES:
        raise ValueError(f"alpha_scale must be one of {ALPHA_SCALES}, got {alpha_scale!r}")
    if cfg != "both" and guidance_scale <= 1:
        raise ValueError(
            f"cfg={cfg!r} needs classifier-free guidance, but guidance_scale={guidance_scale:g} "
            "turns it off: use cfg='both' or guidance_scale > 1"
        )
    for setting in settings:  # a unit missing at any layer fails now, not hours later
        vector = vectors[(setting.target, setting.site, setting.method)]
        for layer in resolve_layers(vector, setting.layers):
            alpha_unit(vector, layer, alpha_scale)
    sampling: dict[str, Any] = {"top_k": top_k, "top_p": top_p, "temperature": temperature}
    made_with = {
        **generation_settings(max_new_tokens, guidance_scale, **sampling),
        "alpha_scale": alpha_scale,
        "cfg": cfg,
        "skip_prefix": bool(skip_prefix),
    }
    rows = []
    for setting in progress(settings):
        vector = vectors[(setting.target, setting.site, setting.method)]
        chosen = resolve_layers(vector, setting.layers)
        for seed in map(int, seeds):
            with vector.apply(
                mg.model, setting.alpha, setting.site, chosen, cfg, skip_prefix, alpha_scale
            ):
                waves = cast(
                    np.ndarray,
                    generate(
                        mg,
                        prompts.prompt.tolist(),
                        max_new_tokens,
                        seed,
                        guidance_scale,
                        melody=melody,
                        **sampling,
                    ),
                )
            for row in _write_batch(mg, waves, prompts, seed, Path(out_dir), setting.stem()):
                rows.append(
                    {**row, **asdict(setting), "layer": ",".join(map(str, chosen)), **made_with}
                )
    table = pd.DataFrame(rows)
    table["kind"] = "steered"
    return table
