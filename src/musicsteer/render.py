"""MIDI → audio with FluidSynth, in process, and an offline synthetic genre corpus.

Rendering steps through the MIDI events itself and pulls audio from the synthesizer
between events (no audio driver). Audio comes out as 32-bit float
(``fluid_synth_write_float``), not through pyfluidsynth's ``get_samples`` (16-bit with
dither), so there is no dither noise and no 16-bit rounding before our own. Each call
uses a fresh ``Synth``: a reused one keeps reverb/chorus state and releasing voices
across ``system_reset``, so only a fresh one gives the same samples for the same input.

The genre corpus (``render_genre_corpus``) writes GTZAN-layout WAV files of six
arrangement styles (drums, tempo, instruments, harmony and bass differ per genre); each
track is varied by a seed (key, tempo, programs, patterns, voicings).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import math
import os
import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import mido
import numpy as np
import pandas as pd
import soundfile as sf

if TYPE_CHECKING:
    import fluidsynth

DEFAULT_SOUNDFONT = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")
DEFAULT_GAIN = 0.45
INSTALL_HINT = "apt-get install fluidsynth timgm6mb-soundfont"
TICKS_PER_BEAT = 480
DRUM_CHANNEL = 9
PEAK_DBFS = -1.0

# ---------------------------------------------------------------------------------------
# FluidSynth rendering
# ---------------------------------------------------------------------------------------


def find_soundfont(path: str | Path | None = None) -> Path:
    """Return the SoundFont to use: ``path``, else the Debian TimGM6mb one.

    Raises ``FileNotFoundError`` with the install command when the file is missing.
    """
    sf2 = Path(path) if path is not None else DEFAULT_SOUNDFONT
    if not sf2.is_file():
        raise FileNotFoundError(
            f"SoundFont not found: {sf2}. Install it with `{INSTALL_HINT}` "
            "(Debian/Ubuntu) or pass the path of a General MIDI .sf2 file."
        )
    return sf2


@functools.cache
def _float_writer() -> Callable[..., int]:
    """``fluid_synth_write_float`` from the libfluidsynth that pyfluidsynth loaded."""
    import fluidsynth

    func = ctypes.CDLL(fluidsynth.lib).fluid_synth_write_float
    func.argtypes = [ctypes.c_void_p, ctypes.c_int]
    func.argtypes += [ctypes.c_void_p, ctypes.c_int, ctypes.c_int] * 2
    func.restype = ctypes.c_int
    return func


@functools.cache
def _libgomp() -> ctypes.CDLL | None:
    """The OpenMP runtime libfluidsynth links against, if there is one."""
    name = ctypes.util.find_library("gomp")
    try:
        return ctypes.CDLL(name) if name else None
    except OSError:
        return None


def single_thread_openmp() -> None:
    """Make this thread's OpenMP regions single-threaded.

    libfluidsynth loads SoundFonts in an OpenMP parallel region. A libgomp thread pool
    does not survive ``fork()``: a forked worker then hangs in its first ``sfload``.
    Keeping OpenMP at one thread (before any load) keeps fork-based process pools safe.
    """
    lib = _libgomp()
    if lib is not None:
        lib.omp_set_num_threads(1)


def _new_synth(sample_rate: int, soundfont: Path, gain: float) -> fluidsynth.Synth:
    """A driverless Synth with ``soundfont`` loaded and presets assigned."""
    import fluidsynth

    single_thread_openmp()
    synth = fluidsynth.Synth(gain=gain, samplerate=sample_rate, **{"synth.lock-memory": 0})
    if synth.sfload(str(soundfont), 1) < 0:
        synth.delete()
        raise RuntimeError(f"FluidSynth could not load the SoundFont {soundfont}")
    return synth


def _pull(synth: fluidsynth.Synth, n: int) -> np.ndarray:
    """Render ``n`` frames; stereo averaged to mono float32."""
    buf = np.zeros(2 * n, dtype=np.float32)
    ptr = buf.ctypes.data
    if _float_writer()(synth.synth, n, ptr, 0, 2, ptr, 1, 2) != 0:
        raise RuntimeError("fluid_synth_write_float failed")
    return buf.reshape(n, 2).mean(axis=1, dtype=np.float32)


def _timed_messages(midi: mido.MidiFile, sample_rate: int) -> list[tuple[int, mido.Message]]:
    """Channel messages of ``midi`` with their start frame (tempo changes applied)."""
    out: list[tuple[int, mido.Message]] = []
    now = 0.0
    for msg in midi:  # merged tracks, delta times in seconds
        now += msg.time
        if not msg.is_meta:
            out.append((int(round(now * sample_rate)), msg))
    return out


def _dispatch(synth: fluidsynth.Synth, msg: mido.Message) -> None:
    """Send one MIDI channel message to the synthesizer."""
    kind = msg.type
    if kind == "note_on" and msg.velocity > 0:
        synth.noteon(msg.channel, msg.note, msg.velocity)
    elif kind in ("note_on", "note_off"):
        synth.noteoff(msg.channel, msg.note)
    elif kind == "program_change":
        synth.program_change(msg.channel, msg.program)
    elif kind == "control_change":
        synth.cc(msg.channel, msg.control, msg.value)
    elif kind == "pitchwheel":
        synth.pitch_bend(msg.channel, msg.pitch)


def _n_frames(midi: mido.MidiFile, sample_rate: int, seconds: float | None) -> int:
    """Output length: ``seconds`` if given, else the MIDI length (no release tail)."""
    if seconds is None:
        return int(midi.length * sample_rate)
    return int(round(seconds * sample_rate))


def _run(synth: fluidsynth.Synth, events: list[tuple[int, mido.Message]], total: int) -> np.ndarray:
    """Play ``events`` into ``synth`` and collect exactly ``total`` frames."""
    chunks: list[np.ndarray] = []
    cursor = 0
    for frame, msg in events:
        if frame >= total:
            break
        if frame > cursor:
            chunks.append(_pull(synth, frame - cursor))
            cursor = frame
        _dispatch(synth, msg)
    if total > cursor:
        chunks.append(_pull(synth, total - cursor))
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)


def render_midi(
    midi: mido.MidiFile,
    sample_rate: int,
    soundfont: Path,
    gain: float = DEFAULT_GAIN,
    seconds: float | None = None,
) -> np.ndarray:
    """Render ``midi`` to float32 mono audio in [-1, 1].

    Without ``seconds`` the output is ``int(sample_rate × MIDI length)`` frames, as the
    SynTheory renderer writes (no release tail). With ``seconds`` it is exactly
    ``round(seconds × sample_rate)`` frames: cut, or continued (release tail) if the
    MIDI is shorter. Deterministic: same input, same samples.
    """
    total = _n_frames(midi, sample_rate, seconds)
    events = _timed_messages(midi, sample_rate)
    synth = _new_synth(sample_rate, Path(soundfont), gain)
    try:
        audio = _run(synth, events, total)
    finally:
        synth.delete()
    return np.clip(audio, -1.0, 1.0)


def to_pcm16(audio: np.ndarray) -> np.ndarray:
    """Float audio in [-1, 1] → int16 (clipped, rounded)."""
    return np.round(np.clip(audio, -1.0, 1.0) * 32767.0).astype(np.int16)


def write_wav(path: str | Path, audio: np.ndarray, sample_rate: int) -> Path:
    """Write mono 16-bit PCM WAV atomically (temp file, then ``os.replace``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = audio if audio.dtype == np.int16 else to_pcm16(audio)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        sf.write(tmp, data, sample_rate, subtype="PCM_16", format="WAV")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def peak_normalise(audio: np.ndarray, peak_dbfs: float = PEAK_DBFS) -> np.ndarray:
    """Scale so that the absolute peak is ``peak_dbfs``; silence stays silence."""
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak <= 0.0:
        return audio
    return (audio * (10.0 ** (peak_dbfs / 20.0) / peak)).astype(np.float32)


# ---------------------------------------------------------------------------------------
# Score writing (arrangements as absolute-time MIDI events)
# ---------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------
# Genre arrangements
# ---------------------------------------------------------------------------------------

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


# -- rock -------------------------------------------------------------------------------


def _rock(song: Song) -> None:
    """Power-chord 8ths on distorted guitar, root 8ths bass, kick 1&3 snare 2&4."""
    kicks = [[0, 2], [0, 2, 2.5], [0, 1.5, 2], [0, 0.5, 2]][song.variant % 4]
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
        for k in kicks:
            song.score.note(DRUM_CHANNEL, b0 + k, 0.2, KICK, song.vel(112))
        for k in (1, 3):
            song.score.note(DRUM_CHANNEL, b0 + k, 0.2, SNARE, song.vel(112))
        if bar % 4 == 0:
            song.score.note(DRUM_CHANNEL, b0, 1.0, CRASH, song.vel(105))
        if bar % 8 == 7:
            _fill(song, bar, 105)
    if "lead" in song.programs:
        onsets = _rhythm(song, [[0, 1, 1.5, 2, 3], [0, 0.5, 1, 2, 2.5, 3], [0, 1.5, 2, 3.5]])
        melody(song, onsets, 64, 84, "minor_penta", 100, range(4, song.bars))


# -- pop --------------------------------------------------------------------------------


def _pop(song: Song) -> None:
    """Four-on-the-floor, clap on 2&4, syncopated keys, synth bass pulse, pad, hook."""
    keys_rhythm = [
        [(0, 1.4), (1.5, 1.0), (2.5, 1.4)],
        [(0, 0.9), (1, 0.9), (2, 0.9), (3, 0.9)],
        [(0, 0.7), (0.75, 0.7), (1.5, 1.0), (3, 0.9)],
    ][song.variant % 3]
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


# -- folk -------------------------------------------------------------------------------


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


# -- hip-hop ----------------------------------------------------------------------------


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


# -- jazz -------------------------------------------------------------------------------


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


# -- classical --------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------
# Track planning and the corpus
# ---------------------------------------------------------------------------------------


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
    write_wav(root / rel, audio, sample_rate)
    row: dict[str, object] = {"genre": genre, "track": index, "path": rel.as_posix(), "seed": tseed}
    row.update(_describe(song))
    return row


# ---------------------------------------------------------------------------------------
# A single-line melody (instrument transfer)
# ---------------------------------------------------------------------------------------

_NATURALS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_NOTE = re.compile(r"^(?P<name>[A-Ga-g])(?P<acc>#|b)?(?P<octave>-?\d)(?::(?P<beats>[0-9.]+))?$")
_REST = re.compile(r"^[Rr](?::(?P<beats>[0-9.]+))?$")


def parse_melody(text: str) -> list[tuple[int | None, float]]:
    """``"C4 D4 E4:2 R G#3:0.5"`` → ``[(60, 1.0), (62, 1.0), (64, 2.0), (None, 1.0), (56, 0.5)]``.

    Notes are a name, an optional ``#``/``b``, a scientific-pitch octave (C4 = MIDI 60)
    and optional ``:beats`` (default 1); ``R`` is a rest.
    """
    events = []
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
