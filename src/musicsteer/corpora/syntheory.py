"""SynTheory generator: the notes, chords and chord-progression subsets.

Matches the published generator (Wei et al., ISMIR 2024; ``brown-palm/syntheory``):
92 General MIDI programs, one MIDI track at 120 BPM in 4/4 with 480 ticks per beat,
``program_change`` on channel 2, velocity 64, four 1-second events per clip (4.0 s),
the same chord voicings (including the progression voicing quirk) and the same item
order. Audio is rendered locally with FluidSynth and the TimGM6mb SoundFont
(:mod:`musicsteer.render`); the original used rustysynth, see the spec for the
measured level and timbre match.

Config subsets go through :func:`select_items` (programs by GM number or name, octaves,
roots, keys, ...); :func:`count_table` and ``python -m musicsteer.corpora.syntheory --count``
count them without rendering. :func:`split_silent` sets silent clips aside with a
reason, and :func:`load_hub_syntheory` fetches the published set from the Hub instead.

Over 600 lines for one concern: it mirrors one published generator (theory, item
catalogue, subsets and the counting CLI); rendering and the Hub loader live beside it.
"""

from __future__ import annotations

import argparse
import difflib
import json
from bisect import bisect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import product

import numpy as np
import pandas as pd

BPM = 120


TICKS_PER_BEAT = 480


CHANNEL = 2


VELOCITY = 64


EVENT_BEATS = 2


N_EVENTS = 4


CLIP_SECONDS = 4.0


CONCEPTS = ("notes", "chords", "chord_progressions")


PITCH_CLASS_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


# SynTheory concepts whose label is a pitch class, chord or progression: the clip's own
# chroma spells it out, so Melody's chroma conditioning would hand it to the probe.
TONAL_SYNTHEORY = ("notes", "chords", "chord_progressions")


def melody_conditioning_problem(dataset: str, melody_conditioning: str) -> str | None:
    """Why ``melody_conditioning`` would leak the label of ``dataset``, or None.

    ``dataset`` is a SynTheory concept (``chords``) or a workflow dataset name
    (``syntheory_chords``, ``genres``). Genre clips may use their own chroma.
    """
    concept = dataset.removeprefix("syntheory_")
    if melody_conditioning != "chroma" or concept not in TONAL_SYNTHEORY:
        return None
    return (
        f"activations.melody_conditioning: 'chroma' would hand the label of SynTheory "
        f"dataset {concept!r} to the probe through the chroma prefix; use 'null'"
    )


# General MIDI program names (0-based), spelled as in SynTheory's instruments.csv.
GM_PROGRAM_NAMES: tuple[str, ...] = (
    "Acoustic Grand Piano",
    "Bright Acoustic Piano",
    "Electric Grand Piano",
    "Honky-tonk Piano",
    "Rhodes Piano",
    "Chorused Piano",
    "Harpsichord",
    "Clavinet",
    "Celesta",
    "Glockenspiel",
    "Music Box",
    "Vibraphone",
    "Marimba",
    "Xylophone",
    "Tubular Bells",
    "Dulcimer",
    "Hammond Organ",
    "Percussive Organ",
    "Rock Organ",
    "Church Organ",
    "Reed Organ",
    "Accordion",
    "Harmonica",
    "Tango Accordion",
    "Acoustic Nylon Guitar",
    "Acoustic Steel Guitar",
    "Electric Jazz Guitar",
    "Electric Clean Guitar",
    "Electric Muted Guitar",
    "Overdriven Guitar",
    "Distortion Guitar",
    "Guitar Harmonics",
    "Acoustic Bass",
    "Fingered Electric Bass",
    "Plucked Electric Bass",
    "Fretless Bass",
    "Slap Bass 1",
    "Slap Bass 2",
    "Synth Bass 1",
    "Synth Bass 2",
    "Violin",
    "Viola",
    "Cello",
    "Contrabass",
    "Tremolo Strings",
    "Pizzicato Strings",
    "Orchestral Harp",
    "Timpani",
    "String Ensemble 1",
    "String Ensemble 2",
    "Synth Strings 1",
    "Synth Strings 2",
    'Choir "Aah"',
    'Choir "Ooh"',
    "Synth Voice",
    "Orchestral Hit",
    "Trumpet",
    "Trombone",
    "Tuba",
    "Muted Trumpet",
    "French Horn",
    "Brass Section",
    "Synth Brass 1",
    "Synth Brass 2",
    "Soprano Sax",
    "Alto Sax",
    "Tenor Sax",
    "Baritone Sax",
    "Oboe",
    "English Horn",
    "Bassoon",
    "Clarinet",
    "Piccolo",
    "Flute",
    "Recorder",
    "Pan Flute",
    "Bottle Blow",
    "Shakuhachi",
    "Whistle",
    "Ocarina",
    "Square Wave Lead",
    "Sawtooth Wave Lead",
    "Calliope Lead",
    "Chiff Lead",
    "Charang Lead",
    "Voice Lead",
    "Fifths Lead",
    "Bass Lead",
    "New Age Pad",
    "Warm Pad",
    "Polysynth Pad",
    "Choir Pad",
    "Bowed Pad",
    "Metallic Pad",
    "Halo Pad",
    "Sweep Pad",
    "Rain Effect",
    "Soundtrack Effect",
    "Crystal Effect",
    "Atmosphere Effect",
    "Brightness Effect",
    "Goblins Effect",
    "Echoes Effect",
    "Sci-Fi Effect",
    "Sitar",
    "Banjo",
    "Shamisen",
    "Koto",
    "Kalimba",
    "Bagpipe",
    "Fiddle",
    "Shanai",
    "Tinkle Bell",
    "Agogo",
    "Steel Drums",
    "Woodblock",
    "Taiko Drum",
    "Melodic Tom",
    "Synth Drum",
    "Reverse Cymbal",
    "Guitar Fret Noise",
    "Breath Noise",
    "Seashore",
    "Bird Tweet",
    "Telephone Ring",
    "Helicopter",
    "Applause",
    "Gun Shot",
)


