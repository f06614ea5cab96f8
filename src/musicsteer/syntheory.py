"""SynTheory generator: the notes, chords and chord-progression subsets.

Matches the published generator (Wei et al., ISMIR 2024; ``brown-palm/syntheory``):
92 General MIDI programs, one MIDI track at 120 BPM in 4/4 with 480 ticks per beat,
``program_change`` on channel 2, velocity 64, four 1-second events per clip (4.0 s),
the same chord voicings (including the progression voicing quirk) and the same item
order. Audio is rendered locally with FluidSynth and the TimGM6mb SoundFont
(:mod:`musicsteer.render`); the original used rustysynth, see the spec for the
measured level and timbre match.
"""

from __future__ import annotations

import json
import sys
from bisect import bisect
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path

import mido
import numpy as np
import pandas as pd
import soundfile as sf
from tqdm import tqdm

from musicsteer.render import DEFAULT_GAIN, find_soundfont, render_midi, to_pcm16, write_wav

# ---------------------------------------------------------------------------------------
# Constants of the published generator
# ---------------------------------------------------------------------------------------

BPM = 120
TICKS_PER_BEAT = 480
CHANNEL = 2
VELOCITY = 64
EVENT_BEATS = 2
N_EVENTS = 4
CLIP_SECONDS = 4.0

CONCEPTS = ("notes", "chords", "chord_progressions")
PITCH_CLASS_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")

# General MIDI program names (0-based), spelled as in SynTheory's instruments.csv.
GM_PROGRAM_NAMES: tuple[str, ...] = (
    "Acoustic Grand Piano", "Bright Acoustic Piano", "Electric Grand Piano",
    "Honky-tonk Piano", "Rhodes Piano", "Chorused Piano", "Harpsichord", "Clavinet",
    "Celesta", "Glockenspiel", "Music Box", "Vibraphone", "Marimba", "Xylophone",
    "Tubular Bells", "Dulcimer",
    "Hammond Organ", "Percussive Organ", "Rock Organ", "Church Organ", "Reed Organ",
    "Accordion", "Harmonica", "Tango Accordion",
    "Acoustic Nylon Guitar", "Acoustic Steel Guitar", "Electric Jazz Guitar",
    "Electric Clean Guitar", "Electric Muted Guitar", "Overdriven Guitar",
    "Distortion Guitar", "Guitar Harmonics",
    "Acoustic Bass", "Fingered Electric Bass", "Plucked Electric Bass", "Fretless Bass",
    "Slap Bass 1", "Slap Bass 2", "Synth Bass 1", "Synth Bass 2",
    "Violin", "Viola", "Cello", "Contrabass", "Tremolo Strings", "Pizzicato Strings",
    "Orchestral Harp", "Timpani",
    "String Ensemble 1", "String Ensemble 2", "Synth Strings 1", "Synth Strings 2",
    'Choir "Aah"', 'Choir "Ooh"', "Synth Voice", "Orchestral Hit",
    "Trumpet", "Trombone", "Tuba", "Muted Trumpet", "French Horn", "Brass Section",
    "Synth Brass 1", "Synth Brass 2",
    "Soprano Sax", "Alto Sax", "Tenor Sax", "Baritone Sax", "Oboe", "English Horn",
    "Bassoon", "Clarinet",
    "Piccolo", "Flute", "Recorder", "Pan Flute", "Bottle Blow", "Shakuhachi", "Whistle",
    "Ocarina",
    "Square Wave Lead", "Sawtooth Wave Lead", "Calliope Lead", "Chiff Lead",
    "Charang Lead", "Voice Lead", "Fifths Lead", "Bass Lead",
    "New Age Pad", "Warm Pad", "Polysynth Pad", "Choir Pad", "Bowed Pad", "Metallic Pad",
    "Halo Pad", "Sweep Pad",
    "Rain Effect", "Soundtrack Effect", "Crystal Effect", "Atmosphere Effect",
    "Brightness Effect", "Goblins Effect", "Echoes Effect", "Sci-Fi Effect",
    "Sitar", "Banjo", "Shamisen", "Koto", "Kalimba", "Bagpipe", "Fiddle", "Shanai",
    "Tinkle Bell", "Agogo", "Steel Drums", "Woodblock", "Taiko Drum", "Melodic Tom",
    "Synth Drum", "Reverse Cymbal", "Guitar Fret Noise", "Breath Noise", "Seashore",
    "Bird Tweet", "Telephone Ring", "Helicopter", "Applause", "Gun Shot",
)  # fmt: skip
GM_CATEGORIES: tuple[str, ...] = (
    "Piano Timbres", "Chromatic Percussion", "Organ Timbres", "Guitar Timbres",
    "Bass Timbres", "String Timbres", "Ensemble Timbres", "Brass Timbres", "Reed Timbres",
    "Pipe Timbres", "Synth Lead", "Synth Pad", "Synth Effects", "Ethnic Timbres",
    "Sound Effects",
)  # fmt: skip
_CATEGORY_STARTS = (0, 8, 16, 24, 32, 40, 48, 56, 64, 72, 80, 88, 96, 104, 112)

