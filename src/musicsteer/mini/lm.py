"""Train MusicGen's decoder (MusicGen or MusicGen-Melody) on cached codec codes.

Teacher forcing on MusicGen's delay pattern (:func:`musicsteer.activations.delayed_inputs`):
each position predicts the next token of every codebook, pad/BOS targets ignored. Text
conditioning goes through the model's own T5 (trained along, it is tiny), with captions
in several phrasings per genre plus any prompts the pipeline will use; a share of rows
(20 %) gets the null text that classifier-free guidance uses as its unconditional half
(attention mask 0, so the forward zeroes the states). Melody rows get their own chroma
for a share of rows (the melody condition) and the null one-hot chroma otherwise, which
is what a text-only prompt gets at generation. The codec stays frozen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from musicsteer.activations import delayed_inputs
from musicsteer.mini.history import History
from musicsteer.models.loading import PAD_TOKEN_ID, MusicGen

PHRASINGS = (
    "{}",
    "{} music",
    "a {} song",
    "a {} track",
    "an instrumental {} piece",
    "{} with drums and bass",
)


@dataclass(frozen=True)
class LMTraining:
    """How the decoder is trained (seeded)."""

    steps: int = 400
    batch: int = 16
    frames: int = 250  # random crops of the cached codes: 5 s at 50 Hz
    lr: float = 1e-3
    warmup: int = 20
    null_share: float = 0.2
    chroma_share: float = 0.5  # Melody only: rows conditioned on their own chroma
    train_text_encoder: bool = True
    seed: int = 0


def captions(
    genres: Sequence[str],
    rng: np.random.Generator,
    null_share: float,
    prompts: Mapping[str, Sequence[str]] | None = None,
) -> list[str]:
    """One caption per row: a phrasing of its genre (or one of its ``prompts``), or ``""``.

    ``""`` is the null condition, drawn for a ``null_share`` of rows.
    """
    texts = []
    for genre in genres:
        pool = [p.format(genre) for p in PHRASINGS] + list((prompts or {}).get(genre, ()))
        texts.append("" if rng.random() < null_share else pool[int(rng.integers(len(pool)))])
    return texts


def condition(
    mg: MusicGen, texts: Sequence[str], chroma: torch.Tensor | None = None
) -> dict[str, Any]:
    """Forward kwargs for ``texts``; ``""`` rows get the CFG null text (mask 0).

    ``chroma`` (Melody only, ``[B, frames, 12]``) is each row's chroma condition; rows
    that should have none carry the null one-hot (bin 0) there.
    """
    tok = mg.tokenizer(list(texts), return_tensors="pt", padding=True)
    null = torch.tensor([not t for t in texts])
    kwargs: dict[str, Any] = {
        "input_ids": tok.input_ids.to(mg.device),
        "attention_mask": tok.attention_mask.masked_fill(null[:, None], 0).to(mg.device),
    }
    if mg.is_melody:
        kwargs["input_features"] = (null_chroma(len(texts), 1) if chroma is None else chroma).to(
            mg.device, dtype=mg.model.dtype
        )
    return kwargs


def null_chroma(batch: int, frames: int) -> torch.Tensor:
    """Melody's null chroma: one-hot bin 0 in every frame (what text-only prompts get)."""
    chroma = torch.zeros(batch, frames, 12)
    chroma[:, :, 0] = 1
    return chroma


