import numpy as np
import pytest
import torch
from transformers import (
    ClapModel,
    MusicgenForConditionalGeneration,
    MusicgenMelodyForConditionalGeneration,
)

from musicsteer import models


def test_builtins_reload_offline_as_the_real_classes(models_dir):
    plain = models.load_musicgen("tiny-musicgen", models_dir)
    melody = models.load_musicgen("tiny-musicgen-melody", models_dir)
    clap, processor = models.load_clap("tiny-clap", models_dir)
    assert type(plain.model) is MusicgenForConditionalGeneration and not plain.is_melody
    assert type(melody.model) is MusicgenMelodyForConditionalGeneration and melody.is_melody
    assert isinstance(clap, ClapModel)
    assert plain.sample_rate == 32_000 and plain.frame_rate == 50 and plain.num_codebooks == 4
    assert processor.feature_extractor.sampling_rate == 48_000
    assert "</s>" in melody.tokenizer.decode(melody.tokenizer("rock music").input_ids)


def test_builtin_build_is_deterministic(tmp_path):
    a = models.build_builtin("tiny-musicgen-melody", tmp_path / "a", seed=3)
    b = models.build_builtin("tiny-musicgen-melody", tmp_path / "b", seed=3)
    ma = models.load_musicgen(str(a)).model.state_dict()
    mb = models.load_musicgen(str(b)).model.state_dict()
    assert all(torch.equal(ma[k], mb[k]) for k in ma)


def test_unknown_builtin_and_missing_model_are_clear(tmp_path):
    with pytest.raises(ValueError, match="unknown built-in"):
        models.build_builtin("tiny-nothing", tmp_path)
    with pytest.raises(models.ModelNotAvailableError, match="cannot load"):
        models.load_musicgen(str(tmp_path / "absent"))
    assert "does not exist" in models.availability_problem("./no/such/folder")
    assert "hf download" in models.availability_problem("facebook/musicgen-melody-absent")
    assert models.availability_problem("tiny-clap") is None


def test_resolve_spec(tmp_path):
    assert models.resolve_spec("tiny-clap", tmp_path) == str(tmp_path / "tiny-clap")
    assert models.resolve_spec(str(tmp_path)) == str(tmp_path)
    assert models.resolve_spec("facebook/musicgen-small") == "facebook/musicgen-small"


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
    chroma = models.melody_chroma(a440, sr)
    assert chroma.shape == (1, 1 + len(a440) // 4096, 12)
    assert torch.all(chroma.sum(-1) == 1)
    assert torch.equal(chroma[0].argmax(-1), _reference_chroma(a440))
    assert (chroma[0, 2:-2].argmax(-1) == 9).all()  # A is pitch class 9 from C


def test_tiny_codec_codes_depend_on_the_audio(tiny):
    from musicsteer.activations import encode_audio

    t = torch.arange(16_000) / 32_000
    waves = torch.stack([0.3 * torch.sin(2 * torch.pi * f * t) for f in (110.0, 440.0)])
    codes = encode_audio(tiny, waves)
    assert not torch.equal(codes[0], codes[1])
    assert all(len(codes[:, k].unique()) > 4 for k in range(codes.shape[1]))


@pytest.mark.parametrize("melody", [False, True], ids=["musicgen", "melody"])
def test_stereo_checkpoints_are_refused_by_name(melody, tmp_path):
    from musicsteer.activations import delayed_inputs

    tokenizer = models.tiny_t5_tokenizer()
    config = models.tiny_musicgen_config(melody, len(tokenizer))
    config.decoder.audio_channels, config.decoder.num_codebooks = 2, 8  # musicgen-stereo-*
    cls = MusicgenMelodyForConditionalGeneration if melody else MusicgenForConditionalGeneration
    model = cls(config).eval()
    # why: the library delays left/right codebooks in pairs (0,0,1,1,2,2,3,3), while
    # delayed_inputs delays codebook k by k
    bos = torch.full((8, 1), models.PAD_TOKEN_ID)
    _, pattern = model.decoder.build_delay_pattern_mask(bos, models.PAD_TOKEN_ID, max_length=12)
    first_code = [int((row == -1).nonzero()[0]) for row in pattern]
    assert first_code == [1, 1, 2, 2, 3, 3, 4, 4]
    ours = delayed_inputs(torch.zeros(1, 8, 10, dtype=torch.long))
    assert [int((row != models.PAD_TOKEN_ID).nonzero()[0]) for row in ours] == list(range(1, 9))
    folder = tmp_path / "stereo"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    with pytest.raises(
        models.UnsupportedModelError, match=r"stereo.*audio_channels=2, 8 codebooks"
    ):
        models.load_musicgen(str(folder))
