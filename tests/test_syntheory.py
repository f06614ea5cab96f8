"""SynTheory generator: spec facts, MIDI conventions, real FluidSynth rendering."""

from __future__ import annotations

import hashlib
from pathlib import Path

import mido
import pandas as pd
import pytest
import soundfile as sf

from musicsteer import syntheory as st
from musicsteer.render import DEFAULT_SOUNDFONT

needs_soundfont = pytest.mark.skipif(
    not DEFAULT_SOUNDFONT.is_file(), reason="apt-get install fluidsynth timgm6mb-soundfont"
)


def test_92_programs_as_in_spec() -> None:
    kept = [
        *range(0, 8),
        *range(10, 14),
        *range(15, 21),
        *range(24, 31),
        *range(32, 47),
        *range(48, 55),
        *range(56, 77),
        *range(79, 86),
        *range(87, 96),
        *range(104, 112),
    ]
    assert len(st.PROGRAMS) == 92
    assert list(st.PROGRAMS) == kept
    assert len(st.GM_PROGRAM_NAMES) == 128
    assert st.GM_PROGRAM_NAMES[10] == "Music Box" and st.GM_PROGRAM_NAMES[73] == "Flute"


def test_full_counts() -> None:
    assert st.count_items("notes") == 9936
    assert st.count_items("chords") == 13248
    assert st.count_items("chord_progressions") == 20976
    assert st.count_items("chords", roots=["C"], qualities=["major", "minor"]) == 2 * 3 * 92


def test_clip_ids_unique_and_labels() -> None:
    for concept in st.CONCEPTS:
        items = st.items_for(concept)
        assert len({it.clip_id for it in items}) == len(items)
    assert {it.label for it in st.note_items(programs=[0])} == set(st.PITCH_CLASS_NAMES)
    assert {it.label for it in st.chord_items(programs=[0])} == set(st.QUALITIES)
    labels = {it.label for it in st.progression_items(programs=[0])}
    assert len(labels) == 19 and "ionian:1-4-5-1" in labels and "aeolian:7-6-7-1" in labels
    assert st.note_items(programs=[0], midi_notes=[60])[0].clip_id == "notes_p000_m060"


def test_note_metadata() -> None:
    item = st.note_items(programs=[73], midi_notes=[61])[0]
    rec = item.record()
    assert (rec["label"], rec["octave"], rec["register"], rec["instrument"]) == (
        "C#",
        5,
        1,
        "Flute",
    )
    assert [st.register_of(n) for n in (35, 36, 71, 72, 107, 108)] == [0, 1, 1, 2, 2, 3]


def test_chord_voicings() -> None:
    assert [st.chord_pitches(0, "major", inv) for inv in ("5", "6", "64")] == [
        [60, 64, 67],
        [64, 67, 72],
        [67, 72, 76],
    ]
    assert st.chord_pitches(6, "major") == [54, 58, 61]
    assert st.chord_pitches(0, "minor") == [60, 63, 67]
    assert st.chord_pitches(0, "diminished") == [60, 63, 66]
    assert st.chord_pitches(0, "augmented") == [60, 64, 68]
    item = st.chord_items(programs=[0], roots=["F#"], qualities=["major"], inversions=["5"])[0]
    assert item.events == ((54, 58, 61),) * 4


def test_progression_voicing_quirk() -> None:
    assert st.progression_pitches(0, "ionian", (1, 4, 5, 1)) == [
        [60, 64, 67],
        [65, 69, 60],
        [67, 71, 62],
        [60, 64, 67],
    ]
    item = st.progression_items(programs=[0], keys=["C"], progressions=["ionian:1-4-5-1"])[0]
    assert item.events[1] == (65, 69, 60)
    assert item.record()["mode"] == "ionian"


def test_midi_conventions() -> None:
    item = st.progression_items(programs=[40], keys=[2], progressions=["aeolian:1-6-7-1"])[0]
    midi = item_midi_roundtrip(item)
    assert midi.ticks_per_beat == 480 and len(midi.tracks) == 1
    msgs = list(midi.tracks[0])
    assert [m.type for m in msgs[:4]] == [
        "track_name",
        "time_signature",
        "set_tempo",
        "program_change",
    ]
    assert msgs[0].name == "Violin"
    assert (msgs[1].numerator, msgs[1].denominator) == (4, 4)
    assert msgs[2].tempo == 500000
    assert (msgs[3].channel, msgs[3].program) == (2, 40)
    notes = [m for m in msgs if m.type in ("note_on", "note_off")]
    assert all(m.channel == 2 and m.velocity == 64 for m in notes)
    assert sum(m.time for m in msgs) == 4 * 960
    assert midi.length == pytest.approx(4.0)


def item_midi_roundtrip(item: st.SynItem) -> mido.MidiFile:
    """Save and reload, so the test sees what a .mid file would hold."""
    import io

    buf = io.BytesIO()
    st.item_midi(item).save(file=buf)
    buf.seek(0)
    return mido.MidiFile(file=buf)


def test_unknown_subset_values() -> None:
    with pytest.raises(ValueError, match="quality"):
        st.chord_items(qualities=["sus4"])
    with pytest.raises(ValueError, match="progression"):
        st.progression_items(progressions=["ionian:1-2-3-4"])
    with pytest.raises(ValueError, match="concept"):
        st.count_items("intervals")


@needs_soundfont
def test_render_items_manifest_and_silence(tmp_path: Path) -> None:
    items = st.note_items(programs=[0, 10], midi_notes=[5, 60])
    df = st.render_items(items, tmp_path, progress=False)
    assert len(df) == 4 and list(df.columns[:4]) == ["clip_id", "concept", "label", "path"]
    row = df.set_index("clip_id")
    for clip in df.itertuples():
        info = sf.info(tmp_path / clip.path)
        assert (info.samplerate, info.frames, info.channels) == (32000, 128000, 1)
        assert info.subtype == "PCM_16"
    assert not row.loc["notes_p000_m060", "silent"]
    assert row.loc["notes_p000_m060", "rms_db"] > -60
    assert row.loc["notes_p010_m005", "silent"]  # Music Box, MIDI 0-11: silent (spec)
    assert row.loc["notes_p000_m005", "rms_db"] > st.SILENCE_DB


@needs_soundfont
def test_render_deterministic_and_resumable(tmp_path: Path) -> None:
    items = st.chord_items(programs=[30], roots=[0], qualities=["minor"], inversions=["6"])
    a = st.render_items(items, tmp_path / "a", progress=False)
    b = st.render_items(items, tmp_path / "b", progress=False)
    pa, pb = tmp_path / "a" / a.path[0], tmp_path / "b" / b.path[0]
    assert hashlib.sha256(pa.read_bytes()).digest() == hashlib.sha256(pb.read_bytes()).digest()
    mtime = pa.stat().st_mtime_ns
    again = st.render_items(items, tmp_path / "a", progress=False)
    assert pa.stat().st_mtime_ns == mtime
    pd.testing.assert_frame_equal(a, again)


@needs_soundfont
def test_render_parallel_matches_serial(tmp_path: Path) -> None:
    items = st.progression_items(
        programs=[0, 73], keys=["C"], progressions=["ionian:1-4-5-1", "aeolian:1-6-7-1"]
    )
    serial = st.render_items(items, tmp_path / "s", progress=False)
    parallel = st.render_items(items, tmp_path / "p", threads=2, progress=False)
    pd.testing.assert_frame_equal(serial, parallel)
    for rel in serial.path:
        assert (tmp_path / "s" / rel).read_bytes() == (tmp_path / "p" / rel).read_bytes()
