"""SynTheory generator: spec facts, MIDI conventions, real FluidSynth rendering."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
from pathlib import Path

import huggingface_hub
import mido
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
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


# --- config subsets and counting mode ---------------------------------------------------


def test_count_table_full_spec_and_subset() -> None:
    full = st.count_table()
    assert full.to_dict("records") == [
        {"concept": "notes", "items": 9936},
        {"concept": "chords", "items": 13248},
        {"concept": "chord_progressions", "items": 20976},
    ]
    assert st.count_table({"notes": {"programs": "all"}})["items"].tolist() == [9936]
    subset = st.count_table(
        {
            "notes": {"programs": ["Flute", "violin", 13], "octaves": [4]},
            "chords": {"programs": ["Flute", "Violin", "Xylophone"], "roots": ["C"]},
            "chord_progressions": {"programs": [73], "keys": ["C", "G"], "progressions": None},
        }
    )
    assert subset["items"].tolist() == [36, 3 * 4 * 3, 2 * 19]


def test_select_items_by_name_octave_and_note() -> None:
    by_name = st.select_items("notes", programs=["FLUTE", "Acoustic_Grand_Piano"], octaves=4)
    by_number = st.note_items(programs=[73, 0], midi_notes=range(48, 60))
    assert by_name == by_number
    assert [it.clip_id for it in st.select_items("notes", programs=0, midi_notes=[61, 62])] == [
        "notes_p000_m061",
        "notes_p000_m062",
    ]
    assert st.select_items("notes", programs=[0], octaves=[5], midi_notes=[61, 40]) == (
        st.note_items(programs=[0], midi_notes=[61])
    )
    chords = st.select_items("chords", programs=["Violin"], roots="Db", inversions=[5, "64"])
    assert {(it.meta["root"], it.meta["inversion"]) for it in chords} == {("C#", "5"), ("C#", "64")}


def test_subset_for_takes_each_concepts_keys() -> None:
    flat = {"programs": ["Flute"], "octaves": [4], "roots": ["C"], "keys": ["C"]}
    assert st.subset_for("notes", flat) == {"programs": ["Flute"], "octaves": [4]}
    assert st.subset_for("chords", flat) == {"programs": ["Flute"], "roots": ["C"]}
    assert st.subset_for("chord_progressions", flat) == {"programs": ["Flute"], "keys": ["C"]}
    assert st.subset_for("notes", None) == {}
    counts = st.count_table({c: st.subset_for(c, flat) for c in st.CONCEPTS})
    assert counts["items"].tolist() == [12, 12, 19]


def test_select_items_errors_name_the_value() -> None:
    with pytest.raises(ValueError, match=r"program 9 \(Glockenspiel\) is excluded.*polyphonic"):
        st.select_items("notes", programs=[9])
    with pytest.raises(ValueError, match=r"program 112 \(Tinkle Bell\) is excluded.*73 Flute"):
        st.select_items("chords", programs=[112])
    with pytest.raises(ValueError, match=r"unknown instrument 'Flutee' \(did you mean 'Flute'"):
        st.select_items("notes", programs=["Flutee"])
    with pytest.raises(ValueError, match=r"roots do\(es\) not apply to notes"):
        st.select_items("notes", roots=["C"])
    with pytest.raises(ValueError, match=r"octave\(s\) \[9\]"):
        st.select_items("notes", octaves=[9])
    with pytest.raises(ValueError, match="unknown pitch class 'H'"):
        st.select_items("chord_progressions", keys=["H"])
    with pytest.raises(ValueError, match="concept"):
        st.count_table({"scales": {}})


def test_count_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert st.main(["--count"]) == 0
    assert capsys.readouterr().out.split("\n")[:3] == [
        "notes 9936",
        "chords 13248",
        "chord_progressions 20976",
    ]
    st.main(
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
        [sys.executable, "-m", "musicsteer.syntheory", "--count", "--concept", "chords"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout == "chords 13248\n"
    with pytest.raises(SystemExit):
        st.main(["--count", "--programs", "9"])
    assert "excluded by the SynTheory spec" in capsys.readouterr().err


# --- rendered subset: the spec's MIDI facts, silence ------------------------------------


@needs_soundfont
def test_rendered_subset_matches_midi_facts(tmp_path: Path) -> None:
    items = st.select_items("notes", programs=["Flute"], midi_notes=[60]) + st.select_items(
        "chords", programs=["Xylophone"], roots=["C"], qualities=["minor"], inversions=["6"]
    )
    manifest = st.render_items(items, tmp_path, threads=2, progress=False)
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


@needs_soundfont
def test_split_silent_skips_known_silent_clip(tmp_path: Path) -> None:
    items = st.select_items("notes", programs=["Music Box", 0], midi_notes=[5])
    kept, skipped = st.split_silent(st.render_items(items, tmp_path, progress=False))
    assert kept.clip_id.tolist() == ["notes_p000_m005"] and not kept.silent.any()
    assert list(skipped.columns) == st.SKIPPED_COLUMNS
    assert skipped.clip_id.tolist() == ["notes_p010_m005"]
    assert skipped.path.tolist() == ["notes/notes_p010_m005.wav"]
    assert skipped.reason[0] == "silent: RMS -120.0 dBFS < -100 dBFS"
    _, none_skipped = st.split_silent(kept)
    assert none_skipped.empty


# --- the Hub set (offline here) -----------------------------------------------------------


def test_hub_offline_error_says_render_locally(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RuntimeError, match=r"HF_HUB_OFFLINE.*syntheory.source: render"):
        st.load_hub_syntheory("notes", cache_dir=tmp_path)
    monkeypatch.delenv("HF_HUB_OFFLINE")

    def no_network(**kwargs):
        raise ConnectionError("no route to huggingface.co")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", no_network)
    with pytest.raises(RuntimeError, match=r"ConnectionError.*syntheory.source: render"):
        st.load_hub_syntheory("chords", cache_dir=tmp_path)


def wav_bytes(audio: np.ndarray, rate: int = 44100) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, audio, rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def hub_shard(path: Path, rows: list[dict]) -> Path:
    """A Parquet shard shaped like the Hub's: ``audio`` = {bytes, path} struct + metadata."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def tone(seconds: float = 4.0, rate: int = 44100) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    mono = 0.1 * np.sin(2 * np.pi * 440.0 * t)
    return np.stack([mono, mono], axis=1)  # the Hub's audio is not mono