ATONAL_CATEGORIES = frozenset({"Synth Effects", "Sound Effects"})
POLYPHONIC_PROGRAMS = frozenset({8, 9, 14, 21, 23, 47, 86})
ARTICULATE_PROGRAMS = frozenset({22, 31, 55, 77, 78})


def gm_category(program: int) -> str:
    """GM category of a 0-based program (SynTheory's spelling)."""
    return GM_CATEGORIES[bisect(_CATEGORY_STARTS, program) - 1]


def _kept(program: int) -> bool:
    """Whether SynTheory keeps a program (tonal, not polyphonic, not too articulate)."""
    return (
        gm_category(program) not in ATONAL_CATEGORIES
        and program not in POLYPHONIC_PROGRAMS
        and program not in ARTICULATE_PROGRAMS
    )


PROGRAMS: tuple[int, ...] = tuple(p for p in range(128) if _kept(p))
assert len(GM_PROGRAM_NAMES) == 128 and len(PROGRAMS) == 92

MIDI_NOTES: tuple[int, ...] = tuple(range(108))  # C0..B8
REGISTER_THRESHOLDS = (3, 6, 9)  # octaves

MODE_INTERVALS: dict[str, tuple[int, ...]] = {
    "ionian": (0, 2, 4, 5, 7, 9, 11),
    "aeolian": (0, 2, 3, 5, 7, 8, 10),
    "locrian": (0, 1, 3, 5, 6, 8, 10),
    "harmonic_minor": (0, 2, 3, 5, 7, 8, 11),
}

QUALITIES = ("major", "minor", "augmented", "diminished")
INVERSIONS = ("5", "6", "64")
# quality → (mode, offset of the scale tonic below the root, scale degree of the triad)
_TRIAD_SOURCE: dict[str, tuple[str, int, int]] = {
    "major": ("ionian", 0, 1),
    "minor": ("aeolian", 0, 1),
    "augmented": ("harmonic_minor", 3, 3),
    "diminished": ("locrian", 0, 1),
}

PROGRESSIONS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("ionian", (1, 4, 5, 1)), ("ionian", (1, 4, 6, 5)), ("ionian", (1, 5, 6, 4)),
    ("ionian", (1, 6, 4, 5)), ("ionian", (2, 5, 1, 6)), ("ionian", (4, 1, 5, 6)),
    ("ionian", (4, 5, 3, 6)), ("ionian", (5, 4, 1, 5)), ("ionian", (5, 6, 4, 1)),
    ("ionian", (6, 4, 1, 5)),
    ("aeolian", (1, 2, 5, 1)), ("aeolian", (1, 3, 4, 1)), ("aeolian", (1, 4, 5, 1)),
    ("aeolian", (1, 6, 3, 7)), ("aeolian", (1, 6, 7, 1)), ("aeolian", (1, 6, 7, 3)),
    ("aeolian", (1, 7, 6, 4)), ("aeolian", (4, 7, 1, 1)), ("aeolian", (7, 6, 7, 1)),
)  # fmt: skip


def progression_name(mode: str, degrees: Sequence[int]) -> str:
    """Label of a progression, e.g. ``ionian:1-4-5-1``."""
    return f"{mode}:{'-'.join(map(str, degrees))}"


PROGRESSION_NAMES: tuple[str, ...] = tuple(progression_name(m, d) for m, d in PROGRESSIONS)

# ---------------------------------------------------------------------------------------
# Music theory of the generator
# ---------------------------------------------------------------------------------------


def tonic_midi(pc: int) -> int:
    """Tonic placement near middle C: ``60 + pc`` for pc 0–5, ``60 − (12 − pc)`` else."""
    return 60 + pc if pc <= 5 else 60 - (12 - pc)


