import numpy as np
import torch

from musicsteer.models import chroma as models_chroma


def _reference_chroma(wave: np.ndarray, sr: int = 32_000) -> torch.Tensor:
    """The extractor's recipe written out with numpy (torchaudio's Spectrogram, normalized=True)."""
    from transformers.audio_utils import chroma_filter_bank

    n_fft, hop = 16384, 4096
    padded = np.pad(wave, n_fft // 2, mode="reflect")
    window = np.hanning(n_fft + 1)[:-1]  # periodic Hann, as torch.hann_window
    frames = 1 + (len(padded) - n_fft) // hop
    spec = np.stack(
        [np.fft.rfft(padded[i * hop : i * hop + n_fft] * window) for i in range(frames)]
    )
    power = np.abs(spec) ** 2 / np.sum(window**2)
    raw = (
        power
        @ chroma_filter_bank(num_frequency_bins=n_fft, num_chroma=12, sampling_rate=sr, tuning=0).T
    )
    return torch.from_numpy(raw.argmax(-1))


def test_melody_chroma_matches_the_extractor_recipe_and_finds_the_pitch():
    sr = 32_000
    t = np.arange(3 * sr) / sr
    a440 = (0.5 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
    chroma = models_chroma.melody_chroma(a440, sr)
    assert chroma.shape == (1, 1 + len(a440) // 4096, 12)
    assert torch.all(chroma.sum(-1) == 1)
    assert torch.equal(chroma[0].argmax(-1), _reference_chroma(a440))
    assert (chroma[0, 2:-2].argmax(-1) == 9).all()  # A is pitch class 9 from C
