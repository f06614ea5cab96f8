"""Genre corpora on disk → a manifest of fixed-length clips (Parquet).

A manifest row is one clip: where it comes from (file + offset) and its label. Files
that cannot be used are not dropped silently: they go to a *skipped* table with the
reason, and the stage logs them by name.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from musicsteer import audio

log = logging.getLogger(__name__)

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".au")
MANIFEST_COLUMNS = ["clip_id", "dataset", "label", "source", "track", "offset_s", "duration_s",
                    "source_sample_rate", "rms_db"]  # fmt: skip
SKIPPED_COLUMNS = ["source", "label", "reason"]


@dataclass(frozen=True)
class Track:
    """One labelled audio file of a corpus."""

    path: Path
    label: str
    dataset: str


def gtzan_tracks(root: str | Path, genres: Sequence[str] | None = None) -> list[Track]:
    """List GTZAN-layout tracks: ``root/genres_original/<genre>/<genre>.000NN.wav``.

    ``root`` may also be the ``genres_original`` folder itself. Sorted, so clip ids
    and order are stable across machines.
    """
    root = Path(root)
    base = root / "genres_original" if (root / "genres_original").is_dir() else root
    if not base.is_dir():
        raise FileNotFoundError(f"GTZAN folder not found: {root}")
    found = sorted(p for p in base.iterdir() if p.is_dir())
    wanted = set(genres) if genres else {p.name for p in found}
    missing = wanted - {p.name for p in found}
    if missing:
        raise FileNotFoundError(f"genres {sorted(missing)} have no folder under {base}")
    return [
        Track(path, genre_dir.name, "gtzan")
        for genre_dir in found
        if genre_dir.name in wanted
        for path in sorted(genre_dir.iterdir())
        if path.suffix.lower() in AUDIO_SUFFIXES
    ]


def clip_offsets(seconds: float, clip_s: float) -> list[float]:
    """Offsets of whole, non-overlapping clips (a 29.9-s track gives 2 clips of 10 s)."""
    count = int(np.floor(seconds / clip_s + 1e-9))
    return [i * clip_s for i in range(count)]


def track_clips(track: Track, clip_s: float, silence_db: float) -> tuple[list[dict], list[dict]]:
    """Cut one track into clip rows; return ``(clips, skipped)`` rows."""
    try:
        info = audio.probe(track.path)
    except audio.AudioError as err:
        return [], [_skip(track, str(err))]
    offsets = clip_offsets(info.seconds, clip_s)
    if not offsets:
        return [], [_skip(track, f"too short: {info.seconds:.2f}s < {clip_s}s clip")]
    clips, skipped = [], []
    for i, offset in enumerate(offsets):
        try:
            wave = audio.load(track.path, None, offset, clip_s)
        except audio.AudioError as err:
            skipped.append(_skip(track, f"clip {i} at {offset:g}s: {err}"))
            continue
        level = audio.rms_db(wave)
        if level < silence_db:
            skipped.append(_skip(track, f"clip {i} at {offset:g}s: silent ({level:.1f} dBFS)"))
            continue
        clips.append(_clip_row(track, i, offset, clip_s, info, level))
    return clips, skipped


def _clip_row(track: Track, i: int, offset: float, clip_s: float, info, level: float) -> dict:
    return {
        "clip_id": f"{track.dataset}/{track.path.stem}/{i}",
        "dataset": track.dataset,
        "label": track.label,
        "source": str(track.path),
        "track": track.path.stem,
        "offset_s": float(offset),
        "duration_s": float(clip_s),
        "source_sample_rate": info.sample_rate,
        "rms_db": float(level),
    }


def _skip(track: Track, reason: str) -> dict:
    log.warning("skipped %s: %s", track.path, reason)
    return {"source": str(track.path), "label": track.label, "reason": reason}


def build_manifest(
    tracks: Iterable[Track],
    clip_s: float = 10.0,
    silence_db: float = audio.SILENCE_DB,
    max_clips_per_label: int | None = None,
    seed: int = 0,
    progress: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Clip every track; return ``(manifest, skipped)`` DataFrames.

    ``max_clips_per_label`` caps each label with a seeded sample (clip order kept).
    """
    from tqdm import tqdm

    rows, skipped = [], []
    tracks = list(tracks)
    for track in tqdm(tracks, desc="clipping", unit="track", disable=not progress):
        clips, skips = track_clips(track, clip_s, silence_db)
        rows += clips
        skipped += skips
    manifest = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    if max_clips_per_label:
        manifest = cap_per_label(manifest, max_clips_per_label, seed)
    return manifest.reset_index(drop=True), pd.DataFrame(skipped, columns=SKIPPED_COLUMNS)


def cap_per_label(manifest: pd.DataFrame, cap: int, seed: int) -> pd.DataFrame:
    """Keep at most ``cap`` clips per label, sampled with ``seed``, in manifest order."""
    rng = np.random.default_rng(seed)
    keep = []
    for _, group in manifest.groupby("label", sort=True):
        idx = group.index.to_numpy()
        keep.append(np.sort(rng.choice(idx, size=min(cap, len(idx)), replace=False)))
    return manifest.loc[np.sort(np.concatenate(keep))] if keep else manifest


def write_table(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a DataFrame as Parquet (or TSV for ``.tsv``), creating the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".tsv":
        df.to_csv(path, sep="\t", index=False)
    else:
        df.to_parquet(path, index=False)
    return path
