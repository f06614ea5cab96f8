from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from musicsteer import audio
from tests.corpora.sources import _tone


def test_mp3_windows_match_a_full_decode(gtzan):
    """Seeking into an MP3 garbles the first frames (bit reservoir); the preroll fixes it."""
    path = gtzan / "genres_original" / "rock" / "rock.00004.mp3"
    full, sr = sf.read(path, dtype="float32")
    window = audio.load(path, None, 10.0, 10.0)
    np.testing.assert_allclose(window, full[10 * sr : 20 * sr], atol=1e-5)


def test_parquet_row_sources_read_the_right_row(music_genres):
    file = music_genres / "data" / "train-00000-of-00001.parquet"
    wave = audio.load(audio.parquet_row_source(file, 0))
    np.testing.assert_allclose(wave, _tone(20.0), atol=1e-4)
    assert audio.probe(f"{file}#row=1").channels == 2
    with pytest.raises(audio.AudioError, match="missing row"):
        audio.probe(f"{file}#row=6")
