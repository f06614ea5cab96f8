"""Audio I/O without torchaudio: soundfile to read and write, soxr to resample.

An audio *source* is a path, raw bytes, a binary file object, or a reference to one
row of a Parquet file whose ``audio`` column holds encoded audio (the Hugging Face
``Audio`` layout, ``struct<bytes, path>``), written ``/data/train.parquet#row=17``.
The reference form lets a manifest's ``source`` column name in-memory audio with a
plain string, so every reader goes through :func:`load` unchanged.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
import soundfile as sf
import soxr

from musicsteer.storage import atomic_path

if TYPE_CHECKING:
    pass

SILENCE_DB = -60.0
MUSICGEN_SAMPLE_RATE = 32_000  # EnCodec's rate for every MusicGen checkpoint

AudioSource = str | Path | bytes | BinaryIO
_PARQUET_ROW = re.compile(r"^(?P<file>.+\.parquet)#row=(?P<row>\d+)$")
# libsndfile reports decoder failures as these; anything else is a bug, not bad input.
_DECODE_ERRORS = (sf.LibsndfileError, RuntimeError, OSError, EOFError)
# An MP3 frame borrows bits from earlier frames (the bit reservoir) and overlaps the
# previous granule, so decoding right after a seek garbles the first ~0.1-0.5 s. Start
# this many samples earlier and drop them: windows then match a full decode.
MP3_PREROLL_FRAMES = 16_384


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


def parquet_row_source(path: str | Path, row: int) -> str:
    """The source string for the audio in row ``row`` (0-based, whole file) of ``path``."""
    return f"{path}#row={int(row)}"


def parse_parquet_row_source(source: object) -> tuple[str, int] | None:
    """``(file, row)`` when ``source`` is a Parquet row reference, else ``None``."""
    match = _PARQUET_ROW.match(source) if isinstance(source, str) else None
    return (match["file"], int(match["row"])) if match else None


def parquet_audio_bytes(path: str | Path, row: int, column: str = "audio") -> bytes:
    """Encoded audio bytes of one Parquet row; :class:`AudioError` if it has none."""
    path = str(path)
    if not os.path.isfile(path):
        raise AudioError(f"missing file: {path}")
    stat = os.stat(path)  # cache key: a rewritten file must not serve stale rows
    starts = _row_group_starts(path, stat.st_mtime_ns, stat.st_size)
    if not 0 <= row < starts[-1]:
        raise AudioError(f"missing row: {row} not in {path} ({starts[-1]} rows)")
    group = int(np.searchsorted(starts, row, side="right")) - 1
    blobs = _row_group_blobs(path, stat.st_mtime_ns, stat.st_size, group, column)
    blob = blobs[int(row - starts[group])].as_py()
    if not blob:
        raise AudioError("empty: no audio bytes in Parquet row")
    return blob


@lru_cache(maxsize=64)
def _row_group_starts(path: str, _mtime: int, _size: int) -> np.ndarray:
    """First row of each row group, plus the total row count at the end."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    return np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])


@lru_cache(maxsize=2)  # clips are read in row order: one or two groups in memory at a time
def _row_group_blobs(path: str, _mtime: int, _size: int, group: int, column: str):
    """The ``bytes`` field of one row group's audio column (an Arrow array, not copied)."""
    import pyarrow.parquet as pq

    table = pq.ParquetFile(path).read_row_group(group, columns=[f"{column}.bytes"])
    return table.column(column).combine_chunks().field("bytes")


@contextlib.contextmanager
def open_audio(source: AudioSource) -> Iterator[sf.SoundFile]:
    """Open a source for reading; :class:`AudioError` says why it cannot be."""
    handle = _readable(source)
    try:
        sound = sf.SoundFile(handle)
    except _DECODE_ERRORS as err:
        raise AudioError(f"unreadable: {_decoder_message(err)}") from err
    with sound:
        yield sound