def register_of(midi_note: int) -> int:
    """Number of the thresholds (3, 6, 9) that the note's octave is at or above."""
    return bisect(REGISTER_THRESHOLDS, midi_note // 12)


def scale_triad(tonic_pc: int, mode: str, degree: int) -> list[int]:
    """Triad on a 1-based scale degree, as the original places it.

    Tones are ``tonic_midi(tonic) + mode offset`` of degrees d, d+2, d+4 (mod 7), with no
    octave wrap: so a triad whose degrees wrap past the 7th sounds inverted.
    """
    offsets = MODE_INTERVALS[mode]
    base = tonic_midi(tonic_pc % 12)
    return [base + offsets[(degree - 1 + 2 * k) % 7] for k in range(3)]


def invert(pitches: Sequence[int], inversion: str) -> list[int]:
    """``"5"`` root position; ``"6"`` lowest note up an octave; ``"64"`` two lowest up."""
    n = {"5": 0, "6": 1, "64": 2}[inversion]
    return list(pitches[n:]) + [p + 12 for p in pitches[:n]]


def chord_pitches(root_pc: int, quality: str, inversion: str = "5") -> list[int]:
    """MIDI pitches of a SynTheory chord (augmented: III of harmonic minor a m3 below)."""
    mode, below, degree = _TRIAD_SOURCE[quality]
    return invert(scale_triad((root_pc - below) % 12, mode, degree), inversion)


def progression_pitches(key_pc: int, mode: str, degrees: Sequence[int]) -> list[list[int]]:
    """MIDI pitches of the four triads of a progression (with the voicing quirk)."""
    return [scale_triad(key_pc, mode, d) for d in degrees]


# ---------------------------------------------------------------------------------------
# Items
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SynItem:
    """One SynTheory clip: what it is, how it sounds (events) and its metadata."""

    clip_id: str
    concept: str
    label: str
    program: int
    instrument: str
    events: tuple[tuple[int, ...], ...]
    meta: dict[str, object] = field(default_factory=dict, compare=False, hash=False)

    def record(self) -> dict[str, object]:
        """Flat row: ids, label, program, instrument, category, metadata, pitches."""
        row: dict[str, object] = {
            "clip_id": self.clip_id,
            "concept": self.concept,
            "label": self.label,
            "program": self.program,
            "instrument": self.instrument,
            "category": gm_category(self.program),
        }
        row.update(self.meta)
        row["midi_pitches"] = json.dumps([list(e) for e in self.events])
        return row


def _pc(value: int | str) -> int:
    """Pitch class from an int or a sharp name (``"C#"``)."""
    if isinstance(value, str):
        if value not in PITCH_CLASS_NAMES:
            raise ValueError(f"unknown pitch class {value!r}; use one of {PITCH_CLASS_NAMES}")
        return PITCH_CLASS_NAMES.index(value)
    if not 0 <= int(value) <= 11:
        raise ValueError(f"pitch class must be 0..11, got {value}")
    return int(value)


def _checked(values: Iterable, allowed: Sequence, what: str) -> list:
    """``values`` as a list, each in ``allowed``."""
    out = list(values)
    bad = [v for v in out if v not in allowed]
    if bad:
        raise ValueError(f"unknown {what} {bad}; known: {list(allowed)}")
    return out


def _programs(programs: Iterable[int] | None) -> list[int]:
    """Programs to use (default: the 92 kept ones), validated as GM programs 0..127."""
    return _checked(programs if programs is not None else PROGRAMS, range(128), "program(s)")


def _safe(name: str) -> str:
    """Pitch-class name fit for a file name (``C#`` → ``Cs``)."""
    return name.replace("#", "s")


def _item(
    concept: str,
    tail: str,
    label: str,
    program: int,
    events: Sequence[Sequence[int]],
    meta: dict[str, object],
) -> SynItem:
    """Build an item with a readable, stable clip id."""
    return SynItem(
        clip_id=f"{concept}_p{program:03d}_{tail}",
        concept=concept,
        label=label,
        program=program,
        instrument=GM_PROGRAM_NAMES[program],
        events=tuple(tuple(e) for e in events),
        meta=meta,
    )


def note_items(
    programs: Iterable[int] | None = None, midi_notes: Iterable[int] | None = None
) -> list[SynItem]:
    """Notes subset (original order: note, then program). Label: pitch class."""
    notes = _checked(midi_notes if midi_notes is not None else MIDI_NOTES, range(128), "note(s)")
    progs = _programs(programs)
    items = []
    for note, program in product(notes, progs):
        name = PITCH_CLASS_NAMES[note % 12]
        meta = {
            "midi_note": note,
            "pitch_class": note % 12,
            "octave": note // 12,
            "register": register_of(note),
        }
        items.append(_item("notes", f"m{note:03d}", name, program, [[note]] * N_EVENTS, meta))
    return items


def chord_items(
    programs: Iterable[int] | None = None,
    roots: Iterable[int | str] | None = None,
    qualities: Iterable[str] | None = None,
    inversions: Iterable[str] | None = None,
) -> list[SynItem]:
    """Chords subset (order: root, quality, inversion, program). Label: quality."""
    root_pcs = [_pc(r) for r in (roots if roots is not None else range(12))]
    quals = _checked(qualities if qualities is not None else QUALITIES, QUALITIES, "quality")
    invs = _checked(inversions if inversions is not None else INVERSIONS, INVERSIONS, "inversion")
    progs = _programs(programs)
    items = []
    for pc, quality, inv, program in product(root_pcs, quals, invs, progs):
        root = PITCH_CLASS_NAMES[pc]
        pitches = chord_pitches(pc, quality, inv)
        meta = {"root": root, "root_pc": pc, "quality": quality, "inversion": inv}
        tail = f"{_safe(root)}_{quality}_{inv}"
        items.append(_item("chords", tail, quality, program, [pitches] * N_EVENTS, meta))
    return items


def _progression_key(value: str | tuple[str, Sequence[int]]) -> tuple[str, tuple[int, ...]]:
    """``"ionian:1-4-5-1"`` or ``("ionian", (1, 4, 5, 1))`` → a known progression."""
    if isinstance(value, str):
        mode, _, degrees = value.partition(":")
        key = (mode, tuple(int(d) for d in degrees.split("-") if d))
    else:
        key = (value[0], tuple(value[1]))
    if key not in PROGRESSIONS:
        raise ValueError(f"unknown progression {value!r}; known: {list(PROGRESSION_NAMES)}")
    return key


def progression_items(
    programs: Iterable[int] | None = None,
    keys: Iterable[int | str] | None = None,
    progressions: Iterable[str | tuple[str, Sequence[int]]] | None = None,
) -> list[SynItem]:
    """Chord-progressions subset (order: key, progression, program). Label: progression."""
    key_pcs = [_pc(k) for k in (keys if keys is not None else range(12))]
    progs_ = [_progression_key(p) for p in (progressions or PROGRESSIONS)]
    programs_ = _programs(programs)
    items = []
    for pc, (mode, degrees), program in product(key_pcs, progs_, programs_):
        key = PITCH_CLASS_NAMES[pc]
        label = progression_name(mode, degrees)
        deg = "-".join(map(str, degrees))
        meta = {"key": key, "key_pc": pc, "mode": mode, "degrees": deg}
        events = progression_pitches(pc, mode, degrees)
        tail = f"{_safe(key)}_{mode}_{deg}"
        items.append(_item("chord_progressions", tail, label, program, events, meta))
    return items


_BUILDERS = {"notes": note_items, "chords": chord_items, "chord_progressions": progression_items}


def items_for(concept: str, **subset) -> list[SynItem]:
    """Items of ``concept`` (``notes``, ``chords``, ``chord_progressions``), subset kwargs."""
    if concept not in _BUILDERS:
        raise ValueError(f"unknown concept {concept!r}; known: {list(CONCEPTS)}")
    return _BUILDERS[concept](**subset)


def count_items(concept: str, **subset) -> int:
    """Number of clips of ``concept`` (full spec: 9,936 / 13,248 / 20,976)."""
    return len(items_for(concept, **subset))


# ---------------------------------------------------------------------------------------
# MIDI
# ---------------------------------------------------------------------------------------


def item_midi(item: SynItem) -> mido.MidiFile:
    """The clip's MIDI exactly as the original writes it (4 events × 2 beats, 4.0 s)."""
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("track_name", name=item.instrument, time=0))
    track.append(
        mido.MetaMessage(
            "time_signature",
            numerator=4,
            denominator=4,
            clocks_per_click=24,
            notated_32nd_notes_per_beat=8,
            time=0,
        )
    )
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(BPM), time=0))
    track.append(mido.Message("program_change", program=item.program, channel=CHANNEL, time=0))
    for pitches in item.events:
        _append_event(track, pitches)
    midi = mido.MidiFile(ticks_per_beat=TICKS_PER_BEAT)
    midi.tracks.append(track)
    return midi


