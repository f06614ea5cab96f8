from __future__ import annotations

import io
from pathlib import Path

import huggingface_hub
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from musicsteer.corpora import syntheory, syntheory_hub, syntheory_render


def test_hub_offline_error_says_render_locally(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RuntimeError, match=r"HF_HUB_OFFLINE.*syntheory.source: render"):
        syntheory_hub.load_hub_syntheory("notes", cache_dir=tmp_path)
    monkeypatch.delenv("HF_HUB_OFFLINE")

    def no_network(**kwargs):
        raise ConnectionError("no route to huggingface.co")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", no_network)
    with pytest.raises(RuntimeError, match=r"ConnectionError.*syntheory.source: render"):
        syntheory_hub.load_hub_syntheory("chords", cache_dir=tmp_path)


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
    manifest = syntheory_hub.hub_parquet_to_manifest([shard], "notes", tmp_path / "out")
    expected = syntheory.note_items(programs=[73], midi_notes=[69]) + syntheory.note_items(
        programs=[10], midi_notes=[5]
    )
    assert manifest.clip_id.tolist() == [it.clip_id for it in expected]
    assert manifest.label.tolist() == ["A", "F"]
    assert manifest.silent.tolist() == [False, True]
    reference = [
        syntheory_render._manifest_row(it, 32000, (0.0, 0.0), syntheory_render.SILENCE_DB)
        for it in expected
    ]
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
    got = syntheory_hub.load_hub_syntheory("chords", out_dir=tmp_path / "out")
    assert got.clip_id.tolist() == ["chords_p040_Fs_augmented_64"]
    assert (got.quality[0], got.inversion[0], got.label[0]) == ("augmented", "64", "augmented")
    got = syntheory_hub.load_hub_syntheory("chord_progressions", out_dir=tmp_path / "out")
    assert got.clip_id.tolist() == ["chord_progressions_p000_D_aeolian_1-6-7-1"]
    assert (got.key[0], got["mode"][0], got.label[0]) == ("D", "aeolian", "aeolian:1-6-7-1")
    assert seen[1]["repo_id"] == "meganwei/syntheory" and seen[1]["repo_type"] == "dataset"
    assert seen[1]["allow_patterns"] == ["simple_progressions/*"]
    frames = sf.info(tmp_path / "out" / got.path[0]).frames
    assert frames == 128000  # 4.1 s cut to 4.0 s