def _readable(source: AudioSource) -> str | BinaryIO:
    """What :class:`soundfile.SoundFile` accepts, after the checks libsndfile words badly."""
    ref = parse_parquet_row_source(source)
    if ref is not None:
        source = parquet_audio_bytes(*ref)
    if isinstance(source, bytes | bytearray | memoryview):
        if not len(source):
            raise AudioError("empty: zero bytes")
        return io.BytesIO(bytes(source))
    if not isinstance(source, str | Path):
        return source
    # libsndfile calls a missing or zero-byte file "not a regular file (possibly a pipe?)".
    if not os.path.isfile(source):
        raise AudioError(f"missing file: {source}")
    if os.path.getsize(source) == 0:
        raise AudioError("empty: zero-length file")
    return str(source)


def _decoder_message(err: Exception) -> str:
    """libsndfile's reason without the path or object repr (deterministic skip tables)."""
    text = getattr(err, "error_string", None) or str(err)
    if "possibly a pipe" in text:  # its words for an existing file it cannot parse
        return "format not recognised or corrupt"
    return text.rstrip(".")


def info_of(sound: sf.SoundFile) -> AudioInfo:
    """Header facts of an open file; :class:`AudioError` when it holds no audio."""
    if sound.frames <= 0 or sound.samplerate <= 0:
        raise AudioError("empty: no audio frames")
    return AudioInfo(int(sound.samplerate), int(sound.frames), int(sound.channels))


def probe(source: AudioSource) -> AudioInfo:
    """Read an audio source's header; :class:`AudioError` if it cannot be parsed.

    For MP3 the frame count comes from the Xing/LAME tag or an estimate, so a damaged
    file can claim more audio than it decodes; :func:`read_window` catches that.
    """
    with open_audio(source) as sound:
        return info_of(sound)


def read_window(
    sound: sf.SoundFile,
    sample_rate: int | None = None,
    offset_s: float = 0.0,
    duration_s: float | None = None,
) -> np.ndarray:
    """Mono float32 window of an open file, resampled to ``sample_rate``.

    Raises :class:`AudioError` when decoding fails or yields fewer frames than asked.
    """
    start = int(round(offset_s * sound.samplerate))
    frames = -1 if duration_s is None else int(round(duration_s * sound.samplerate))
    preroll = min(start, MP3_PREROLL_FRAMES) if sound.format in ("MP3", "MPEG") else 0
    try:
        sound.seek(start - preroll)
        data = sound.read(frames + preroll if frames > 0 else -1, dtype="float32", always_2d=True)
    except _DECODE_ERRORS as err:
        raise AudioError(f"undecodable: {_decoder_message(err)}") from err
    data = data[preroll:]
    if frames > 0 and data.shape[0] < frames:
        raise AudioError(f"truncated: {data.shape[0]} of {frames} frames decoded at {offset_s:g}s")
    return resample(data.mean(axis=1), sound.samplerate, sample_rate or sound.samplerate)


def load(
    source: AudioSource,
    sample_rate: int | None = None,
    offset_s: float = 0.0,
    duration_s: float | None = None,
) -> np.ndarray:
    """Read mono float32 audio, optionally a window of it, resampled to ``sample_rate``.

    Multi-channel audio is averaged to mono. Raises :class:`AudioError` when the source
    cannot be decoded or the window holds fewer samples than asked for.
    """
    with open_audio(source) as sound:
        info_of(sound)
        return read_window(sound, sample_rate, offset_s, duration_s)


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


def to_pcm16(audio: np.ndarray) -> np.ndarray:
    """Float audio in [-1, 1] → int16 (clipped, rounded)."""
    return np.round(np.clip(audio, -1.0, 1.0) * 32767.0).astype(np.int16)


def write_wav(
    path: str | Path, audio: np.ndarray, sample_rate: int, subtype: str = "PCM_16"
) -> Path:
    """Write mono audio atomically: int16 as it is, float clipped to [-1, 1]."""
    data = np.asarray(audio).reshape(-1)
    if data.dtype != np.int16:
        data = np.clip(data.astype(np.float32), -1.0, 1.0)
    with atomic_path(path) as tmp:
        sf.write(tmp, data, sample_rate, subtype=subtype, format="WAV")
    return Path(path)


AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".au")


def is_audio_path(text: str) -> bool:
    return Path(text).suffix.lower() in {".wav", ".flac", ".mp3", ".ogg", ".aiff", ".au"}
