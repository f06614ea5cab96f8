"""Generation with MusicGen(-Melody): prompts × seeds in batches, unsteered or steered.

:func:`generate_originals` and :func:`generate_steered` share prompts, seeds, batches
and sampling, so a steered sample differs from its original only by the steering
(:meth:`SteeringVector.apply` → :func:`musicsteer.steering.hooks.steer`). Every WAV
is written atomically and every samples table records the settings that made it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import torch

from musicsteer.models.hookpoints import inner_decoder
from musicsteer.models.loading import MusicGen
from musicsteer.steering.grid import Setting
from musicsteer.steering.hooks import shift_of, steer_shifts, steered_in_cfg, unit_vector
from musicsteer.steering.sampling import GuidanceFirst, RowSampler, row_key
from musicsteer.steering.vector import (
    ALPHA_SCALES,
    SteeringVector,
    absolute_alpha,
    alpha_unit,
    check_fits,
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
    row_keys: Sequence[int] | None = None,
    progress: Callable[[int], object] | None = None,
) -> np.ndarray | tuple[np.ndarray, torch.Tensor]:
    """Generate audio ``[B, samples]`` (float32, ``mg.sample_rate``) for text prompts.

    ``progress`` (e.g. a tqdm bar's ``update``) is called with 1 after every decoder
    step.

    Each prompt row samples from its own generator (:class:`RowSampler`), seeded by its
    ``row_keys`` entry (default: ``row_key(seed, row)``): a row's sample does not depend
    on the other rows of its batch.

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
    hooks = []
    if return_codes:
        hooks.append(
            inner_decoder(mg.model).register_forward_pre_hook(
                lambda _m, a, k: steps.append(
                    (k.get("input_ids", a[0] if a else None))[:, -1:].clone()
                ),
                with_kwargs=True,
            )
        )
    if progress is not None:

        def step_done(*_: object) -> None:  # returns None: a hook's value replaces the output
            progress(1)

        hooks.append(inner_decoder(mg.model).register_forward_hook(step_done))
    keys = (
        list(row_keys) if row_keys is not None else [row_key(seed, i) for i in range(len(prompts))]
    )
    if len(keys) != len(prompts):
        raise ValueError(f"{len(keys)} row keys for {len(prompts)} prompts")
    # greedy over the sampler's one surviving code = the sampler's draw
    sampler = RowSampler(keys, mg.num_codebooks, top_k, top_p, temperature, mg.device)
    processors = GuidanceFirst([sampler]) if do_sample else None
    torch.manual_seed(seed)
    try:
        audio = cast(Any, mg.model).generate(
            **inputs,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            guidance_scale=guidance_scale,
            logits_processor=processors,
            top_k=None,
            top_p=None,
            temperature=None,
        )
    finally:
        for hook in hooks:
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


@dataclass(frozen=True)
class Sample:
    """One sample to generate: a prompt, a seed and, if steered, its shifts.

    ``shifts`` maps ``(site, layer)`` to ``α v̂`` (absolute units, float32); empty for
    an original. ``stem`` names its WAV; ``record`` is what its table row adds.
    """

    prompt_id: int
    prompt: str
    seed: int
    stem: str
    shifts: Mapping[tuple[str, int], torch.Tensor] = field(default_factory=dict)
    record: Mapping[str, Any] = field(default_factory=dict)


def _batch_shifts(batch: Sequence[Sample]) -> dict[str, dict[int, torch.Tensor]]:
    """``site → layer → [rows, d]`` shifts of a batch, zero for rows not steered there."""
    keys = sorted({key for sample in batch for key in sample.shifts})
    by_site: dict[str, dict[int, torch.Tensor]] = {}
    for site, layer in keys:
        rows = [sample.shifts.get((site, layer)) for sample in batch]
        d = next(r for r in rows if r is not None).shape[-1]
        zero = torch.zeros(d)
        by_site.setdefault(site, {})[layer] = torch.stack([zero if r is None else r for r in rows])
    return by_site


def generate_samples(
    mg: MusicGen,
    samples: Sequence[Sample],
    out_dir: str | Path,
    max_new_tokens: int,
    guidance_scale: float = 3.0,
    batch_size: int = 16,
    cfg: str = "both",
    skip_prefix: bool = True,
    melody: np.ndarray | None = None,
    progress: Callable[[Iterable], Iterable] = iter,
    **sampling: Any,
) -> list[dict]:
    """Generate and write every sample, ``batch_size`` rows per ``generate`` call.

    Rows of any prompt, seed and steering share a batch: each carries its own shifts
    (:func:`~musicsteer.steering.hooks.steer_shifts`) and samples from its own
    generator keyed by (seed, prompt), so a sample is the same, up to float rounding,
    whatever its batch. Returns one table row per sample, in order.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    batches = [samples[i : i + batch_size] for i in range(0, len(samples), batch_size)]
    rows = []
    for batch in progress(batches):
        with ExitStack() as stack:
            for site, shifts in _batch_shifts(batch).items():
                stack.enter_context(steer_shifts(mg.model, shifts, site, cfg, skip_prefix))
            waves = cast(
                np.ndarray,
                generate(
                    mg,
                    [s.prompt for s in batch],
                    max_new_tokens,
                    batch[0].seed,
                    guidance_scale,
                    melody=melody,
                    row_keys=[row_key(s.seed, s.prompt_id) for s in batch],
                    **sampling,
                ),
            )
        rows += _write_batch(mg, waves, batch, Path(out_dir))
    return rows


def _write_batch(mg: MusicGen, waves: np.ndarray, batch: Sequence[Sample], out: Path) -> list[dict]:
    from musicsteer.audio import write_wav

    rows = []
    for sample, wave in zip(batch, waves, strict=True):
        name = f"{sample.stem}_p{sample.prompt_id:02d}_s{sample.seed}.wav"
        path = write_wav(out / name, wave, mg.sample_rate)
        rows.append(
            {
                "path": str(path),
                "prompt_id": sample.prompt_id,
                "prompt": sample.prompt,
                "seed": sample.seed,
                **sample.record,
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
    batch_size: int = 16,
) -> pd.DataFrame:
    """Unsteered WAVs for every prompt × seed (``prompts``: ``prompt_id, prompt``).

    A steered sample of :func:`generate_steered` with the same prompt, seed and settings
    draws the same random numbers (:class:`RowSampler`): it differs only by the
    steering. The table records the settings (:func:`generation_settings`).
    """
    check_sampling(top_k, top_p, temperature)
    sampling: dict[str, Any] = {"top_k": top_k, "top_p": top_p, "temperature": temperature}
    made_with = generation_settings(max_new_tokens, guidance_scale, **sampling)
    samples = [
        Sample(prompt_id, prompt, seed, "original", record=made_with)
        for seed in map(int, seeds)
        for prompt_id, prompt in _prompt_rows(prompts)
    ]
    rows = generate_samples(
        mg, samples, out_dir, max_new_tokens, guidance_scale, batch_size, melody=melody, **sampling
    )
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
    batch_size: int = 16,
) -> pd.DataFrame:
    """Steered WAVs for every setting × prompt × seed, ``batch_size`` per call.

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
    for vector in vectors.values():
        check_fits(vector, mg.model)
    sampling: dict[str, Any] = {"top_k": top_k, "top_p": top_p, "temperature": temperature}
    made_with = {
        **generation_settings(max_new_tokens, guidance_scale, **sampling),
        "alpha_scale": alpha_scale,
        "cfg": cfg,
        "skip_prefix": bool(skip_prefix),
    }
    samples = [
        Sample(prompt_id, prompt, seed, setting.stem(), shifts, record)
        for setting in settings
        for shifts, record in [_setting_shifts(vectors, setting, alpha_scale, made_with)]
        for seed in map(int, seeds)
        for prompt_id, prompt in _prompt_rows(prompts)
    ]
    rows = generate_samples(
        mg,
        samples,
        out_dir,
        max_new_tokens,
        guidance_scale,
        batch_size,
        cfg,
        skip_prefix,
        melody,
        progress,
        **sampling,
    )
    table = pd.DataFrame(rows)
    table["kind"] = "steered"
    return table


def _prompt_rows(prompts: pd.DataFrame) -> list[tuple[int, str]]:
    """``(prompt_id, prompt)`` of a prompt table, in order."""
    ids = [int(i) for i in prompts["prompt_id"].tolist()]
    return list(zip(ids, map(str, prompts["prompt"].tolist()), strict=True))


def _setting_shifts(
    vectors: Mapping[tuple[str, str, str], SteeringVector],
    setting: Setting,
    alpha_scale: str,
    made_with: Mapping[str, Any],
) -> tuple[dict[tuple[str, int], torch.Tensor], dict[str, Any]]:
    """A setting's shifts ``(site, layer) → α v̂`` and the table columns it records.

    A unit missing at any layer raises here, before the first sample is generated.
    """
    vector = vectors[(setting.target, setting.site, setting.method)]
    chosen = resolve_layers(vector, setting.layers)
    shifts = {
        (setting.site, layer): shift_of(
            unit_vector(vector.directions[layer]),
            absolute_alpha(setting.alpha, alpha_unit(vector, layer, alpha_scale)),
        )
        for layer in chosen
    }
    record = {**asdict(setting), "layer": ",".join(map(str, chosen)), **made_with}
    return shifts, record
