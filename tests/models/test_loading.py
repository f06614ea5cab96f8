import pytest
import torch
from transformers import (
    ClapModel,
    MusicgenForConditionalGeneration,
    MusicgenMelodyForConditionalGeneration,
)

from musicsteer.models import loading
from musicsteer.models import tiny as models_tiny


def test_builtins_reload_offline_as_the_real_classes(models_dir):
    plain = loading.load_musicgen("tiny-musicgen", models_dir)
    melody = loading.load_musicgen("tiny-musicgen-melody", models_dir)
    clap, processor = loading.load_clap("tiny-clap", models_dir)
    assert type(plain.model) is MusicgenForConditionalGeneration and not plain.is_melody
    assert type(melody.model) is MusicgenMelodyForConditionalGeneration and melody.is_melody
    assert isinstance(clap, ClapModel)
    assert plain.sample_rate == 32_000 and plain.frame_rate == 50 and plain.num_codebooks == 4
    assert processor.feature_extractor.sampling_rate == 48_000
    assert "</s>" in melody.tokenizer.decode(melody.tokenizer("rock music").input_ids)


def test_unknown_builtin_and_missing_model_are_clear(tmp_path):
    with pytest.raises(ValueError, match="unknown built-in"):
        models_tiny.build_builtin("tiny-nothing", tmp_path)
    with pytest.raises(loading.ModelNotAvailableError, match="cannot load"):
        loading.load_musicgen(str(tmp_path / "absent"))
    assert "does not exist" in loading.availability_problem("./no/such/folder")
    assert "hf download" in loading.availability_problem("facebook/musicgen-melody-absent")
    assert loading.availability_problem("tiny-clap") is None


def test_resolve_spec(tmp_path):
    assert loading.resolve_spec("tiny-clap", tmp_path) == str(tmp_path / "tiny-clap")
    assert loading.resolve_spec(str(tmp_path)) == str(tmp_path)
    assert loading.resolve_spec("facebook/musicgen-small") == "facebook/musicgen-small"


@pytest.mark.parametrize("melody", [False, True], ids=["musicgen", "melody"])
def test_stereo_checkpoints_are_refused_by_name(melody, tmp_path):
    from musicsteer.activations import delayed_inputs

    tokenizer = models_tiny.tiny_t5_tokenizer()
    config = models_tiny.tiny_musicgen_config(melody, len(tokenizer))
    config.decoder.audio_channels, config.decoder.num_codebooks = 2, 8  # musicgen-stereo-*
    cls = MusicgenMelodyForConditionalGeneration if melody else MusicgenForConditionalGeneration
    model = cls(config).eval()
    # why: the library delays left/right codebooks in pairs (0,0,1,1,2,2,3,3), while
    # delayed_inputs delays codebook k by k
    bos = torch.full((8, 1), loading.PAD_TOKEN_ID)
    _, pattern = model.decoder.build_delay_pattern_mask(bos, loading.PAD_TOKEN_ID, max_length=12)
    first_code = [int((row == -1).nonzero()[0]) for row in pattern]
    assert first_code == [1, 1, 2, 2, 3, 3, 4, 4]
    ours = delayed_inputs(torch.zeros(1, 8, 10, dtype=torch.long))
    assert [int((row != loading.PAD_TOKEN_ID).nonzero()[0]) for row in ours] == list(range(1, 9))
    folder = tmp_path / "stereo"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    with pytest.raises(
        loading.UnsupportedModelError, match=r"stereo.*audio_channels=2, 8 codebooks"
    ):
        loading.load_musicgen(str(folder))
