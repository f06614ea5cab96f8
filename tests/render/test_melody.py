from __future__ import annotations

import numpy as np
import pytest

from musicsteer.render import melody
from musicsteer.render.synth import DEFAULT_SOUNDFONT

pytestmark = pytest.mark.skipif(
    not DEFAULT_SOUNDFONT.is_file(), reason="apt-get install fluidsynth timgm6mb-soundfont"
)


def test_parse_melody_reads_notes_rests_and_beats():
    assert melody.parse_melody("C4 C#4:2 Db4:0.5 R B-1 G9") == [
        (60, 1.0),
        (61, 2.0),
        (61, 0.5),
        (None, 1.0),
        (11, 1.0),
        (127, 1.0),
    ]
    for bad, message in (
        ("H4", "cannot read"),
        ("C4:0", "more than 0"),
        ("R R", "no notes"),
        ("G#9", "outside"),
    ):
        with pytest.raises(ValueError, match=message):
            melody.parse_melody(bad)


def test_rendered_melody_has_the_notes_pitch_and_length():
    sr = 16_000
    wave = melody.render_melody("A4:2", program=73, tempo=120, sample_rate=sr)  # flute
    assert len(wave) == int(round((1.0 + 1.0) * sr))  # 2 beats at 120 BPM + 1 s tail
    assert np.abs(wave).max() == pytest.approx(10 ** (-1 / 20), rel=1e-3)
    spectrum = np.abs(np.fft.rfft(wave[: sr // 2] * np.hanning(sr // 2)))
    assert np.fft.rfftfreq(sr // 2, 1 / sr)[spectrum.argmax()] == pytest.approx(440, abs=4)
    again = melody.render_melody("A4:2", program=73, tempo=120, sample_rate=sr)
    np.testing.assert_array_equal(wave, again)
