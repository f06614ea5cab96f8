from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import soundfile as sf

SR = 22_050


def _tone(seconds: float, freq: float = 220.0, sr: int = SR, channels: int = 1) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    wave = (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.stack([wave, np.roll(wave, 7)], axis=1) if channels == 2 else wave


def _mp3_bytes(wave: np.ndarray, sr: int = SR) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, wave, sr, format="MP3")
    return buf.getvalue()


def _wav_bytes(wave: np.ndarray, sr: int = SR) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, wave, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _write(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


# --- lewtun/music_genres -----------------------------------------------------------


def _music_genres_table(rows: list[tuple]) -> pa.Table:
    audio_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    return pa.table(
        {
            "audio": pa.array(
                [{"bytes": b, "path": f"{sid}.x"} for b, sid, *_ in rows], audio_type
            ),
            "song_id": pa.array([sid for _, sid, *_ in rows], pa.int64()),
            "genre_id": pa.array([gid for *_, gid, _ in rows], pa.int64()),
            "genre": pa.array([g for *_, g in rows], pa.string()),
        }
    )
