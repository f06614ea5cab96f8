"""The instrument-transfer melody: note names parsed and rendered with FluidSynth."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    pass
from musicsteer.render.genres import Score
from musicsteer.render.synth import find_soundfont, peak_normalise, render_midi

_NATURALS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


_NOTE = re.compile(r"^(?P<name>[A-Ga-g])(?P<acc>#|b)?(?P<octave>-?\d)(?::(?P<beats>[0-9.]+))?$")


_REST = re.compile(r"^[Rr](?::(?P<beats>[0-9.]+))?$")


def parse_melody(text: str) -> list[tuple[int | None, float]]:
    """``"C4 D4 E4:2 R G#3:0.5"`` → ``[(60, 1.0), (62, 1.0), (64, 2.0), (None, 1.0), (56, 0.5)]``.

    Notes are a name, an optional ``#``/``b``, a scientific-pitch octave (C4 = MIDI 60)
    and optional ``:beats`` (default 1); ``R`` is a rest.
    """
    events: list[tuple[int | None, float]] = []
    for token in text.split():
        if rest := _REST.match(token):
            events.append((None, _beats(rest["beats"], token)))
            continue
        note = _NOTE.match(token)
        if note is None:
            raise ValueError(f"cannot read note {token!r} (expected e.g. C4, F#3:2, Bb4:0.5, R)")
        pc = _NATURALS[note["name"].upper()] + {"#": 1, "b": -1, None: 0}[note["acc"]]
        pitch = 12 * (int(note["octave"]) + 1) + pc
        if not 0 <= pitch <= 127:
            raise ValueError(f"note {token!r} is outside MIDI 0..127")
        events.append((pitch, _beats(note["beats"], token)))
    if not any(pitch is not None for pitch, _ in events):
        raise ValueError(f"melody {text!r} has no notes")
    return events


def _beats(text: str | None, token: str) -> float:
    beats = 1.0 if text is None else float(text)
    if beats <= 0:
        raise ValueError(f"note {token!r} must last more than 0 beats")
    return beats


def render_melody(
    text: str,
    program: int,
    tempo: float,
    sample_rate: int,
    soundfont: str | Path | None = None,
) -> np.ndarray:
    """Render a :func:`parse_melody` line on one GM ``program``, peak-normalised float32."""
    score = Score(tempo=tempo)
    score.setup(0, program, volume=100, reverb=30)
    beat = 0.0
    for pitch, beats in parse_melody(text):
        if pitch is not None:
            score.note(0, beat, beats * 0.95, pitch, 90)
        beat += beats
    seconds = beat * 60.0 / tempo + 1.0  # a release tail
    audio = render_midi(score.to_midi(), sample_rate, find_soundfont(soundfont), seconds=seconds)
    return peak_normalise(audio)
