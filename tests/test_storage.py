"""Atomic writes: a failed write leaves the old file, and files are readable by others."""

from __future__ import annotations

import os
import stat

import numpy as np
import pandas as pd
import pytest

from musicsteer import audio
from musicsteer.storage import atomic_path, save_npy_atomic, write_table


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = write_table(pd.DataFrame({"a": [1]}), tmp_path / "t.parquet")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("killed")
    assert pd.read_parquet(target).a.tolist() == [1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.parquet"]


def test_every_writer_makes_files_others_can_read(tmp_path):
    mask = os.umask(0o022)
    try:
        import importlib

        import musicsteer.storage as storage

        importlib.reload(storage)  # the mode is read at import
        paths = [
            storage.save_npy_atomic(tmp_path / "a.npy", np.zeros(3)),
            storage.write_table(pd.DataFrame({"a": [1]}), tmp_path / "t.tsv"),
        ]
    finally:
        os.umask(mask)
    for path in paths:
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


def test_int16_audio_is_written_as_it_is_and_float_is_clipped(tmp_path):
    pcm = np.array([-32768, 0, 32767, 12345], dtype=np.int16)
    back, _ = audio.sf.read(audio.write_wav(tmp_path / "i.wav", pcm, 8000), dtype="int16")
    np.testing.assert_array_equal(back, pcm)
    loud = np.array([2.0, -2.0, 0.5], dtype=np.float32)
    back, _ = audio.sf.read(audio.write_wav(tmp_path / "f.wav", loud, 8000), dtype="int16")
    assert back[0] == 32767 and back[1] <= -32767  # clipped to full scale, not wrapped
    assert abs(int(back[2]) - 16384) <= 1
    np.testing.assert_array_equal(np.load(save_npy_atomic(tmp_path / "x.npy", pcm)), pcm)


def test_read_table_reads_what_write_table_wrote(tmp_path):
    """Parquet and TSV both round-trip (the tables' α choices are TSV)."""
    from musicsteer.storage import read_table, write_table

    frame = pd.DataFrame({"target": ["pop", "folk"], "alpha": [0.1, 0.3]})
    for name in ("t.parquet", "t.tsv"):
        pd.testing.assert_frame_equal(read_table(write_table(frame, tmp_path / name)), frame)