def test_hub_parquet_to_manifest(tmp_path: Path) -> None:
    common = {"midi_program_name": "x", "midi_category": "x"}
    rows = [
        {
            "audio": {"bytes": wav_bytes(tone()), "path": "a.wav"},
            "midi_note_val": 69,
            "midi_program_num": 73,
            **common,
        },
        {
            "audio": {"bytes": wav_bytes(np.zeros((176400, 2))), "path": "b.wav"},
            "midi_note_val": 5,
            "midi_program_num": 10,
            **common,
        },
    ]
    shard = hub_shard(tmp_path / "snap/notes/train-00000-of-00001.parquet", rows)
    manifest = st.hub_parquet_to_manifest([shard], "notes", tmp_path / "out")
    expected = st.note_items(programs=[73], midi_notes=[69]) + st.note_items(
        programs=[10], midi_notes=[5]
    )
    assert manifest.clip_id.tolist() == [it.clip_id for it in expected]
    assert manifest.label.tolist() == ["A", "F"]
    assert manifest.silent.tolist() == [False, True]
    reference = [st._manifest_row(it, 32000, (0.0, 0.0), st.SILENCE_DB) for it in expected]
    assert list(manifest.columns) == list(reference[0])
    assert manifest.path[0] == "hub/notes/notes_p073_m069.wav"  # apart from local renders
    info = sf.info(tmp_path / "out" / manifest.path[0])
    assert (info.samplerate, info.frames, info.channels) == (32000, 128000, 1)
    assert manifest.rms_db[0] == pytest.approx(20 * np.log10(0.1 / np.sqrt(2)), abs=0.1)


def test_hub_rows_of_chords_and_progressions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    audio = {"bytes": wav_bytes(tone(4.1)), "path": "x.wav"}
    chords = [
        {
            "audio": audio,
            "root_note_pitch_class": 6,
            "chord_type": "aug",
            "inversion": 64,
            "midi_program_num": 40,
        }
    ]
    progs = [
        {
            "audio": audio,
            "key_note_pitch_class": 2,
            "midi_program_num": 0,
            "chord_progression": "aeolian-(1, 6, 7, 1)",
        }
    ]
    snap = tmp_path / "snap"
    hub_shard(snap / "chords/train-00000-of-00001.parquet", chords)
    hub_shard(snap / "simple_progressions/train-00000-of-00001.parquet", progs)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    seen = []

    def fake_download(**kwargs):
        seen.append(kwargs)
        return str(snap)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_download)
    got = st.load_hub_syntheory("chords", out_dir=tmp_path / "out")
    assert got.clip_id.tolist() == ["chords_p040_Fs_augmented_64"]
    assert (got.quality[0], got.inversion[0], got.label[0]) == ("augmented", "64", "augmented")
    got = st.load_hub_syntheory("chord_progressions", out_dir=tmp_path / "out")
    assert got.clip_id.tolist() == ["chord_progressions_p000_D_aeolian_1-6-7-1"]
    assert (got.key[0], got["mode"][0], got.label[0]) == ("D", "aeolian", "aeolian:1-6-7-1")
    assert seen[1]["repo_id"] == "meganwei/syntheory" and seen[1]["repo_type"] == "dataset"
    assert seen[1]["allow_patterns"] == ["simple_progressions/*"]
    frames = sf.info(tmp_path / "out" / got.path[0]).frames
    assert frames == 128000  # 4.1 s cut to 4.0 s
