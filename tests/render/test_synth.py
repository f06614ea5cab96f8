from __future__ import annotations

from pathlib import Path

import mido
import numpy as np
import pytest

from musicsteer.render import synth
from musicsteer.render.synth import DEFAULT_SOUNDFONT

pytestmark = pytest.mark.skipif(
    not DEFAULT_SOUNDFONT.is_file(), reason="apt-get install fluidsynth timgm6mb-soundfont"
)


def _midi(notes: list[int], beats: float = 2.0, program: int = 0) -> mido.MidiFile:
    """One channel-0 note sequence at 120 BPM."""
    track = mido.MidiTrack([mido.Message("program_change", program=program)])
    for n in notes:
        track.append(mido.Message("note_on", note=n, velocity=90))
        track.append(mido.Message("note_off", note=n, time=int(beats * 480)))
    midi = mido.MidiFile(ticks_per_beat=480)
    midi.tracks.append(track)
    return midi


def test_find_soundfont(tmp_path: Path) -> None:
    assert synth.find_soundfont() == DEFAULT_SOUNDFONT
    with pytest.raises(FileNotFoundError, match="apt-get install fluidsynth timgm6mb"):
        synth.find_soundfont(tmp_path / "missing.sf2")


def test_render_midi_length_level_determinism() -> None:
    midi = _midi([60, 64])  # 2 s of MIDI
    a = synth.render_midi(midi, 16000, DEFAULT_SOUNDFONT)
    assert a.dtype == np.float32 and a.shape == (32000,)
    assert 0 < np.abs(a).max() <= 1
    np.testing.assert_array_equal(a, synth.render_midi(midi, 16000, DEFAULT_SOUNDFONT))
    assert synth.render_midi(midi, 16000, DEFAULT_SOUNDFONT, seconds=1.25).shape == (20000,)
    padded = synth.render_midi(midi, 16000, DEFAULT_SOUNDFONT, seconds=3.0)
    assert padded.shape == (48000,)
    np.testing.assert_array_equal(padded[:32000], a)