GM_CATEGORIES: tuple[str, ...] = (
    "Piano Timbres",
    "Chromatic Percussion",
    "Organ Timbres",
    "Guitar Timbres",
    "Bass Timbres",
    "String Timbres",
    "Ensemble Timbres",
    "Brass Timbres",
    "Reed Timbres",
    "Pipe Timbres",
    "Synth Lead",
    "Synth Pad",
    "Synth Effects",
    "Ethnic Timbres",
    "Sound Effects",
)


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
    ("ionian", (1, 4, 5, 1)),
    ("ionian", (1, 4, 6, 5)),
    ("ionian", (1, 5, 6, 4)),
    ("ionian", (1, 6, 4, 5)),
    ("ionian", (2, 5, 1, 6)),
    ("ionian", (4, 1, 5, 6)),
    ("ionian", (4, 5, 3, 6)),
    ("ionian", (5, 4, 1, 5)),
    ("ionian", (5, 6, 4, 1)),
    ("ionian", (6, 4, 1, 5)),
    ("aeolian", (1, 2, 5, 1)),
    ("aeolian", (1, 3, 4, 1)),
    ("aeolian", (1, 4, 5, 1)),
    ("aeolian", (1, 6, 3, 7)),
    ("aeolian", (1, 6, 7, 1)),
    ("aeolian", (1, 6, 7, 3)),
    ("aeolian", (1, 7, 6, 4)),
    ("aeolian", (4, 7, 1, 1)),
    ("aeolian", (7, 6, 7, 1)),
)


def progression_name(mode: str, degrees: Sequence[int]) -> str:
    """Label of a progression, e.g. ``ionian:1-4-5-1``."""
    return f"{mode}:{'-'.join(map(str, degrees))}"


PROGRESSION_NAMES: tuple[str, ...] = tuple(progression_name(m, d) for m, d in PROGRESSIONS)


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


_FLAT_NAMES = {"Db": "C#", "Eb": "D#", "Gb": "F#", "Ab": "G#", "Bb": "A#"}


def pitch_class(value: int | str) -> int:
    """Pitch class from an int or a note name (``"C#"``, ``"Db"``, ``"c"``)."""
    if isinstance(value, str):
        name = value[:1].upper() + value[1:]
        name = _FLAT_NAMES.get(name, name)
        if name not in PITCH_CLASS_NAMES:
            raise ValueError(f"unknown pitch class {value!r}; use one of {PITCH_CLASS_NAMES}")
        return PITCH_CLASS_NAMES.index(name)
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
    root_pcs = [pitch_class(r) for r in (roots if roots is not None else range(12))]
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
    key_pcs = [pitch_class(k) for k in (keys if keys is not None else range(12))]
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


_BUILDERS: dict[str, Callable[..., list[SynItem]]] = {
    "notes": note_items,
    "chords": chord_items,
    "chord_progressions": progression_items,
}


def items_for(concept: str, **subset) -> list[SynItem]:
    """Items of ``concept`` (``notes``, ``chords``, ``chord_progressions``), subset kwargs."""
    if concept not in _BUILDERS:
        raise ValueError(f"unknown concept {concept!r}; known: {list(CONCEPTS)}")
    return _BUILDERS[concept](**subset)