def _append_event(track: mido.MidiTrack, pitches: Sequence[int]) -> None:
    """All notes on at once, then off after 2 beats (the first note_off carries the time)."""
    for p in pitches:
        track.append(mido.Message("note_on", note=p, velocity=VELOCITY, channel=CHANNEL, time=0))
    for i, p in enumerate(pitches):
        dt = EVENT_BEATS * TICKS_PER_BEAT if i == 0 else 0
        track.append(mido.Message("note_off", note=p, velocity=VELOCITY, channel=CHANNEL, time=dt))


# ---------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------

RMS_FLOOR_DB = -120.0
# TimGM6mb at gain 0.45 is quiet (piano C4: about -45 dBFS RMS; B8: -60), and the 88
# clips the spec lists as silent render to all-zero 16-bit samples here; the quietest
# sounding clips (Synth Voice above MIDI 92) sit near -93 dBFS. -100 dB separates them.
SILENCE_DB = -100.0


def level_stats(pcm: np.ndarray) -> tuple[float, float]:
    """(RMS in dBFS, floored at -120; absolute peak in [0, 1]) of int16 or float audio."""
    x = pcm.astype(np.float64) / 32767.0 if pcm.dtype == np.int16 else pcm.astype(np.float64)
    if x.size == 0:
        return RMS_FLOOR_DB, 0.0
    rms = float(np.sqrt(np.mean(x**2)))
    rms_db = 20.0 * np.log10(rms) if rms > 0 else RMS_FLOOR_DB
    return max(float(rms_db), RMS_FLOOR_DB), float(np.max(np.abs(x)))


