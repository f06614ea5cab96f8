from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import soundfile as sf

from musicsteer.corpora import syntheory, syntheory_render
from tests.corpora.syntheory_helpers import needs_soundfont


@needs_soundfont
def test_render_items_manifest_and_silence(tmp_path: Path) -> None:
    items = syntheory.note_items(programs=[0, 10], midi_notes=[5, 60])
    df = syntheory_render.render_items(items, tmp_path, progress=False)
    assert len(df) == 4 and list(df.columns[:4]) == ["clip_id", "concept", "label", "path"]
    row = df.set_index("clip_id")
    for clip in df.itertuples():
        info = sf.info(tmp_path / clip.path)
        assert (info.samplerate, info.frames, info.channels) == (32000, 128000, 1)
        assert info.subtype == "PCM_16"
    assert not row.loc["notes_p000_m060", "silent"]
    assert row.loc["notes_p000_m060", "rms_db"] > -60
    assert row.loc["notes_p010_m005", "silent"]  # Music Box, MIDI 0-11: silent (spec)
    assert row.loc["notes_p000_m005", "rms_db"] > syntheory_render.SILENCE_DB


@needs_soundfont
def test_render_deterministic_and_resumable(tmp_path: Path) -> None:
    items = syntheory.chord_items(programs=[30], roots=[0], qualities=["minor"], inversions=["6"])
    a = syntheory_render.render_items(items, tmp_path / "a", progress=False)
    b = syntheory_render.render_items(items, tmp_path / "b", progress=False)
    pa, pb = tmp_path / "a" / a.path[0], tmp_path / "b" / b.path[0]
    assert hashlib.sha256(pa.read_bytes()).digest() == hashlib.sha256(pb.read_bytes()).digest()
    mtime = pa.stat().st_mtime_ns
    again = syntheory_render.render_items(items, tmp_path / "a", progress=False)
    assert pa.stat().st_mtime_ns == mtime
    pd.testing.assert_frame_equal(a, again)


@needs_soundfont
def test_render_parallel_matches_serial(tmp_path: Path) -> None:
    items = syntheory.progression_items(
        programs=[0, 73], keys=["C"], progressions=["ionian:1-4-5-1", "aeolian:1-6-7-1"]
    )
    serial = syntheory_render.render_items(items, tmp_path / "s", progress=False)
    parallel = syntheory_render.render_items(items, tmp_path / "p", threads=2, progress=False)
    pd.testing.assert_frame_equal(serial, parallel)
    for rel in serial.path:
        assert (tmp_path / "s" / rel).read_bytes() == (tmp_path / "p" / rel).read_bytes()


@needs_soundfont
def test_split_silent_skips_known_silent_clip(tmp_path: Path) -> None:
    items = syntheory.select_items("notes", programs=["Music Box", 0], midi_notes=[5])
    kept, skipped = syntheory_render.split_silent(
        syntheory_render.render_items(items, tmp_path, progress=False)
    )
    assert kept.clip_id.tolist() == ["notes_p000_m005"] and not kept.silent.any()
    assert list(skipped.columns) == syntheory_render.SKIPPED_COLUMNS
    assert skipped.clip_id.tolist() == ["notes_p010_m005"]
    assert skipped.path.tolist() == ["notes/notes_p010_m005.wav"]
    assert skipped.reason[0] == "silent: RMS -120.0 dBFS < -100 dBFS"
    _, none_skipped = syntheory_render.split_silent(kept)
    assert none_skipped.empty