def count_items(concept: str, **subset) -> int:
    """Number of clips of ``concept`` (full spec: 9,936 / 13,248 / 20,976)."""
    return len(items_for(concept, **subset))


ALL = "all"


# A subset value: None or "all" (full spec), one value, or several.
SubsetValues = Iterable[int | str] | int | str | None


OCTAVES: tuple[int, ...] = tuple(range(9))  # of the notes subset: C0..B8


# Which select_items() arguments each concept takes.
SUBSET_KEYS: dict[str, tuple[str, ...]] = {
    "notes": ("programs", "octaves", "midi_notes"),
    "chords": ("programs", "roots", "qualities", "inversions"),
    "chord_progressions": ("programs", "keys", "progressions"),
}


def _excluded_reason(program: int) -> str:
    """Why the spec drops a program (empty if it keeps it)."""
    if gm_category(program) in ATONAL_CATEGORIES:
        return f"atonal category {gm_category(program)!r}"
    if program in POLYPHONIC_PROGRAMS:
        return "polyphonic"
    if program in ARTICULATE_PROGRAMS:
        return "highly articulate"
    return ""


def _valid_programs_text() -> str:
    """The 92 programs as ``number name`` pairs, for error messages."""
    return ", ".join(f"{p} {GM_PROGRAM_NAMES[p]}" for p in PROGRAMS)


def _program_by_name(name: str) -> int:
    """GM program number of an instrument name (case-insensitive, ``_`` for spaces)."""
    key = name.strip().lower().replace("_", " ")
    for program, gm_name in enumerate(GM_PROGRAM_NAMES):
        if gm_name.lower() == key:
            return program
    if key.isdigit():
        return int(key)
    close = difflib.get_close_matches(name, [GM_PROGRAM_NAMES[p] for p in PROGRAMS], n=3)
    hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
    raise ValueError(f"unknown instrument {name!r}{hint}; valid programs: {_valid_programs_text()}")


