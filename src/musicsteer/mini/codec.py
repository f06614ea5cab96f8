"""Train an EnCodec (the real ``EncodecModel`` class) as an autoencoder on rendered music.

The encoder, decoder and residual codebooks are trained together: a multi-scale STFT
and log-mel reconstruction loss, a commitment loss (0.25) that pulls encoder outputs
towards their codes, and codebooks updated as exponential moving averages of the
vectors assigned to them (not by gradients), with dead codes restarted on random
encoder outputs so every code stays in use. Gradients pass the quantizer straight
through. The trained codebooks live in the model's own buffers, so ``codec.encode`` /
``codec.decode`` (and MusicGen around it) use them unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from musicsteer.mini.history import History
from musicsteer.mini.judge import mel_filters

STFT_SIZES = (256, 512, 1024)  # ~8, 16 and 32 ms at 32 kHz: transients to pitch


@dataclass(frozen=True)
class CodecTraining:
    """How the codec is trained (seeded; the prototype's settings by default)."""

    steps: int = 500
    batch: int = 8
    crop_s: float = 1.0  # random crops of the training clips
    lr: float = 1e-3
    commitment: float = 0.25
    ema_decay: float = 0.99
    dead_below: float = 0.5  # a code whose EMA count falls below this is restarted
    seed: int = 0


@dataclass
class Quantized:
    """The quantizer's output for a batch: straight-through latents, codes, losses."""

    latents: torch.Tensor  # [B, D, T], with gradients passed straight through
    codes: torch.Tensor  # [B, K, T]
    commitment: torch.Tensor  # mean squared distance of each stage's input to its code
    restarted: int = 0  # dead codes restarted in this step


def quantize(
    quantizer: Any,  # an EncodecResidualVectorQuantizer
    latents: torch.Tensor,
    decay: float | None,
    dead_below: float = 0.5,
) -> Quantized:
    """Residual quantization of ``latents [B, D, T]`` with the codec's own codebooks.

    ``decay`` set: update each codebook by EMA from this batch (training) and restart
    codes whose count fell below ``dead_below``; None: read only.
    """
    batch, dim, frames = latents.shape
    residual = latents.detach().transpose(1, 2).reshape(-1, dim)
    total = torch.zeros_like(residual)
    codes, commitment, restarted = [], latents.new_zeros(()), 0
    flat_latents = latents.transpose(1, 2).reshape(-1, dim)
    for layer in quantizer.layers:
        book = layer.codebook
        distance = (
            residual.pow(2).sum(1, keepdim=True)
            - 2 * residual @ book.embed.t()
            + book.embed.pow(2).sum(1)[None, :]
        )
        index = distance.argmin(1)
        if decay is not None:
            restarted += _ema_update(book, residual, index, decay, dead_below)
        chosen = F.embedding(index, book.embed)
        commitment = commitment + F.mse_loss(flat_latents - total, chosen.detach())
        total = total + chosen
        residual = residual - chosen
        codes.append(index.view(batch, frames))
    quantized = total.view(batch, frames, dim).transpose(1, 2)
    straight = latents + (quantized - latents).detach()
    return Quantized(straight, torch.stack(codes, 1), commitment, restarted)


@torch.no_grad()
def _ema_update(
    book: Any,  # an EncodecEuclideanCodebook
    vectors: torch.Tensor,
    index: torch.Tensor,
    decay: float,
    dead_below: float,
) -> int:
    one_hot = F.one_hot(index, book.embed.shape[0]).type(vectors.dtype)
    book.cluster_size.mul_(decay).add_(one_hot.sum(0), alpha=1 - decay)
    book.embed_avg.mul_(decay).add_(one_hot.t() @ vectors, alpha=1 - decay)
    n = book.cluster_size.sum()
    smoothed = (book.cluster_size + 1e-5) / (n + book.embed.shape[0] * 1e-5) * n  # Laplace
    book.embed.copy_(book.embed_avg / smoothed[:, None])
    dead = book.cluster_size < dead_below
    count = int(dead.sum())
    if count:  # restart on random vectors of this batch, with a fresh count of one
        pick = torch.randint(0, len(vectors), (count,), device=vectors.device)
        book.embed[dead] = vectors[pick]
        book.embed_avg[dead] = vectors[pick]
        book.cluster_size[dead] = 1.0
    return count


def spectral_loss(output: torch.Tensor, target: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """Multi-scale STFT (log and linear magnitude) + log-mel L1 between ``[B, samples]``."""
    loss = output.new_zeros(())
    for size in STFT_SIZES:
        window = torch.hann_window(size, device=output.device)
        spec = [
            torch.stft(x, size, size // 4, window=window, return_complex=True).abs()
            for x in (output, target)
        ]
        loss = (
            loss
            + F.l1_loss(spec[0], spec[1])
            + F.l1_loss(torch.log(spec[0] + 1e-5), torch.log(spec[1] + 1e-5))
        )
        if size == STFT_SIZES[-1]:
            mel = torch.from_numpy(mel_filters(size, sample_rate)).to(output)
            logs = [torch.log(s.transpose(1, 2) ** 2 @ mel + 1e-5) for s in spec]
            loss = loss + F.l1_loss(logs[0], logs[1])
    return loss / len(STFT_SIZES)


def _crops(
    clips: np.ndarray, settings: CodecTraining, rng: np.random.Generator, sample_rate: int
) -> torch.Tensor:
    size = int(settings.crop_s * sample_rate)
    rows = rng.integers(0, len(clips), settings.batch)
    starts = rng.integers(0, clips.shape[1] - size + 1, settings.batch)
    return torch.from_numpy(
        np.stack([clips[r, s : s + size] for r, s in zip(rows, starts, strict=True)])
    )


def train_codec(
    codec: Any,  # an EncodecModel
    clips: np.ndarray,
    settings: CodecTraining = CodecTraining(),
    progress: Callable[[Iterable[int]], Iterable[int]] = iter,
) -> History:
    """Train ``codec`` in place on ``clips [N, samples]`` (float audio at its rate)."""
    sample_rate = int(codec.config.sampling_rate)
    if clips.ndim != 2 or clips.shape[1] < settings.crop_s * sample_rate:
        raise ValueError(f"need clips [N, ≥ {settings.crop_s} s], got shape {clips.shape}")
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    parts = [*codec.encoder.parameters(), *codec.decoder.parameters()]
    optimizer = torch.optim.Adam(parts, lr=settings.lr, betas=(0.5, 0.9))
    history = History()
    codec.train()
    for step in progress(range(settings.steps)):
        audio = _crops(clips, settings, rng, sample_rate)
        latents = codec.encoder(audio[:, None])
        quantized = quantize(codec.quantizer, latents, settings.ema_decay, settings.dead_below)
        output = codec.decoder(quantized.latents)[:, 0, : audio.shape[1]]
        reconstruction = spectral_loss(output, audio, sample_rate)
        loss = reconstruction + settings.commitment * quantized.commitment
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.add(
            step=step,
            loss=float(loss.detach()),
            reconstruction=float(reconstruction.detach()),
            commitment=float(quantized.commitment.detach()),
            restarted=quantized.restarted,
        )
    codec.eval()
    return history
