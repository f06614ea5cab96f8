"""The mini models' training corpus: rendered genre tracks, split by track, cut into clips.

Tracks, not clips, are held out: clips of one track share key, tempo, instruments and
patterns, so a clip-level split would test memory of a track rather than the genre.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from musicsteer import audio
from musicsteer.render.genres import render_genre_corpus

SPLITS = ("train", "heldout")


def render_training_corpus(
    out_root: str | Path,
    genres: Sequence[str],
    tracks_per_genre: int,
    seconds: float,
    sample_rate: int = audio.MUSICGEN_SAMPLE_RATE,
    seed: int = 0,
    held_out: float = 0.25,
    soundfont: str | Path | None = None,
) -> pd.DataFrame:
    """Render the corpus (FluidSynth) and mark each genre's last tracks ``heldout``.

    At least one track per genre is held out and at least one trains; the manifest has
    ``genre, track, path, seed, split`` and the arrangement columns of the renderer.
    """
    n_held = math.ceil(held_out * tracks_per_genre)
    if not 0 < n_held < tracks_per_genre:
        raise ValueError(
            f"held_out={held_out} of {tracks_per_genre} tracks leaves no train or held-out track"
        )
    manifest = render_genre_corpus(
        out_root, genres, tracks_per_genre, seconds, sample_rate, seed, soundfont
    )
    held = manifest["track"] >= tracks_per_genre - n_held
    return manifest.assign(split=np.where(held, "heldout", "train"))


@dataclass
class Clips:
    """Fixed-length clips cut from corpus tracks, with each clip's genre, track and split."""

    waves: list[np.ndarray]
    genres: list[str]
    tracks: list[str]
    splits: list[str]

    def of(self, split: str) -> tuple[list[np.ndarray], list[str]]:
        """The clips and genres of one split."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        keep = [i for i, s in enumerate(self.splits) if s == split]
        return [self.waves[i] for i in keep], [self.genres[i] for i in keep]


def cut_clips(manifest: pd.DataFrame, root: str | Path, clip_s: float, sample_rate: int) -> Clips:
    """Every whole ``clip_s`` clip of every track (no overlap, the remainder dropped)."""
    size = int(round(clip_s * sample_rate))
    clips = Clips([], [], [], [])
    for row in manifest.itertuples(index=False):
        wave = audio.load(Path(root) / str(row.path), sample_rate)
        for start in range(0, len(wave) - size + 1, size):
            clips.waves.append(wave[start : start + size])
            clips.genres.append(str(row.genre))
            clips.tracks.append(f"{row.genre}/{row.track}")
            clips.splits.append(str(row.split))
    return clips
