"""Clips decoded once, at the model's sample rate, into int16 NPY shards.

Decoding MP3s and resampling 44.1-kHz files for every pass over the data is wasted
work; the activation stage instead reads these shards sequentially (memory-mapped).
Each shard holds ``[clips, samples]`` int16 mono; the manifest gains ``clip_shard``
and ``clip_row`` so every clip still traces back to its source file and offset.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from musicsteer import audio
from musicsteer.storage import npy_intact, save_npy_atomic

ClipLoader = Callable[[object, int], np.ndarray]


def load_clip_from_source(row: Any, sample_rate: int) -> np.ndarray:
    """Decode one manifest row's window from its source file, resampled and exact-length."""
    wave = audio.load(row.source, sample_rate, row.offset_s, row.duration_s)
    return fit_length(wave, int(round(row.duration_s * sample_rate)))


def fit_length(wave: np.ndarray, samples: int) -> np.ndarray:
    """Trim or zero-pad to exactly ``samples`` (resampling can be off by one)."""
    if len(wave) >= samples:
        return wave[:samples]
    return np.pad(wave, (0, samples - len(wave)))


def shard_file(folder: Path, shard: int, fingerprint: str) -> Path:
    """Path of one clip shard."""
    return folder / f"clips-{shard:05d}-{fingerprint}.npy"


def _fingerprint(part: pd.DataFrame, sample_rate: int) -> str:
    keys = part[["clip_id", "source", "offset_s", "duration_s"]].astype(str).values.tolist()
    return hashlib.sha1(json.dumps([sample_rate, keys]).encode()).hexdigest()[:10]


def write_clip_shards(
    manifest: pd.DataFrame,
    out_dir: str | Path,
    sample_rate: int = 32_000,
    shard_size: int = 256,
    loader: ClipLoader = load_clip_from_source,
    progress: bool = True,
) -> pd.DataFrame:
    """Decode every clip into shards; return the manifest with ``clip_shard``/``clip_row``.

    All clips in a manifest must have the same duration. Shards already written with
    the same content fingerprint are kept, so an interrupted job resumes.
    """
    from tqdm import tqdm

    if manifest["duration_s"].nunique() > 1:
        raise ValueError("clips of one manifest must share a duration to be stored together")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    shards, rows = [], []
    bar = tqdm(total=len(manifest), desc="clips", unit="clip", disable=not progress)
    for shard, start in enumerate(range(0, len(manifest), shard_size)):
        part = manifest.iloc[start : start + shard_size]
        path = shard_file(out, shard, _fingerprint(part, sample_rate))
        if not npy_intact(path):  # missing, or truncated by a crash outside the atomic writer
            waves = [
                audio.to_pcm16(loader(row, sample_rate)) for row in part.itertuples(index=False)
            ]
            save_npy_atomic(path, np.stack(waves))
        shards += [path.name] * len(part)
        rows += list(range(len(part)))
        bar.update(len(part))
    bar.close()
    return manifest.assign(clip_shard=shards, clip_row=rows, sample_rate=sample_rate)


def iter_clip_batches(
    manifest: pd.DataFrame, clips_dir: str | Path, batch_size: int
) -> Iterator[np.ndarray]:
    """Float32 ``[batch, samples]`` arrays in manifest order, read from memory-mapped shards."""
    folder = Path(clips_dir)
    opened: dict[str, np.ndarray] = {}
    for start in range(0, len(manifest), batch_size):
        part = manifest.iloc[start : start + batch_size]
        waves = []
        for name, row in zip(part["clip_shard"], part["clip_row"], strict=True):
            if name not in opened:
                opened = {name: np.load(folder / name, mmap_mode="r")}  # one shard open at a time
            waves.append(clip_floats(opened[name][row]))
        yield np.stack(waves)


def clip_floats(pcm: np.ndarray) -> np.ndarray:
    """Stored int16 clips as the float32 waves every reader sees (``/ 32767``)."""
    return np.asarray(pcm, dtype=np.float32) / 32767.0