def clip_path(out_dir: str | Path, item: SynItem) -> Path:
    """Where a clip's WAV goes: ``out_dir/<concept>/<clip_id>.wav``."""
    return Path(out_dir) / item.concept / f"{item.clip_id}.wav"


def _existing(path: Path, sample_rate: int, frames: int) -> np.ndarray | None:
    """The int16 samples of a finished clip, or None if absent or not the right shape."""
    if not path.is_file():
        return None
    try:
        info = sf.info(path)
    except RuntimeError:
        return None
    good = (info.samplerate, info.frames, info.channels, info.subtype) == (
        sample_rate,
        frames,
        1,
        "PCM_16",
    )
    return sf.read(path, dtype="int16")[0] if good else None


def _render_one(task: tuple[SynItem, str, int, str]) -> tuple[float, float]:
    """Render (or reuse) one clip; return its level stats. Runs in workers too."""
    item, path_str, sample_rate, soundfont = task
    path = Path(path_str)
    frames = int(round(CLIP_SECONDS * sample_rate))
    pcm = _existing(path, sample_rate, frames)
    if pcm is None:
        audio = render_midi(
            item_midi(item), sample_rate, Path(soundfont), DEFAULT_GAIN, seconds=CLIP_SECONDS
        )
        pcm = to_pcm16(audio)
        write_wav(path, pcm, sample_rate)
    return level_stats(pcm)


def _stats(tasks: list, threads: int, progress: bool) -> list[tuple[float, float]]:
    """Level stats of all tasks, in order, serially or with a thread pool.

    Threads, not processes: FluidSynth renders inside ctypes calls, which release the
    GIL, and a forked worker of a process that already ran OpenMP code (torch, an
    earlier soundfont load) can hang forever.
    """
    bar = dict(
        total=len(tasks), desc="syntheory", unit="clip", file=sys.stderr, disable=not progress
    )
    if threads <= 1 or len(tasks) <= 1:
        return [s for s in tqdm(map(_render_one, tasks), **bar)]
    with ThreadPoolExecutor(threads) as pool:
        return [s for s in tqdm(pool.map(_render_one, tasks), **bar)]


_HEAD = dict.fromkeys(("clip_id", "concept", "label", "path", "program", "instrument"))


def render_items(
    items: Sequence[SynItem],
    out_dir: str | Path,
    sample_rate: int = 32000,
    soundfont: str | Path | None = None,
    threads: int = 1,
    silence_db: float = SILENCE_DB,
    progress: bool = True,
) -> pd.DataFrame:
    """Render ``items`` to ``out_dir/<concept>/<clip_id>.wav`` and return the manifest.

    Clips are 16-bit mono WAV, exactly 4.0 s. Existing files of the right length are
    kept (resumable). One row per item: clip_id, concept, label, path (relative to
    ``out_dir``), program, instrument, category, metadata, midi_pitches, sample_rate,
    rms_db, peak and ``silent`` (RMS below ``silence_db``). The threshold matters: -60
    dB would flag 167 notes clips (quiet but sounding high notes); the default -100 dB
    flags exactly the spec's 88.
    """
    sf2 = str(find_soundfont(soundfont))
    out = Path(out_dir)
    tasks = [(it, str(clip_path(out, it)), sample_rate, sf2) for it in items]
    stats = _stats(tasks, threads, progress)
    rows = []
    for item, (rms_db, peak) in zip(items, stats, strict=True):
        row = {**_HEAD, **item.record(), "path": clip_path(".", item).as_posix()}
        row.update(sample_rate=sample_rate, rms_db=rms_db, peak=peak, silent=rms_db < silence_db)
        rows.append(row)
    return pd.DataFrame(rows)
