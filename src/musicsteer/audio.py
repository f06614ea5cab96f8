"""Audio I/O without torchaudio: soundfile to read and write, soxr to resample."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

SILENCE_DB = -60.0


class AudioError(ValueError):
    """An audio file that cannot be used, with the reason in the message."""


@dataclass(frozen=True)
class AudioInfo:
    """What the header of an audio file says."""

    sample_rate: int
    frames: int
    channels: int

    @property
    def seconds(self) -> float:
        """Duration in seconds."""
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def probe(path: str | Path) -> AudioInfo:
    """Read an audio file's header; :class:`AudioError` if it cannot be parsed."""
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError) as err:
        raise AudioError(f"unreadable: {err}") from err
    if info.frames <= 0 or info.samplerate <= 0:
        raise AudioError("empty: no audio frames")
    return AudioInfo(int(info.samplerate), int(info.frames), int(info.channels))


def load(
    path: str | Path,
    sample_rate: int | None = None,
    offset_s: float = 0.0,
    duration_s: float | None = None,
) -> np.ndarray:
    """Read mono float32 audio, optionally a window of it, resampled to ``sample_rate``.

    Multi-channel audio is averaged to mono. Raises :class:`AudioError` when the file
    cannot be decoded or the window holds fewer samples than asked for.
    """
    info = probe(path)
    start = int(round(offset_s * info.sample_rate))
    frames = -1 if duration_s is None else int(round(duration_s * info.sample_rate))
    try:
        data, sr = sf.read(str(path), start=start, frames=frames, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as err:
        raise AudioError(f"undecodable: {err}") from err
    if frames > 0 and data.shape[0] < frames:
        raise AudioError(f"truncated: {data.shape[0]} of {frames} frames decoded at {offset_s}s")
    mono = data.mean(axis=1)
    return resample(mono, sr, sample_rate or sr)


def resample(audio: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Resample mono audio with soxr (no-op when the rates match)."""
    audio = np.asarray(audio, dtype=np.float32)
    if from_rate == to_rate:
        return audio
    return soxr.resample(audio, from_rate, to_rate).astype(np.float32)


def rms_db(audio: np.ndarray) -> float:
    """Root-mean-square level in dBFS (−inf for digital silence)."""
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if audio.size else 0.0
    return 20.0 * np.log10(rms) if rms > 0 else float("-inf")


def is_silent(audio: np.ndarray, threshold_db: float = SILENCE_DB) -> bool:
    """Silence by a level threshold, not ``== 0``: synthesisers dither."""
    return rms_db(audio) < threshold_db


def write_wav(
    path: str | Path, audio: np.ndarray, sample_rate: int, subtype: str = "PCM_16"
) -> Path:
    """Write mono audio atomically (temporary file + rename), clipping to [-1, 1]."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clipped = np.clip(np.asarray(audio, dtype=np.float32).reshape(-1), -1.0, 1.0)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".wav")
    os.close(fd)
    try:
        sf.write(tmp, clipped, sample_rate, subtype=subtype, format="WAV")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
