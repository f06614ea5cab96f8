"""Train MusicGen's decoder (``MusicgenForConditionalGeneration``) on cached codec codes.

Teacher forcing on MusicGen's delay pattern (:func:`musicsteer.activations.delayed_inputs`):
each position predicts the next token of every codebook, pad/BOS targets ignored. Text
conditioning comes from the frozen T5 encoder, with captions in several phrasings per
genre; a share of rows (20 %) gets the null condition that classifier-free guidance
uses as its unconditional half (zero encoder states, mask 0), so guidance has
something to subtract. The codec and the text encoder stay frozen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F

from musicsteer.activations import delayed_inputs
from musicsteer.mini.codec import History
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
    seed: int = 0


def captions(genres: Sequence[str], rng: np.random.Generator, null_share: float) -> list[str]:
    """One caption per row: a random phrasing of its genre, or ``""`` (the null condition)."""
    null = rng.random(len(genres)) < null_share
    picks = rng.integers(0, len(PHRASINGS), len(genres))
    return [
        "" if n else PHRASINGS[p].format(g) for g, n, p in zip(genres, null, picks, strict=True)
    ]


def text_condition(mg: MusicGen, texts: Sequence[str]) -> dict[str, Any]:
    """Frozen T5 states per row; ``""`` rows get the CFG null (zeros, mask 0)."""
    tok = mg.tokenizer(list(texts), return_tensors="pt", padding=True)
    mask = tok.attention_mask.to(mg.device)
    with torch.no_grad():
        states = cast(Any, mg.model.text_encoder)(
            input_ids=tok.input_ids.to(mg.device), attention_mask=mask
        ).last_hidden_state
    null = torch.tensor([not t for t in texts], device=mg.device)
    states = states.masked_fill(null[:, None, None], 0.0)
    return {"encoder_outputs": (states,), "attention_mask": mask.masked_fill(null[:, None], 0)}


def lm_loss(mg: MusicGen, codes: torch.Tensor, texts: Sequence[str]) -> torch.Tensor:
    """Mean next-token cross-entropy over codebooks of ``codes [B, K, frames]``."""
    inputs = delayed_inputs(codes.to(mg.device))  # [B*K, frames + 1]
    logits = mg.model(**text_condition(mg, texts), decoder_input_ids=inputs).logits
    targets = inputs[:, 1:].masked_fill(inputs[:, 1:] == PAD_TOKEN_ID, -100)
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), targets.reshape(-1))


def train_lm(
    mg: MusicGen,
    codes: np.ndarray,
    genres: Sequence[str],
    settings: LMTraining = LMTraining(),
    progress: Callable[[Iterable[int]], Iterable[int]] = iter,
) -> History:
    """Train ``mg``'s decoder in place on ``codes [N, K, frames]`` of clips of ``genres``."""
    if codes.ndim != 3 or codes.shape[2] < settings.frames:
        raise ValueError(f"need codes [N, K, ≥ {settings.frames}], got shape {codes.shape}")
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    model: Any = mg.model
    for frozen in (model.text_encoder, model.audio_encoder):
        frozen.requires_grad_(False)
    trained = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=settings.lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / settings.warmup)
    )
    history = History()
    model.train()
    for step in progress(range(settings.steps)):
        rows = rng.integers(0, len(codes), settings.batch)
        start = rng.integers(0, codes.shape[2] - settings.frames + 1, settings.batch)
        crop = np.stack(
            [codes[r, :, s : s + settings.frames] for r, s in zip(rows, start, strict=True)]
        )
        texts = captions([genres[r] for r in rows], rng, settings.null_share)
        loss = lm_loss(mg, torch.from_numpy(crop).long(), texts)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trained, 1.0)
        optimizer.step()
        schedule.step()
        history.rows.append({"step": step, "loss": float(loss.detach())})
    model.eval()
    return history
