"""MusicGen-Melody's chroma conditioning in plain torch (no torchaudio)."""

from __future__ import annotations

import numpy as np
import torch
from transformers.audio_utils import chroma_filter_bank

from musicsteer.audio import MUSICGEN_SAMPLE_RATE


def melody_chroma(
    audio: np.ndarray | torch.Tensor,
    sample_rate: int = MUSICGEN_SAMPLE_RATE,
    n_fft: int = 16384,
    hop_length: int = 4096,
    num_chroma: int = 12,
) -> torch.Tensor:
    """One-hot chroma ``[batch, frames, 12]`` as MusicgenMelodyFeatureExtractor computes it.

    ``audio`` is ``[samples]`` or ``[batch, samples]`` at ``sample_rate`` (resample to
    32 kHz first). Hann-windowed power STFT normalised by the window's energy, folded
    by librosa's chroma filter bank, argmax per frame.
    """
    wave = torch.as_tensor(np.asarray(audio), dtype=torch.float32)
    wave = wave.unsqueeze(0) if wave.ndim == 1 else wave
    if wave.shape[-1] < n_fft:  # the extractor centre-pads short input to one window
        pad = n_fft - wave.shape[-1]
        wave = torch.nn.functional.pad(wave, (pad // 2, pad - pad // 2))
    window = torch.hann_window(n_fft)
    spec = torch.stft(
        wave,
        n_fft,
        hop_length,
        window=window,
        center=True,
        pad_mode="reflect",
        return_complex=True,
    )
    power = spec.abs().pow(2) / window.pow(2).sum()
    filters = torch.from_numpy(
        chroma_filter_bank(
            num_frequency_bins=n_fft, num_chroma=num_chroma, sampling_rate=sample_rate, tuning=0
        )
    ).float()
    raw = torch.einsum("cf,bft->bct", filters, power)
    idx = raw.argmax(dim=1)  # argmax is unchanged by the extractor's max-normalisation
    return torch.nn.functional.one_hot(idx, num_chroma).float()