def gm_program(value: int | str) -> int:
    """Any General MIDI program (0..127) from its number or name; ``ValueError`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | str | np.integer):
        raise ValueError(f"program must be a GM number or name, got {value!r}")
    program = _program_by_name(value) if isinstance(value, str) else int(value)
    if not 0 <= program <= 127:
        raise ValueError(f"program {program} is not a GM program (0..127)")
    return program


def resolve_program(value: int | str) -> int:
    """A spec program (one of the 92) from its GM number or name (``"Flute"`` → 73).

    Raises ``ValueError`` naming the value and listing the valid programs, also for a
    GM program that the spec excludes (and why).
    """
    program = gm_program(value)
    reason = _excluded_reason(program)
    if reason:
        raise ValueError(
            f"program {program} ({GM_PROGRAM_NAMES[program]}) is excluded by the SynTheory "
            f"spec ({reason}); valid programs: {_valid_programs_text()}"
        )
    return program


def _is_all(value: object) -> bool:
    """Whether a subset value means "the full spec" (None or ``"all"``)."""
    return value is None or (isinstance(value, str) and value.lower() == ALL)


def _as_list(value: object) -> list:
    """A single value or an iterable of values as a list (strings stay whole)."""
    if isinstance(value, str | int | np.integer) or not isinstance(value, Iterable):
        return [value]
    return list(value)


def resolve_programs(programs: SubsetValues = None) -> list[int]:
    """Programs of a subset: None/``"all"`` → the 92; else numbers and/or GM names."""
    if _is_all(programs):
        return list(PROGRAMS)
    return [resolve_program(p) for p in _as_list(programs)]


def _note_subset(octaves: object, midi_notes: object) -> list[int]:
    """MIDI notes of the notes subset: given notes (default 0..107) within ``octaves``."""
    notes = MIDI_NOTES if _is_all(midi_notes) else _as_list(midi_notes)
    notes = _checked([int(n) for n in notes], MIDI_NOTES, "MIDI note(s) (spec: 0..107)")
    if _is_all(octaves):
        return notes
    wanted = _checked([int(o) for o in _as_list(octaves)], OCTAVES, "octave(s)")
    return [n for n in notes if n // 12 in wanted]


def _or_none(value: object) -> list | None:
    """``None`` for the full spec, else the value as a list."""
    return None if _is_all(value) else _as_list(value)


def _check_applicable(concept: str, given: dict[str, object]) -> None:
    """Raise if an argument is set that the concept does not take."""
    if concept not in SUBSET_KEYS:
        raise ValueError(f"unknown concept {concept!r}; known: {list(CONCEPTS)}")
    wrong = [k for k, v in given.items() if v is not None and k not in SUBSET_KEYS[concept]]
    if wrong:
        raise ValueError(
            f"{', '.join(wrong)} do(es) not apply to {concept}; "
            f"it takes: {', '.join(SUBSET_KEYS[concept])}"
        )


def select_items(
    concept: str,
    programs: SubsetValues = None,
    octaves: SubsetValues = None,
    midi_notes: SubsetValues = None,
    roots: SubsetValues = None,
    qualities: SubsetValues = None,
    inversions: SubsetValues = None,
    keys: SubsetValues = None,
    progressions: SubsetValues = None,
) -> list[SynItem]:
    """Items of a config subset of ``concept``; None or ``"all"`` means the full spec.

    ``programs``: GM numbers or names (case-insensitive: ``"Flute"``, ``"violin"``), only
    the 92 the spec keeps. notes take ``octaves`` (0..8) and/or ``midi_notes`` (0..107);
    chords ``roots`` (names or pitch classes), ``qualities``, ``inversions``
    (``"5"``, ``"6"``, ``"64"``); chord_progressions ``keys`` and ``progressions``
    (``"ionian:1-4-5-1"``). An argument the concept does not take raises ``ValueError``,
    as does any unknown value (the message lists the valid ones).
    """
    _check_applicable(
        concept,
        dict(
            programs=programs,
            octaves=octaves,
            midi_notes=midi_notes,
            roots=roots,
            qualities=qualities,
            inversions=inversions,
            keys=keys,
            progressions=progressions,
        ),
    )
    progs = resolve_programs(programs)
    if concept == "notes":
        return note_items(programs=progs, midi_notes=_note_subset(octaves, midi_notes))
    if concept == "chords":
        invs = _or_none(inversions)
        return chord_items(
            programs=progs,
            roots=_or_none(roots),
            qualities=_or_none(qualities),
            inversions=None if invs is None else [str(i) for i in invs],
        )
    return progression_items(
        programs=progs, keys=_or_none(keys), progressions=_or_none(progressions)
    )


def subset_for(concept: str, options: Mapping[str, object] | None) -> dict[str, object]:
    """The :func:`select_items` arguments of ``concept`` from flat config options.

    A config may hold one flat subset for all concepts (``programs``, ``octaves``,
    ``roots``, ``keys``, ...); each concept takes only its own keys (see
    :data:`SUBSET_KEYS`), the rest are ignored here.
    """
    if concept not in SUBSET_KEYS:
        raise ValueError(f"unknown concept {concept!r}; known: {list(CONCEPTS)}")
    return {k: v for k, v in (options or {}).items() if k in SUBSET_KEYS[concept]}


def count_table(subset_spec: dict[str, dict | None] | None = None) -> pd.DataFrame:
    """Counting mode (nothing is rendered): clips per concept of a config subset.

    ``subset_spec`` maps a concept to its :func:`select_items` arguments (``{}`` or
    None: full spec); None counts the three full sets (9,936 / 13,248 / 20,976).
    Returns a DataFrame with columns ``concept, items``.
    """
    spec = dict.fromkeys(CONCEPTS) if subset_spec is None else subset_spec
    rows = [
        {"concept": concept, "items": len(select_items(concept, **(subset or {})))}
        for concept, subset in spec.items()
    ]
    return pd.DataFrame(rows, columns=["concept", "items"])


def _cli_subset(concept: str, args: argparse.Namespace) -> dict[str, object]:
    """The CLI's subset options that ``concept`` takes."""
    given = {k: v for k, v in vars(args).items() if v is not None}
    return subset_for(concept, given)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m musicsteer.corpora.syntheory --count``: print ``<concept> <items>`` lines."""
    parser = argparse.ArgumentParser(
        prog="python -m musicsteer.corpora.syntheory", description="SynTheory counting mode."
    )
    parser.add_argument("--count", action="store_true", help="count items (no rendering)")
    parser.add_argument("--concept", nargs="+", choices=CONCEPTS, default=list(CONCEPTS))
    parser.add_argument("--programs", nargs="+", help="GM numbers or names (default: all 92)")
    parser.add_argument("--octaves", nargs="+", type=int, help="notes: octaves 0..8")
    parser.add_argument("--roots", nargs="+", help="chords: roots (C, C#, ...)")
    parser.add_argument("--qualities", nargs="+", help="chords: major minor augmented ...")
    parser.add_argument("--keys", nargs="+", help="chord_progressions: keys")
    args = parser.parse_args(argv)
    if not args.count:
        parser.error("nothing to do: pass --count")
    try:
        table = count_table({c: _cli_subset(c, args) for c in args.concept})
    except ValueError as err:
        parser.error(str(err))
    for row in table.itertuples():
        print(f"{row.concept} {row.items}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