def lm_loss(
    mg: MusicGen,
    codes: torch.Tensor,
    texts: Sequence[str],
    chroma: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean next-token cross-entropy over codebooks of ``codes [B, K, frames]``."""
    inputs = delayed_inputs(codes.to(mg.device))  # [B*K, frames + 1]
    logits = mg.model(**condition(mg, texts, chroma), decoder_input_ids=inputs).logits
    logits = logits[:, -inputs.shape[1] :]  # Melody's logits include its prefix
    targets = inputs[:, 1:].masked_fill(inputs[:, 1:] == PAD_TOKEN_ID, -100)
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), targets.reshape(-1))


@dataclass
class Batch:
    """One training batch: code crops, their captions and (Melody) chroma."""

    codes: torch.Tensor
    texts: list[str]
    chroma: torch.Tensor | None


def draw_batch(
    codes: np.ndarray,
    genres: Sequence[str],
    chroma: np.ndarray | None,
    settings: LMTraining,
    rng: np.random.Generator,
    prompts: Mapping[str, Sequence[str]] | None = None,
) -> Batch:
    """Random crops of ``codes [N, K, F]``; with ``chroma [N, C, 12]`` also the crop's chroma.

    The chroma crop spans the same stretch of audio (chroma frames are counted at
    ``C / F`` per code frame); rows outside the ``chroma_share`` get the null chroma.
    """
    rows = rng.integers(0, len(codes), settings.batch)
    starts = rng.integers(0, codes.shape[2] - settings.frames + 1, settings.batch)
    crop = np.stack(
        [codes[r, :, s : s + settings.frames] for r, s in zip(rows, starts, strict=True)]
    )
    texts = captions([genres[r] for r in rows], rng, settings.null_share, prompts)
    if chroma is None:
        return Batch(torch.from_numpy(crop).long(), texts, None)
    ratio = chroma.shape[1] / codes.shape[2]
    width = max(1, int(round(settings.frames * ratio)))
    picked = torch.from_numpy(
        np.stack(
            [
                chroma[r, min(int(s * ratio), chroma.shape[1] - width) :][:width]
                for r, s in zip(rows, starts, strict=True)
            ]
        )
    ).float()
    keep = torch.from_numpy(rng.random(settings.batch) < settings.chroma_share)
    picked = torch.where(keep[:, None, None], picked, null_chroma(settings.batch, width))
    return Batch(torch.from_numpy(crop).long(), texts, picked)


def train_lm(
    mg: MusicGen,
    codes: np.ndarray,
    genres: Sequence[str],
    settings: LMTraining = LMTraining(),
    progress: Callable[[Iterable[int]], Iterable[int]] = iter,
    chroma: np.ndarray | None = None,
    prompts: Mapping[str, Sequence[str]] | None = None,
) -> History:
    """Train ``mg``'s decoder in place on ``codes [N, K, frames]`` of clips of ``genres``.

    ``chroma [N, chroma_frames, 12]`` (one-hot, Melody only) conditions a share of rows
    on their own melody; ``prompts`` adds captions per genre to the built-in phrasings.
    """
    if codes.ndim != 3 or codes.shape[2] < settings.frames:
        raise ValueError(f"need codes [N, K, ≥ {settings.frames}], got shape {codes.shape}")
    if chroma is not None and not mg.is_melody:
        raise ValueError(f"{mg.name} is not MusicGen-Melody: it takes no chroma")
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    model: Any = mg.model
    model.audio_encoder.requires_grad_(False)
    model.text_encoder.requires_grad_(settings.train_text_encoder)
    trained = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=settings.lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, _warmup_cosine(settings))
    history = History()
    model.train()
    for step in progress(range(settings.steps)):
        batch = draw_batch(codes, genres, chroma, settings, rng, prompts)
        loss = lm_loss(mg, batch.codes, batch.texts, batch.chroma)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trained, 1.0)
        optimizer.step()
        schedule.step()
        history.add(step=step, loss=float(loss.detach()), lr=float(schedule.get_last_lr()[0]))
    model.eval()
    return history


def _warmup_cosine(settings: LMTraining) -> Callable[[int], float]:
    """Linear warm-up, then cosine decay to 10 % of the peak rate at the last step."""

    def factor(step: int) -> float:
        if step < settings.warmup:
            return (step + 1) / settings.warmup
        done = (step - settings.warmup) / max(1, settings.steps - settings.warmup)
        return 0.1 + 0.45 * (1 + float(np.cos(np.pi * min(1.0, done))))

    return factor
