"""SynTheory generator: spec facts, MIDI conventions, real FluidSynth rendering."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import mido
import pytest
import soundfile as sf

from musicsteer.corpora import syntheory, syntheory_render
from tests.corpora.syntheory_helpers import needs_soundfont


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
    assert len(syntheory.PROGRAMS) == 92
    assert list(syntheory.PROGRAMS) == kept
    assert len(syntheory.GM_PROGRAM_NAMES) == 128
    assert (
        syntheory.GM_PROGRAM_NAMES[10] == "Music Box" and syntheory.GM_PROGRAM_NAMES[73] == "Flute"
    )


def test_full_counts() -> None:
    assert syntheory.count_items("notes") == 9936
    assert syntheory.count_items("chords") == 13248
    assert syntheory.count_items("chord_progressions") == 20976
    assert syntheory.count_items("chords", roots=["C"], qualities=["major", "minor"]) == 2 * 3 * 92


def test_clip_ids_unique_and_labels() -> None:
    for concept in syntheory.CONCEPTS:
        items = syntheory.items_for(concept)
        assert len({it.clip_id for it in items}) == len(items)
    assert {it.label for it in syntheory.note_items(programs=[0])} == set(
        syntheory.PITCH_CLASS_NAMES
    )
    assert {it.label for it in syntheory.chord_items(programs=[0])} == set(syntheory.QUALITIES)
    labels = {it.label for it in syntheory.progression_items(programs=[0])}
    assert len(labels) == 19 and "ionian:1-4-5-1" in labels and "aeolian:7-6-7-1" in labels
    assert syntheory.note_items(programs=[0], midi_notes=[60])[0].clip_id == "notes_p000_m060"


def test_note_metadata() -> None:
    item = syntheory.note_items(programs=[73], midi_notes=[61])[0]
    rec = item.record()
    assert (rec["label"], rec["octave"], rec["register"], rec["instrument"]) == (
        "C#",
        5,
        1,
        "Flute",
    )
    assert [syntheory.register_of(n) for n in (35, 36, 71, 72, 107, 108)] == [0, 1, 1, 2, 2, 3]


def test_chord_voicings() -> None:
    assert [syntheory.chord_pitches(0, "major", inv) for inv in ("5", "6", "64")] == [
        [60, 64, 67],
        [64, 67, 72],
        [67, 72, 76],
    ]
    assert syntheory.chord_pitches(6, "major") == [54, 58, 61]
    assert syntheory.chord_pitches(0, "minor") == [60, 63, 67]
    assert syntheory.chord_pitches(0, "diminished") == [60, 63, 66]
    assert syntheory.chord_pitches(0, "augmented") == [60, 64, 68]
    item = syntheory.chord_items(programs=[0], roots=["F#"], qualities=["major"], inversions=["5"])[
        0
    ]
    assert item.events == ((54, 58, 61),) * 4


def test_progression_voicing_quirk() -> None:
    assert syntheory.progression_pitches(0, "ionian", (1, 4, 5, 1)) == [
        [60, 64, 67],
        [65, 69, 60],
        [67, 71, 62],
        [60, 64, 67],
    ]
    item = syntheory.progression_items(programs=[0], keys=["C"], progressions=["ionian:1-4-5-1"])[0]
    assert item.events[1] == (65, 69, 60)
    assert item.record()["mode"] == "ionian"


def test_midi_conventions() -> None:
    item = syntheory.progression_items(programs=[40], keys=[2], progressions=["aeolian:1-6-7-1"])[0]
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


def item_midi_roundtrip(item: syntheory.SynItem) -> mido.MidiFile:
    """Save and reload, so the test sees what a .mid file would hold."""

    buf = io.BytesIO()
    syntheory_render.item_midi(item).save(file=buf)
    buf.seek(0)
    return mido.MidiFile(file=buf)


def test_unknown_subset_values() -> None:
    with pytest.raises(ValueError, match="quality"):
        syntheory.chord_items(qualities=["sus4"])
    with pytest.raises(ValueError, match="progression"):
        syntheory.progression_items(progressions=["ionian:1-2-3-4"])
    with pytest.raises(ValueError, match="concept"):
        syntheory.count_items("intervals")


# --- config subsets and counting mode ---------------------------------------------------


def test_count_table_full_spec_and_subset() -> None:
    full = syntheory.count_table()
    assert full.to_dict("records") == [
        {"concept": "notes", "items": 9936},
        {"concept": "chords", "items": 13248},
        {"concept": "chord_progressions", "items": 20976},
    ]
    assert syntheory.count_table({"notes": {"programs": "all"}})["items"].tolist() == [9936]
    subset = syntheory.count_table(
        {
            "notes": {"programs": ["Flute", "violin", 13], "octaves": [4]},
            "chords": {"programs": ["Flute", "Violin", "Xylophone"], "roots": ["C"]},
            "chord_progressions": {"programs": [73], "keys": ["C", "G"], "progressions": None},
        }
    )
    assert subset["items"].tolist() == [36, 3 * 4 * 3, 2 * 19]


def test_select_items_by_name_octave_and_note() -> None:
    by_name = syntheory.select_items("notes", programs=["FLUTE", "Acoustic_Grand_Piano"], octaves=4)
    by_number = syntheory.note_items(programs=[73, 0], midi_notes=range(48, 60))
    assert by_name == by_number
    assert [
        it.clip_id for it in syntheory.select_items("notes", programs=0, midi_notes=[61, 62])
    ] == [
        "notes_p000_m061",
        "notes_p000_m062",
    ]
    assert syntheory.select_items("notes", programs=[0], octaves=[5], midi_notes=[61, 40]) == (
        syntheory.note_items(programs=[0], midi_notes=[61])
    )
    chords = syntheory.select_items("chords", programs=["Violin"], roots="Db", inversions=[5, "64"])
    assert {(it.meta["root"], it.meta["inversion"]) for it in chords} == {("C#", "5"), ("C#", "64")}


def test_subset_for_takes_each_concepts_keys() -> None:
    flat = {"programs": ["Flute"], "octaves": [4], "roots": ["C"], "keys": ["C"]}
    assert syntheory.subset_for("notes", flat) == {"programs": ["Flute"], "octaves": [4]}
    assert syntheory.subset_for("chords", flat) == {"programs": ["Flute"], "roots": ["C"]}
    assert syntheory.subset_for("chord_progressions", flat) == {
        "programs": ["Flute"],
        "keys": ["C"],
    }
    assert syntheory.subset_for("notes", None) == {}
    counts = syntheory.count_table({c: syntheory.subset_for(c, flat) for c in syntheory.CONCEPTS})
    assert counts["items"].tolist() == [12, 12, 19]


def test_select_items_errors_name_the_value() -> None:
    with pytest.raises(ValueError, match=r"program 9 \(Glockenspiel\) is excluded.*polyphonic"):
        syntheory.select_items("notes", programs=[9])
    with pytest.raises(ValueError, match=r"program 112 \(Tinkle Bell\) is excluded.*73 Flute"):
        syntheory.select_items("chords", programs=[112])
    with pytest.raises(ValueError, match=r"unknown instrument 'Flutee' \(did you mean 'Flute'"):
        syntheory.select_items("notes", programs=["Flutee"])
    with pytest.raises(ValueError, match=r"roots do\(es\) not apply to notes"):
        syntheory.select_items("notes", roots=["C"])
    with pytest.raises(ValueError, match=r"octave\(s\) \[9\]"):
        syntheory.select_items("notes", octaves=[9])
    with pytest.raises(ValueError, match="unknown pitch class 'H'"):
        syntheory.select_items("chord_progressions", keys=["H"])
    with pytest.raises(ValueError, match="concept"):
        syntheory.count_table({"scales": {}})


# --- rendered subset: the spec's MIDI facts, silence ------------------------------------


@needs_soundfont
def test_rendered_subset_matches_midi_facts(tmp_path: Path) -> None:
    items = syntheory.select_items(
        "notes", programs=["Flute"], midi_notes=[60]
    ) + syntheory.select_items(
        "chords", programs=["Xylophone"], roots=["C"], qualities=["minor"], inversions=["6"]
    )
    manifest = syntheory_render.render_items(items, tmp_path, threads=2, progress=False)
    assert manifest.program.tolist() == [73, 13]
    for item in items:
        msgs = list(item_midi_roundtrip(item).tracks[0])
        change = next(m for m in msgs if m.type == "program_change")
        assert (change.channel, change.program) == (2, item.program)
        assert next(m for m in msgs if m.type == "set_tempo").tempo == 500000
        assert {m.velocity for m in msgs if m.type.startswith("note_")} == {64}
    for clip in manifest.itertuples():
        audio, rate = sf.read(tmp_path / clip.path)
        assert (rate, len(audio), audio.ndim) == (32000, 128000, 1)
        assert not clip.silent and clip.rms_db > -60


def test_count_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert syntheory.main(["--count"]) == 0
    assert capsys.readouterr().out.split("\n")[:3] == [
        "notes 9936",
        "chords 13248",
        "chord_progressions 20976",
    ]
    syntheory.main(
        [
            "--count",
            "--concept",
            "notes",
            "chords",
            "--programs",
            "Flute",
            "40",
            "13",
            "--octaves",
            "4",
            "--roots",
            "C",
        ]
    )
    assert capsys.readouterr().out == "notes 36\nchords 36\n"
    done = subprocess.run(
        [sys.executable, "-m", "musicsteer.corpora.syntheory", "--count", "--concept", "chords"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout == "chords 13248\n"
    with pytest.raises(SystemExit):
        syntheory.main(["--count", "--programs", "9"])
    assert "excluded by the SynTheory spec" in capsys.readouterr().err


# --- the Hub set (offline here) -----------------------------------------------------------
