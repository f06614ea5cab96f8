"""The demo genre corpus: six arranged genres rendered with FluidSynth.

:func:`render_genre_corpus` writes GTZAN-layout WAV files of six arrangement styles
(drums, tempo, instruments, harmony and bass differ per genre); each track is varied by
a seed (key, tempo, programs, patterns, voicings).
Over 600 lines for one concern: six genre arrangers, each spelled out note by note.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast

import mido
import numpy as np
import pandas as pd

if TYPE_CHECKING:
    pass
from musicsteer.audio import to_pcm16, write_wav
from musicsteer.render.synth import (
    DRUM_CHANNEL,
    TICKS_PER_BEAT,
    find_soundfont,
    peak_normalise,
    render_midi,
)

QUALITY_INTERVALS: dict[str, tuple[int, ...]] = {
    "maj": (0, 4, 7),
    "min": (0, 3, 7),
    "dim": (0, 3, 6),
    "maj7": (0, 4, 7, 11),
    "min7": (0, 3, 7, 10),
    "dom7": (0, 4, 7, 10),
    "m7b5": (0, 3, 6, 10),
}


# Roman numeral → (semitones above the tonic, quality).
ROMAN: dict[str, tuple[int, str]] = {
    "I": (0, "maj"),
    "ii": (2, "min"),
    "iii": (4, "min"),
    "IV": (5, "maj"),
    "V": (7, "maj"),
    "vi": (9, "min"),
    "i": (0, "min"),
    "iv": (5, "min"),
    "v": (7, "min"),
    "bIII": (3, "maj"),
    "bVI": (8, "maj"),
    "bVII": (10, "maj"),
    "VI": (9, "maj"),
    "Imaj7": (0, "maj7"),
    "IVmaj7": (5, "maj7"),
    "ii7": (2, "min7"),
    "iii7": (4, "min7"),
    "vi7": (9, "min7"),
    "V7": (7, "dom7"),
    "VI7": (9, "dom7"),
    "II7": (2, "dom7"),
    "i7": (0, "min7"),
    "iv7": (5, "min7"),
    "v7": (7, "min7"),
    "bVImaj7": (8, "maj7"),
    "bIIImaj7": (3, "maj7"),
    "bVII7": (10, "dom7"),
    "ii7b5": (2, "m7b5"),
}


SCALES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "major_penta": (0, 2, 4, 7, 9),
    "minor_penta": (0, 3, 5, 7, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
}


KEY_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


# GM percussion keys (channel 10).
KICK, SIDE, SNARE, CLAP, HAT, PEDAL, OPEN_HAT = 36, 37, 38, 39, 42, 44, 46


CRASH, RIDE, TAMB, SHAKER = 49, 51, 54, 70


TOMS = (50, 48, 47, 45, 43, 41)


@dataclass(frozen=True)
class Chord:
    """A chord as a root pitch class and intervals above it."""

    root: int
    intervals: tuple[int, ...]

    def pcs(self) -> tuple[int, ...]:
        """Pitch classes of the chord tones."""
        return tuple((self.root + i) % 12 for i in self.intervals)


def parse_progression(romans: str, key_pc: int) -> list[Chord]:
    """``"I V vi IV"`` in ``key_pc`` → chords."""
    chords = []
    for token in romans.split():
        offset, quality = ROMAN[token]
        chords.append(Chord((key_pc + offset) % 12, QUALITY_INTERVALS[quality]))
    return chords


def is_minor(romans: str) -> bool:
    """Whether a roman-numeral progression is in a minor key (has ``i`` or ``i7``)."""
    return any(token in ("i", "i7") for token in romans.split())


def nearest(pc: int, center: int) -> int:
    """MIDI pitch of pitch class ``pc`` closest to ``center`` (ties go down)."""
    return center + ((pc - center + 6) % 12) - 6


def voice(chord: Chord, center: int) -> list[int]:
    """Close voicing: each chord tone at its pitch nearest ``center``, ascending."""
    return sorted(nearest(pc, center) for pc in chord.pcs())


def above(pc: int, low: int) -> int:
    """Lowest MIDI pitch with pitch class ``pc`` at or above ``low``."""
    return low + (pc - low) % 12


def swing_beat(beat: float, unit: float, ratio: float) -> float:
    """Delay off-beat ``unit`` positions so that they sit at ``ratio`` of the pair."""
    if ratio == 0.5:
        return beat
    pair = 2.0 * unit
    k, rest = divmod(beat, pair)
    if math.isclose(rest, unit, abs_tol=1e-6):
        rest = pair * ratio
    return k * pair + rest


@dataclass
class Score:
    """Absolute-time MIDI events of one arrangement (single tempo and meter)."""

    tempo: float
    beats_per_bar: int = 4
    swing: float = 0.5
    swing_unit: float = 0.5
    events: list[tuple[int, int, mido.Message]] = field(default_factory=list)

    def tick(self, beat: float) -> int:
        """Tick of a beat position, swing applied."""
        return int(round(swing_beat(beat, self.swing_unit, self.swing) * TICKS_PER_BEAT))

    def note(self, channel: int, beat: float, dur: float, pitch: int, vel: int) -> None:
        """One note at ``beat`` (swing applied) lasting ``dur`` beats."""
        if not 0 <= pitch <= 127:
            return
        start = self.tick(beat)
        end = max(
            start + 1,
            int(round((swing_beat(beat, self.swing_unit, self.swing) + dur) * TICKS_PER_BEAT)),
        )
        vel = int(min(127, max(1, vel)))
        self.events.append(
            (start, 2, mido.Message("note_on", channel=channel, note=pitch, velocity=vel))
        )
        self.events.append((end, 0, mido.Message("note_off", channel=channel, note=pitch)))

    def chord(
        self, channel: int, beat: float, dur: float, pitches: Sequence[int], vel: int
    ) -> None:
        """Several notes struck together."""
        for p in pitches:
            self.note(channel, beat, dur, p, vel)

    def setup(self, channel: int, program: int, volume: int, reverb: int, pan: int = 64) -> None:
        """Program, volume, pan and reverb send for a channel at time 0."""
        msgs = [
            mido.Message("program_change", channel=channel, program=program),
            mido.Message("control_change", channel=channel, control=7, value=volume),
            mido.Message("control_change", channel=channel, control=10, value=pan),
            mido.Message("control_change", channel=channel, control=91, value=reverb),
            mido.Message("control_change", channel=channel, control=93, value=reverb // 3),
        ]
        self.events.extend((0, 1, m) for m in msgs)

    def to_midi(self) -> mido.MidiFile:
        """One-track MIDI file (tempo, meter, then the events in time order)."""
        track = mido.MidiTrack()
        track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(self.tempo)))
        track.append(
            mido.MetaMessage("time_signature", numerator=self.beats_per_bar, denominator=4)
        )
        now = 0
        for tick, _, msg in sorted(self.events, key=lambda e: (e[0], e[1])):
            track.append(msg.copy(time=tick - now))
            now = tick
        midi = mido.MidiFile(ticks_per_beat=TICKS_PER_BEAT)
        midi.tracks.append(track)
        return midi


CH_BASS, CH_CHORDS, CH_PAD, CH_LEAD = 1, 2, 3, 4


@dataclass(frozen=True)
class GenreStyle:
    """What one genre draws from: tempo range, keys/modes, harmony, instruments."""

    tempo: tuple[float, float]
    mode: str
    progressions: tuple[str, ...]
    chords: tuple[int, ...]
    bass: tuple[int, ...]
    lead: tuple[int, ...]
    kits: tuple[int, ...]
    reverb: int
    swing: tuple[float, float] = (0.5, 0.5)
    swing_unit: float = 0.5
    meters: tuple[int, ...] = (4,)
    lead_prob: float = 1.0
    drum_prob: float = 1.0


@dataclass
class Song:
    """A drawn track plan plus the score being written."""

    genre: str
    rng: np.random.Generator
    score: Score
    key_pc: int
    chords: list[Chord]
    bars: int
    programs: dict[str, int]
    variant: int
    minor: bool

    @property
    def bpb(self) -> int:
        """Beats per bar."""
        return self.score.beats_per_bar

    def chord_at(self, bar: int) -> Chord:
        """Chord of bar ``bar`` (the progression loops)."""
        return self.chords[bar % len(self.chords)]

    def vel(self, base: int, spread: int = 8) -> int:
        """A humanised velocity."""
        return int(base + self.rng.integers(-spread, spread + 1))


STYLES: dict[str, GenreStyle] = {
    "rock": GenreStyle(
        tempo=(120, 140),
        mode="minor_penta",
        progressions=(
            "I bVII IV I",
            "I IV V IV",
            "i bVI bVII i",
            "i bVII bVI bVII",
            "I bIII IV I",
            "I V IV IV",
        ),
        chords=(30, 29),
        bass=(34, 33),
        lead=(29, 30),
        kits=(16, 0, 8),
        reverb=35,
        lead_prob=0.6,
    ),
    "pop": GenreStyle(
        tempo=(110, 125),
        mode="major_penta",
        progressions=("I V vi IV", "vi IV I V", "I vi IV V", "IV I V vi"),
        chords=(0, 1, 4, 5),
        bass=(38, 39, 33),
        lead=(80, 81, 54, 11),
        kits=(24, 0, 25),
        reverb=55,
    ),
    "folk": GenreStyle(
        tempo=(90, 110),
        mode="major",
        progressions=("I IV I V", "I vi IV V", "I V IV I", "I IV vi V", "I I IV V"),
        chords=(25, 24, 105),
        bass=(32,),
        lead=(110, 40, 73, 74),
        kits=(40, 8),
        reverb=60,
        meters=(4, 4, 3),
        drum_prob=0.5,
    ),
    "hiphop": GenreStyle(
        tempo=(85, 95),
        mode="minor_penta",
        progressions=(
            "i7 iv7 i7 v7",
            "i7 bVImaj7 bIIImaj7 bVII7",
            "i7 i7 iv7 iv7",
            "i7 bVImaj7 iv7 V7",
        ),
        chords=(4, 5, 11, 48),
        bass=(38, 39, 87),
        lead=(11, 12, 108, 73),
        kits=(25, 0, 24),
        reverb=18,
        swing=(0.58, 0.66),
        swing_unit=0.25,
    ),
    "jazz": GenreStyle(
        tempo=(120, 170),
        mode="dorian",
        progressions=(
            "ii7 V7 Imaj7 Imaj7",
            "Imaj7 vi7 ii7 V7",
            "iii7 VI7 ii7 V7",
            "Imaj7 II7 ii7 V7",
            "ii7b5 V7 i7 i7",
        ),
        chords=(0, 26, 4),
        bass=(32,),
        lead=(65, 66, 56, 71),
        kits=(32, 40),
        reverb=50,
        swing=(0.62, 0.68),
        lead_prob=0.7,
    ),
    "classical": GenreStyle(
        tempo=(60, 84),
        mode="major",
        progressions=("I IV V I", "I vi ii V", "I V vi iii IV I IV V", "i iv V i", "i bVI iv V"),
        chords=(48, 0, 6, 49),
        bass=(42, 43),
        lead=(40, 73, 68, 71),
        kits=(),
        reverb=95,
        meters=(4, 3),
        drum_prob=0.0,
    ),
}


GENRES: tuple[str, ...] = tuple(STYLES)


def _melody_scale(song: Song, mode: str) -> list[int]:
    """Pitch classes of the melody scale (minor keys take the minor form)."""
    if mode in ("major", "minor"):
        mode = "minor" if song.minor else "major"
    elif mode in ("major_penta", "minor_penta"):
        mode = "minor_penta" if song.minor else "major_penta"
    return [(song.key_pc + i) % 12 for i in SCALES[mode]]


def melody(
    song: Song,
    onsets: Sequence[float],
    low: int,
    high: int,
    mode: str,
    vel: int,
    bars: range | None = None,
) -> None:
    """Random-walk melody on the lead channel; chord tones on the beat."""
    pcs = set(_melody_scale(song, mode))
    pool = [p for p in range(low, high + 1) if p % 12 in pcs]
    idx = len(pool) // 2
    bars = bars if bars is not None else range(song.bars)
    for bar in bars:
        chord = set(song.chord_at(bar).pcs())
        for j, on in enumerate(onsets):
            nxt = onsets[j + 1] if j + 1 < len(onsets) else song.bpb
            idx = _step(song.rng, pool, idx, chord if on == int(on) else None)
            beat = bar * song.bpb + on
            song.score.note(CH_LEAD, beat, (nxt - on) * 0.92, pool[idx], song.vel(vel))


def _step(rng: np.random.Generator, pool: list[int], idx: int, chord: set[int] | None) -> int:
    """Next melody index: a small step, pulled to a chord tone when ``chord`` given."""
    idx = int(np.clip(idx + rng.choice([-2, -1, -1, 0, 1, 1, 2]), 0, len(pool) - 1))
    if chord:
        near = [i for i in range(len(pool)) if pool[i] % 12 in chord]
        if near:
            idx = min(near, key=lambda i: (abs(i - idx), i))
    return idx


def _rhythm(song: Song, options: Sequence[Sequence[float]]) -> list[float]:
    """Pick one onset pattern (beats within a bar) that fits the meter."""
    fits = [list(o) for o in options if max(o) < song.bpb]
    return fits[int(song.rng.integers(len(fits)))]


def _fill(song: Song, bar: int, vel: int) -> None:
    """Sixteenth-note tom/snare fill on the last beat of ``bar``."""
    start = bar * song.bpb + song.bpb - 1
    for k in range(4):
        song.score.note(DRUM_CHANNEL, start + k / 4, 0.2, TOMS[k + 1], song.vel(vel))


def _rock(song: Song) -> None:
    """Power-chord 8ths on distorted guitar, root 8ths bass, kick 1&3 snare 2&4."""
    kicks = cast(list[float], [[0, 2], [0, 2, 2.5], [0, 1.5, 2], [0, 0.5, 2]][song.variant % 4])
    ride = song.rng.random() < 0.4
    for bar in range(song.bars):
        b0 = bar * 4
        root = above(song.chord_at(bar).root, 40)
        for k in range(8):
            song.score.chord(
                CH_CHORDS,
                b0 + k / 2,
                0.45,
                [root, root + 7, root + 12],
                song.vel(96 if k % 2 == 0 else 84),
            )
            song.score.note(CH_BASS, b0 + k / 2, 0.45, root - 12, song.vel(100))
            cym = RIDE if ride and bar % 8 >= 4 else HAT
            song.score.note(DRUM_CHANNEL, b0 + k / 2, 0.2, cym, song.vel(90 if k % 2 == 0 else 70))
        for beat in kicks:
            song.score.note(DRUM_CHANNEL, b0 + beat, 0.2, KICK, song.vel(112))
        for k in (1, 3):
            song.score.note(DRUM_CHANNEL, b0 + k, 0.2, SNARE, song.vel(112))
        if bar % 4 == 0:
            song.score.note(DRUM_CHANNEL, b0, 1.0, CRASH, song.vel(105))
        if bar % 8 == 7:
            _fill(song, bar, 105)
    if "lead" in song.programs:
        onsets = _rhythm(song, [[0, 1, 1.5, 2, 3], [0, 0.5, 1, 2, 2.5, 3], [0, 1.5, 2, 3.5]])
        melody(song, onsets, 64, 84, "minor_penta", 100, range(4, song.bars))


def _pop(song: Song) -> None:
    """Four-on-the-floor, clap on 2&4, syncopated keys, synth bass pulse, pad, hook."""
    keys_rhythm = cast(
        list[tuple[float, float]],
        [
            [(0, 1.4), (1.5, 1.0), (2.5, 1.4)],
            [(0, 0.9), (1, 0.9), (2, 0.9), (3, 0.9)],
            [(0, 0.7), (0.75, 0.7), (1.5, 1.0), (3, 0.9)],
        ][song.variant % 3],
    )
    hats16 = song.rng.random() < 0.5
    for bar in range(song.bars):
        b0 = bar * 4
        chord = song.chord_at(bar)
        for on, dur in keys_rhythm:
            song.score.chord(CH_CHORDS, b0 + on, dur, voice(chord, 66), song.vel(82))
        song.score.chord(CH_PAD, b0, 3.9, voice(chord, 58), song.vel(60, 4))
        for on in (0, 0.75, 1.5, 2, 2.5, 3.5):
            song.score.note(CH_BASS, b0 + on, 0.4, above(chord.root, 33), song.vel(100))
        _pop_drums(song, b0, hats16)
        if bar % 8 == 7:
            _fill(song, bar, 96)
    onsets = _rhythm(song, [[0, 0.5, 1, 1.5, 2.5, 3], [0, 1, 1.5, 2, 3], [0.5, 1, 2, 2.5, 3]])
    melody(song, onsets, 67, 86, "major_penta", 92)


def _pop_drums(song: Song, b0: float, hats16: bool) -> None:
    """One bar of four-on-the-floor with claps, hats and off-beat open hats."""
    for k in range(4):
        song.score.note(DRUM_CHANNEL, b0 + k, 0.2, KICK, song.vel(115, 4))
    for k in (1, 3):
        song.score.note(DRUM_CHANNEL, b0 + k, 0.2, CLAP, song.vel(105))
        song.score.note(DRUM_CHANNEL, b0 + k, 0.2, SNARE, song.vel(85))
    step = 0.25 if hats16 else 0.5
    for k in range(int(4 / step)):
        on = k * step
        pitch = OPEN_HAT if on % 1 == 0.5 else HAT
        song.score.note(DRUM_CHANNEL, b0 + on, 0.2, pitch, song.vel(80 if on % 1 == 0 else 62))


def _folk(song: Song) -> None:
    """Finger-picked acoustic guitar, root–fifth acoustic bass, fiddle/flute tune."""
    bpb = song.bpb
    pattern = ([0, 2, 1, 2, 3, 2, 1, 2], [0, 1, 2, 3, 2, 1, 2, 1])[song.variant % 2]
    if bpb == 3:
        pattern = [0, 1, 2, 3, 2, 1]
    for bar in range(song.bars):
        b0 = bar * bpb
        chord = song.chord_at(bar)
        strings = [above(chord.root, 40)] + voice(chord, 60)
        for k, idx in enumerate(pattern):
            song.score.note(CH_CHORDS, b0 + k / 2, 1.2, strings[idx], song.vel(78 if k else 90))
        for on in (0, 2) if bpb == 4 else (0,):
            pc = chord.root if on == 0 else chord.pcs()[2]
            song.score.note(CH_BASS, b0 + on, 1.6, above(pc, 36), song.vel(88))
        if "drums" in song.programs:
            _folk_percussion(song, b0)
    onsets = _rhythm(song, [[0, 1, 2, 2.5, 3], [0, 1.5, 2], [0, 1, 2], [0, 0.5, 1, 2, 3]])
    melody(song, onsets, 62, 86, "major", 88, range(2, song.bars))


def _folk_percussion(song: Song, b0: float) -> None:
    """Light percussion: soft kick on 1, tambourine on the back beats, shaker 8ths."""
    song.score.note(DRUM_CHANNEL, b0, 0.2, KICK, song.vel(70))
    for k in range(1, song.bpb):
        song.score.note(DRUM_CHANNEL, b0 + k, 0.2, TAMB, song.vel(60))
    for k in range(2 * song.bpb):
        song.score.note(DRUM_CHANNEL, b0 + k / 2, 0.1, SHAKER, song.vel(45, 6))


def _hiphop(song: Song) -> None:
    """Boom-bap: swung 16th hats, kick/snare backbeat, sub bass on kicks, sparse keys."""
    kicks = [[0, 1.5, 2.5], [0, 0.75, 2.5, 2.75], [0, 2, 2.25, 3.5], [0, 1.75, 2.5]]
    kicks_bar = kicks[song.variant % 4]
    riff = [
        (float(on), int(song.rng.integers(5)))
        for on in sorted(song.rng.choice(np.arange(0, 4, 0.5), size=3, replace=False))
    ]
    pcs = _melody_scale(song, "minor_penta")
    for bar in range(song.bars):
        b0 = bar * 4
        chord = song.chord_at(bar)
        _boom_bap(song, b0, kicks_bar)
        for i, on in enumerate(kicks_bar):
            nxt = kicks_bar[i + 1] if i + 1 < len(kicks_bar) else 4
            song.score.note(
                CH_BASS, b0 + on, (nxt - on) * 0.95, above(chord.root, 28), song.vel(110, 4)
            )
        song.score.chord(CH_CHORDS, b0, 1.5, voice(chord, 60), song.vel(70))
        song.score.chord(CH_CHORDS, b0 + 2.5, 0.75, voice(chord, 60), song.vel(58))
        if "lead" in song.programs and bar % 2 == 1:
            for on, deg in riff:
                song.score.note(CH_LEAD, b0 + on, 0.4, above(pcs[deg], 72), song.vel(72))


def _boom_bap(song: Song, b0: float, kicks: Sequence[float]) -> None:
    """One bar of boom-bap drums."""
    for k in kicks:
        song.score.note(DRUM_CHANNEL, b0 + k, 0.2, KICK, song.vel(118, 4))
    for k in (1, 3):
        song.score.note(DRUM_CHANNEL, b0 + k, 0.2, SNARE, song.vel(118, 4))
    for k in range(16):
        accent = 78 if k % 4 == 0 else (64 if k % 2 == 0 else 46)
        pitch = OPEN_HAT if k == 14 and song.variant % 2 else HAT
        song.score.note(DRUM_CHANNEL, b0 + k / 4, 0.15, pitch, song.vel(accent, 6))


def _jazz(song: Song) -> None:
    """Swing ride, pedal hat on 2&4, walking bass, 7th-chord comping, horn line."""
    comps = [[(0, 0.75), (1.5, 1.5)], [(1.5, 0.5), (2.5, 1.2)], [(0, 1.0), (2.5, 0.5), (3.5, 0.4)]]
    for bar in range(song.bars):
        b0 = bar * 4
        chord, nxt = song.chord_at(bar), song.chord_at(bar + 1)
        _walk(song, b0, chord, nxt)
        for on, dur in comps[int(song.rng.integers(len(comps)))]:
            song.score.chord(CH_CHORDS, b0 + on, dur, _rootless(chord), song.vel(66))
        _swing_drums(song, b0)
    if "lead" in song.programs:
        onsets = _rhythm(
            song, [[0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5], [0, 1, 1.5, 2.5, 3], [0.5, 1, 1.5, 2, 3, 3.5]]
        )
        melody(song, onsets, 58, 80, "dorian", 84, range(4, song.bars))


def _rootless(chord: Chord) -> list[int]:
    """3rd, 5th, 7th (and the 9th) voiced around middle C."""
    pcs = list(chord.pcs()[1:]) + [(chord.root + 2) % 12]
    return sorted(nearest(pc, 62) for pc in pcs)


def _walk(song: Song, b0: float, chord: Chord, nxt: Chord) -> None:
    """Four quarter notes: root, two chord/scale tones, chromatic approach."""
    root = above(chord.root, 36)
    tones = [root + i for i in chord.intervals[1:]] + [root + 12, root + 2, root + 5]
    picks = song.rng.choice(len(tones), size=2, replace=False)
    target = above(nxt.root, 36)
    approach = target + (1 if song.rng.random() < 0.5 else -1)
    for k, pitch in enumerate([root, tones[picks[0]], tones[picks[1]], approach]):
        song.score.note(CH_BASS, b0 + k, 0.9, pitch, song.vel(96 if k == 0 else 86))


def _swing_drums(song: Song, b0: float) -> None:
    """Ride 'ding ding-a ding ding-a', pedal hat 2&4, feathered kick, ghost snares."""
    for on in (0, 1, 1.5, 2, 3, 3.5):
        song.score.note(DRUM_CHANNEL, b0 + on, 0.3, RIDE, song.vel(86 if on % 1 == 0 else 64))
    for on in (1, 3):
        song.score.note(DRUM_CHANNEL, b0 + on, 0.2, PEDAL, song.vel(72))
    for on in range(4):
        song.score.note(DRUM_CHANNEL, b0 + on, 0.2, KICK, song.vel(34, 4))
    if song.rng.random() < 0.5:
        ghost = float(song.rng.choice([1.5, 2.5, 3.5]))
        song.score.note(DRUM_CHANNEL, b0 + ghost, 0.2, SNARE, song.vel(42))


def _classical(song: Song) -> None:
    """No drums, slow: sustained strings or Alberti/broken-chord keys, cello, melody."""
    keyboard = song.programs["chords"] in (0, 6)
    for bar in range(song.bars):
        b0 = bar * song.bpb
        chord = song.chord_at(bar)
        if keyboard:
            _alberti(song, b0, chord)
        else:
            song.score.chord(CH_CHORDS, b0, song.bpb - 0.1, voice(chord, 60), song.vel(64))
        for on in range(0, song.bpb, 2):
            dur = min(2, song.bpb - on) - 0.1
            song.score.note(CH_BASS, b0 + on, dur, above(chord.root, 36), song.vel(74))
    onsets = _rhythm(song, [[0, 2], [0, 1, 2, 3], [0, 1.5, 2], [0, 1, 2], [0, 2, 3]])
    melody(song, onsets, 65, 88, "major", 80)


def _alberti(song: Song, b0: float, chord: Chord) -> None:
    """Alberti bass in 8ths: low, high, middle, high."""
    low, mid, high = voice(chord, 55)[:3]
    for k in range(2 * song.bpb):
        pitch = (low, high, mid, high)[k % 4]
        song.score.note(CH_CHORDS, b0 + k / 2, 0.5, pitch, song.vel(60 if k % 4 else 70))


ARRANGERS: dict[str, Callable[[Song], None]] = {
    "rock": _rock,
    "pop": _pop,
    "folk": _folk,
    "hiphop": _hiphop,
    "jazz": _jazz,
    "classical": _classical,
}


def check_genres(genres: Sequence[str]) -> None:
    """Raise ``ValueError`` naming any unknown genre and listing the known ones."""
    unknown = [g for g in genres if g not in STYLES]
    if unknown:
        raise ValueError(f"unknown genre(s) {unknown}; known genres: {', '.join(GENRES)}")


def track_seed(seed: int, genre: str, index: int) -> int:
    """A stable 32-bit seed for one track (independent of Python's hash salt)."""
    seq = np.random.SeedSequence([seed, zlib.crc32(genre.encode()), index])
    return int(seq.generate_state(1)[0])


def _pick(rng: np.random.Generator, options: Sequence[int]) -> int:
    """One element of ``options``."""
    return int(options[int(rng.integers(len(options)))])


def _programs(style: GenreStyle, rng: np.random.Generator) -> dict[str, int]:
    """Programs of the parts (``drums`` holds the kit; absent parts are left out)."""
    progs = {"chords": _pick(rng, style.chords), "bass": _pick(rng, style.bass)}
    if rng.random() < style.lead_prob:
        progs["lead"] = _pick(rng, style.lead)
    if style.kits and rng.random() < style.drum_prob:
        progs["drums"] = _pick(rng, style.kits)
    return progs


def plan_track(genre: str, seed: int, seconds: float) -> Song:
    """Draw tempo, key, meter, progression, programs and pattern variant of one track."""
    check_genres([genre])
    style = STYLES[genre]
    rng = np.random.default_rng(seed)
    tempo = round(float(rng.uniform(*style.tempo)), 1)
    score = Score(
        tempo=tempo,
        beats_per_bar=_pick(rng, style.meters),
        swing=round(float(rng.uniform(*style.swing)), 3),
        swing_unit=style.swing_unit,
    )
    key_pc = int(rng.integers(12))
    romans = style.progressions[int(rng.integers(len(style.progressions)))]
    bars = math.ceil(seconds * tempo / 60.0 / score.beats_per_bar) + 1
    return Song(
        genre=genre,
        rng=rng,
        score=score,
        key_pc=key_pc,
        chords=parse_progression(romans, key_pc),
        bars=bars,
        programs=_programs(style, rng),
        variant=int(rng.integers(12)),
        minor=is_minor(romans),
    )


def _mix(song: Song) -> None:
    """Program/volume/reverb messages for the parts the track uses."""
    style, score = STYLES[song.genre], song.score
    levels = {
        "chords": (CH_CHORDS, 92),
        "bass": (CH_BASS, 100),
        "lead": (CH_LEAD, 96),
        "drums": (DRUM_CHANNEL, 110),
    }
    for part, program in song.programs.items():
        channel, volume = levels[part]
        score.setup(channel, program, volume, style.reverb)
    if song.genre == "pop":
        score.setup(CH_PAD, _pick(song.rng, (88, 89, 90)), 70, style.reverb)


def arrange(genre: str, seed: int, seconds: float) -> tuple[Song, mido.MidiFile]:
    """Plan and write one track of ``genre``; returns the plan and its MIDI."""
    song = plan_track(genre, seed, seconds)
    _mix(song)
    ARRANGERS[genre](song)
    return song, song.score.to_midi()


def _describe(song: Song) -> dict[str, object]:
    """Manifest columns describing one track."""
    return {
        "tempo": song.score.tempo,
        "key": f"{KEY_NAMES[song.key_pc]} {'minor' if song.minor else 'major'}",
        "meter": f"{song.bpb}/4",
        "swing": song.score.swing,
        "progression": " ".join(
            f"{KEY_NAMES[c.root]}{_quality_name(c.intervals)}" for c in song.chords
        ),
        "program_chords": song.programs["chords"],
        "program_bass": song.programs["bass"],
        "program_lead": song.programs.get("lead", -1),
        "drum_kit": song.programs.get("drums", -1),
        "variant": song.variant,
    }


def _quality_name(intervals: tuple[int, ...]) -> str:
    """Short chord-quality suffix (``""``, ``m``, ``7``, ...)."""
    names = {
        "maj": "",
        "min": "m",
        "dim": "dim",
        "maj7": "maj7",
        "min7": "m7",
        "dom7": "7",
        "m7b5": "m7b5",
    }
    for quality, ivs in QUALITY_INTERVALS.items():
        if ivs == intervals:
            return names[quality]
    return "?"


def render_genre_corpus(
    out_root: str | Path,
    genres: Sequence[str],
    tracks_per_genre: int,
    seconds: float = 30.0,
    sample_rate: int = 22050,
    seed: int = 0,
    soundfont: str | Path | None = None,
) -> pd.DataFrame:
    """Render a GTZAN-layout synthetic corpus under ``out_root/genres_original``.

    Files are ``<genre>/<genre>.000NN.wav``: mono 16-bit PCM at ``sample_rate``, exactly
    ``seconds`` long, peak-normalised to -1 dBFS. Deterministic given ``seed`` (same
    bytes twice). Returns one row per track: genre, path (relative to ``out_root``),
    seed (the track's own seed), tempo, key, meter, progression and programs.
    """
    check_genres(genres)
    sf2 = find_soundfont(soundfont)
    root = Path(out_root)
    rows = []
    for genre in genres:
        for i in range(tracks_per_genre):
            rows.append(_render_track(root, genre, i, seed, seconds, sample_rate, sf2))
    return pd.DataFrame(rows)


def _render_track(
    root: Path, genre: str, index: int, seed: int, seconds: float, sample_rate: int, soundfont: Path
) -> dict[str, object]:
    """Arrange, render, normalise and write one corpus track; return its row."""
    tseed = track_seed(seed, genre, index)
    song, midi = arrange(genre, tseed, seconds)
    audio = peak_normalise(render_midi(midi, sample_rate, soundfont, seconds=seconds))
    rel = Path("genres_original") / genre / f"{genre}.{index:05d}.wav"
    write_wav(root / rel, to_pcm16(audio), sample_rate)
    row: dict[str, object] = {"genre": genre, "track": index, "path": rel.as_posix(), "seed": tseed}
    row.update(_describe(song))
    return row
