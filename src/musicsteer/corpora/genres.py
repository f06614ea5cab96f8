"""Genre corpora on disk → a manifest of fixed-length clips (Parquet).

A manifest row is one clip: where it comes from (``source`` + offset) and its label.
Three corpora are read: GTZAN (a folder per genre), FMA (``tracks.csv`` + MP3 tree)
and ``lewtun/music_genres`` (Parquet rows holding encoded audio; their ``source`` is
``file.parquet#row=N``, which :func:`musicsteer.audio.load` understands). Files that
cannot be used are not dropped silently: they go to a *skipped* table with the
reason, and the stage logs them by name.

Clip ids are ``<dataset>/<track>/<index>`` (``gtzan/rock.00000/0``, ``fma/000002/1``,
``music_genres/<song_id>/0``): unique across corpora and stable across machines.
"""

from __future__ import annotations

import logging
import re
import sys
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np
import pandas as pd

from musicsteer import audio

if TYPE_CHECKING:
    import soundfile
from musicsteer.audio import AUDIO_SUFFIXES

log = logging.getLogger(__name__)


MANIFEST_COLUMNS = [
    "clip_id",
    "dataset",
    "label",
    "source",
    "track",
    "offset_s",
    "duration_s",
    "source_sample_rate",
    "rms_db",
]


SKIPPED_COLUMNS = ["source", "dataset", "label", "reason"]


FMA_SUBSETS = ("small", "medium", "large", "full")


# FMA subsets nest: each holds the tracks of the smaller ones.
_FMA_SUBSET_MEMBERS = {
    "small": {"small"},
    "medium": {"small", "medium"},
    "large": {"small", "medium", "large"},
}


@dataclass(frozen=True)
class Track:
    """One labelled audio file of a corpus, or one row of a Parquet file.

    ``row`` is set for audio stored inside a Parquet file (``path``); ``name`` is the
    track's id within its dataset (default: the file name without suffix).
    """

    path: Path
    label: str
    dataset: str
    row: int | None = None
    name: str | None = None

    @property
    def key(self) -> str:
        """The track's stable id within its dataset."""
        return self.name if self.name is not None else self.path.stem

    @property
    def source(self) -> str:
        """What :func:`musicsteer.audio.load` reads: the path or a Parquet row reference."""
        if self.row is None:
            return str(self.path)
        return audio.parquet_row_source(self.path, self.row)


def normalise_genre(genre: str, genre_map: Mapping[str, str] | None = None) -> str:
    """A corpus genre name → a label: ``genre_map`` first, else lowercase alphanumerics.

    The default makes FMA's ``"Hip-Hop"`` match GTZAN's folder ``hiphop``.
    """
    simple = re.sub(r"[^0-9a-z]+", "", str(genre).lower())
    if genre_map:
        for key in (genre, simple):
            if key in genre_map:
                return genre_map[key]
    return simple


def gtzan_tracks(root: str | Path, genres: Sequence[str] | None = None) -> list[Track]:
    """List GTZAN-layout tracks: ``root/genres_original/<genre>/<genre>.000NN.wav``.

    ``root`` may also hold ``genres/`` (the original tarball, ``.au`` files) instead,
    or be the genre folders' parent itself. Sorted, so clip ids and order are stable
    across machines.
    """
    root = Path(root)
    base = next(
        (root / sub for sub in ("genres_original", "genres") if (root / sub).is_dir()), root
    )
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


def fma_tracks(
    root: str | Path,
    subset: str = "small",
    genres: Sequence[str] | None = None,
    genre_map: Mapping[str, str] | None = None,
    audio_dir: str | Path | None = None,
) -> list[Track]:
    """List FMA tracks of ``subset`` labelled with their top-level genre.

    Reads ``root/fma_metadata/tracks.csv`` (two-row column header) and points each
    track at ``root/fma_<subset>/<id // 1000:03d>/<id:06d>.mp3`` (or under
    ``audio_dir``). Tracks without a top genre are dropped and counted in the log; a
    listed file missing on disk is kept, so clipping reports it as ``missing file``.
    """
    return _fma_listing(root, subset, genres, genre_map, audio_dir)[0]


def _fma_listing(
    root: str | Path,
    subset: str,
    genres: Sequence[str] | None,
    genre_map: Mapping[str, str] | None,
    audio_dir: str | Path | None = None,
) -> tuple[list[Track], list[dict]]:
    """FMA tracks, and skipped rows for files on disk that have no top genre."""
    if subset not in FMA_SUBSETS:
        raise ValueError(f"FMA subset must be one of {FMA_SUBSETS}, not {subset!r}")
    root = Path(root)
    top = _fma_top_genres(_read_fma_metadata(root), subset)
    base = Path(audio_dir) if audio_dir else root / f"fma_{subset}"
    unlabelled = [_fma_path(base, tid) for tid in sorted(top.index[top.isna()])]
    if unlabelled:
        log.info(
            "fma %s: %d of %d tracks have no top genre; dropped", subset, len(unlabelled), len(top)
        )
    dropped = [
        _skip_row(path, "fma", "", "no top genre in tracks.csv")
        for path in unlabelled
        if path.is_file()
    ]
    labels = top.dropna().map(lambda genre: normalise_genre(genre, genre_map))
    if genres:
        _log_absent_genres("fma", genres, labels.unique())
        labels = labels[labels.isin(list(genres))]
    tracks = [
        Track(_fma_path(base, cast(int, tid)), label, "fma", name=f"{tid:06d}")
        for tid, label in sorted(labels.items())
    ]
    return tracks, dropped


def _fma_path(base: Path, track_id: int) -> Path:
    return base / f"{track_id // 1000:03d}" / f"{track_id:06d}.mp3"


def _read_fma_metadata(root: Path) -> pd.DataFrame:
    path = root / "fma_metadata" / "tracks.csv"
    if not path.is_file():
        raise FileNotFoundError(
            f"FMA metadata not found: {path} (expected root/fma_metadata/tracks.csv from "
            "fma_metadata.zip, and root/fma_<subset>/NNN/NNNNNN.mp3)"
        )
    # The FMA layout: two header rows (e.g. track/genre_top) and a "track_id" index row.
    return pd.read_csv(path, index_col=0, header=[0, 1], low_memory=False)


def _fma_top_genres(table: pd.DataFrame, subset: str) -> pd.Series:
    """Raw top genre (NaN when none) per integer track id of ``subset``."""
    if subset in _FMA_SUBSET_MEMBERS:
        table = table[table[("set", "subset")].isin(_FMA_SUBSET_MEMBERS[subset])]
    top = table[("track", "genre_top")].copy()
    top.index = top.index.astype(int)
    return top


def _log_absent_genres(dataset: str, wanted: Sequence[str], present: Iterable[str]) -> None:
    absent = sorted(set(wanted) - set(present))
    if absent:
        log.info("%s has no tracks for genres %s", dataset, absent)


def music_genres_files(path: str | Path | Sequence[str | Path]) -> list[Path]:
    """The Parquet files of a local ``lewtun/music_genres`` copy (a folder, file or list)."""
    if isinstance(path, str | Path):
        path = Path(path)
        files = sorted(path.rglob("*.parquet")) if path.is_dir() else [path]
    else:
        files = [Path(p) for p in path]
    if not files:
        raise FileNotFoundError(f"no .parquet files under {path}")
    for file in files:
        if not file.is_file():
            raise FileNotFoundError(f"music_genres Parquet file not found: {file}")
    return files


def music_genres_tracks(
    parquet_paths: str | Path | Sequence[str | Path],
    genres: Sequence[str] | None = None,
    genre_map: Mapping[str, str] | None = None,
) -> list[Track]:
    """List the rows of a local ``lewtun/music_genres`` copy as tracks.

    Only ``song_id`` and ``genre`` are read here, batch by batch, so multi-GB files are
    never in memory; the audio bytes are decoded per track when clipping. A song id
    seen twice keeps its first row (clip ids must be unique); rows without a genre
    are dropped.
    """
    return _music_genres_listing(parquet_paths, genres, genre_map)[0]


def _music_genres_listing(
    parquet_paths: str | Path | Sequence[str | Path],
    genres: Sequence[str] | None,
    genre_map: Mapping[str, str] | None,
) -> tuple[list[Track], list[dict]]:
    """music_genres tracks, and skipped rows for repeated song ids and missing genres."""
    tracks: list[Track] = []
    dropped: list[dict] = []
    first_seen: dict[str, str] = {}
    for file in music_genres_files(parquet_paths):
        for row, song_id, genre in _parquet_labels(file):
            source = audio.parquet_row_source(file, row)
            if song_id in first_seen:
                reason = f"duplicate song_id {song_id} (first at {first_seen[song_id]})"
                dropped.append(_skip_row(source, "music_genres", genre or "", reason))
                continue
            first_seen[song_id] = Path(source).name
            if genre is None:
                dropped.append(_skip_row(source, "music_genres", "", "no genre"))
                continue
            label = normalise_genre(genre, genre_map)
            if not genres or label in genres:
                tracks.append(Track(file, label, "music_genres", row=row, name=song_id))
    if dropped:
        log.warning("music_genres: %d rows dropped (repeated song_id or no genre)", len(dropped))
    if genres:
        _log_absent_genres("music_genres", genres, {t.label for t in tracks})
    return tracks, dropped


def _parquet_labels(file: Path) -> Iterable[tuple[int, str, str | None]]:
    """``(row, song_id, genre)`` of each row, read without the audio column."""
    import pyarrow.parquet as pq

    row = 0
    for batch in pq.ParquetFile(file).iter_batches(columns=["song_id", "genre"]):
        for song_id, genre in zip(
            *(batch.column(c).to_pylist() for c in ("song_id", "genre")), strict=True
        ):
            yield row, str(song_id), genre
            row += 1


# (root, genres, genre_map, fma_subset) -> (tracks, rows dropped before clipping)
Listing = Callable[
    [Path, Sequence[str] | None, Mapping[str, str] | None, str], tuple[list[Track], list[dict]]
]


@dataclass(frozen=True)
class GenreSource:
    """A genre corpus the pipeline reads: how to list it, what a copy holds, how to fetch it.

    ``archives`` names :data:`musicsteer.corpora.download.SOURCES` entries (``{subset}``
    is the FMA subset); empty means the Parquet files come from the Hub.
    """

    listing: Listing
    holds: str
    archives: tuple[str, ...] = ()


def _list_gtzan(root: Path, genres, genre_map, _subset: str) -> tuple[list[Track], list[dict]]:
    return _gtzan_listing(root, genres, genre_map), []


def _list_fma(root: Path, genres, genre_map, subset: str) -> tuple[list[Track], list[dict]]:
    return _fma_listing(root, subset, genres, genre_map)


def _list_music_genres(
    root: Path, genres, genre_map, _subset: str
) -> tuple[list[Track], list[dict]]:
    return _music_genres_listing(root, genres, genre_map)


# The genre sources, by config key (data.<name>). A new corpus is a listing and an entry here
# (plus its data.<name> key in the schema; a test checks that the two agree).
SOURCES: dict[str, GenreSource] = {
    "gtzan": GenreSource(
        _list_gtzan, "GTZAN (genres_original/<genre>/<genre>.000NN.wav)", ("gtzan",)
    ),
    "fma": GenreSource(
        _list_fma,
        "FMA (fma_metadata/tracks.csv + fma_<subset>/NNN/NNNNNN.mp3)",
        ("fma_metadata", "fma_{subset}"),
    ),
    "music_genres": GenreSource(_list_music_genres, "a local Parquet copy of lewtun/music_genres"),
}


def source_tracks(
    source: str,
    root: str | Path,
    genres: Sequence[str] | None = None,
    genre_map: Mapping[str, str] | None = None,
    fma_subset: str = "medium",
) -> tuple[list[Track], pd.DataFrame]:
    """Tracks of one registered source (:data:`SOURCES`) under ``root``.

    Returns the tracks of the wanted ``genres`` (all when None) and a skipped-shaped
    table of what was dropped before clipping (FMA files without a top genre,
    music_genres rows repeating a song id or without a genre). A genre a source lacks
    is logged, not an error: the sources are combined per genre afterwards.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown genre source {source!r}; expected one of {tuple(SOURCES)}")
    tracks, dropped = SOURCES[source].listing(Path(root), genres, genre_map, fma_subset)
    return tracks, pd.DataFrame(dropped, columns=SKIPPED_COLUMNS)


def _gtzan_listing(
    root: str | Path, genres: Sequence[str] | None, genre_map: Mapping[str, str] | None
) -> list[Track]:
    """GTZAN tracks relabelled by ``genre_map`` (folder names are labels already)."""
    tracks = [replace(t, label=(genre_map or {}).get(t.label, t.label)) for t in gtzan_tracks(root)]
    if not genres:
        return tracks
    _log_absent_genres("gtzan", genres, {t.label for t in tracks})
    return [t for t in tracks if t.label in genres]


def clip_offsets(seconds: float, clip_s: float) -> list[float]:
    """Offsets of whole, non-overlapping clips (a 29.9-s track gives 2 clips of 10 s)."""
    count = int(np.floor(seconds / clip_s + 1e-9))
    return [i * clip_s for i in range(count)]


def track_clips(track: Track, clip_s: float, silence_db: float) -> tuple[list[dict], list[dict]]:
    """Cut one track into clip rows; return ``(clips, skipped)`` rows.

    Never raises for bad input: whatever fails for this track becomes a skipped row.
    """
    if track.row is None and not track.path.is_file():
        return [], [_skip(track, "missing file")]
    try:
        with audio.open_audio(track.source) as sound:
            return _cut_clips(track, sound, clip_s, silence_db)
    except Exception as err:  # AudioError for bad input; anything else must not stop us
        return [], [_skip(track, _describe(err))]


def _describe(err: Exception) -> str:
    """A skip reason: an AudioError's own words, else the unforeseen exception's type."""
    return str(err) if isinstance(err, audio.AudioError) else f"error: {type(err).__name__}: {err}"


def _cut_clips(
    track: Track, sound: soundfile.SoundFile, clip_s: float, silence_db: float
) -> tuple[list[dict], list[dict]]:
    """Clip rows of an open file; each window is decoded on its own, not the whole file.

    A window that fails skips that clip only: the file's other clips are kept.
    """
    info = audio.info_of(sound)
    offsets = clip_offsets(info.seconds, clip_s)
    if not offsets:
        return [], [_skip(track, f"too short: {info.seconds:.2f}s < {clip_s:g}s clip")]
    clips, skipped = [], []
    for i, offset in enumerate(offsets):
        try:
            wave = audio.read_window(sound, None, offset, clip_s)
        except Exception as err:  # AudioError for bad input; anything else must not stop us
            skipped.append(_skip(track, f"clip {i} at {offset:g}s: {_describe(err)}"))
            continue
        level = audio.rms_db(wave)
        if level < silence_db:
            skipped.append(_skip(track, f"clip {i} at {offset:g}s: silent ({level:.1f} dBFS)"))
            continue
        clips.append(_clip_row(track, i, offset, clip_s, info, level))
    return clips, skipped


def _clip_row(
    track: Track, i: int, offset: float, clip_s: float, info: audio.AudioInfo, level: float
) -> dict:
    return {
        "clip_id": f"{track.dataset}/{track.key}/{i}",
        "dataset": track.dataset,
        "label": track.label,
        "source": track.source,
        "track": track.key,
        "offset_s": float(offset),
        "duration_s": float(clip_s),
        "source_sample_rate": info.sample_rate,
        "rms_db": float(level),
    }


def _skip(track: Track, reason: str) -> dict:
    log.warning("skipped %s: %s", track.source, reason)
    return _skip_row(track.source, track.dataset, track.label, reason)


def _skip_row(source: str | Path, dataset: str, label: str, reason: str) -> dict:
    return {"source": str(source), "dataset": dataset, "label": label, "reason": reason}


def build_manifest(
    tracks: Iterable[Track],
    clip_s: float = 10.0,
    silence_db: float = audio.SILENCE_DB,
    max_clips_per_label: int | None = None,
    seed: int = 0,
    progress: bool = True,
    workers: int = 1,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Clip every track; return ``(manifest, skipped)`` DataFrames.

    ``max_clips_per_label`` caps each label with a seeded sample (clip order kept).
    ``workers`` > 1 decodes tracks in threads (libsndfile releases the GIL); the
    output is in track order either way.
    """
    from tqdm import tqdm

    tracks = list(tracks)
    rows, skipped = [], []
    with ThreadPoolExecutor(max(1, workers)) as pool:
        clip = lambda t: track_clips(t, clip_s, silence_db)  # noqa: E731
        results = pool.map(clip, tracks) if workers > 1 else map(clip, tracks)
        bar = tqdm(
            results,
            total=len(tracks),
            desc="clipping",
            unit="track",
            file=sys.stderr,
            disable=not progress,
        )
        for clips, skips in bar:
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


def combine_manifests(
    manifests: Sequence[pd.DataFrame],
    per_class: int | None,
    seed: int,
    sources_order: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Union per-source clip manifests and keep up to ``per_class`` clips per label.

    Output order is fixed: by dataset (``sources_order``, then any others by name),
    then by clip id in natural order (``x/9/0`` before ``x/10/0``), so the result does
    not depend on the order of ``manifests``. Each label is sampled uniformly from its
    pooled clips with its own generator seeded by ``(seed, label)``: adding or
    removing a genre leaves the other genres' picks unchanged. Per-class counts and
    the classes short of ``per_class`` are logged (see :func:`class_report`).
    """
    frames = [m[MANIFEST_COLUMNS] for m in manifests if len(m)]
    pooled = pd.concat(frames, ignore_index=True) if frames else _empty_manifest()
    repeated = pooled.clip_id[pooled.clip_id.duplicated()]
    if len(repeated):
        raise ValueError(f"clip ids repeat across manifests: {repeated.head(5).tolist()}")
    pooled = _canonical_order(pooled, sources_order)
    if per_class is not None:
        pooled = _sample_per_label(pooled, per_class, seed)
    _log_class_report(class_report(pooled, per_class), per_class)
    return pooled


def _empty_manifest() -> pd.DataFrame:
    return pd.DataFrame(columns=MANIFEST_COLUMNS)


def _canonical_order(manifest: pd.DataFrame, sources_order: Sequence[str] | None) -> pd.DataFrame:
    first = list(dict.fromkeys(sources_order or []))
    rank = {name: i for i, name in enumerate(first + sorted(set(manifest.dataset) - set(first)))}
    keys = [
        (rank[d], _natural_key(c)) for d, c in zip(manifest.dataset, manifest.clip_id, strict=True)
    ]
    order = sorted(range(len(keys)), key=keys.__getitem__)
    return manifest.iloc[order].reset_index(drop=True)


def _natural_key(text: str) -> tuple:
    """Sort key comparing digit runs as numbers (``song/9`` < ``song/10``)."""
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part)
        for part in re.split(r"(\d+)", text)
        if part
    )


def _sample_per_label(manifest: pd.DataFrame, per_class: int, seed: int) -> pd.DataFrame:
    keep = []
    for label, group in manifest.groupby("label", sort=True):
        rng = np.random.default_rng([seed, zlib.crc32(str(label).encode())])
        idx = group.index.to_numpy()
        keep.append(rng.choice(idx, size=min(per_class, len(idx)), replace=False))
    if not keep:
        return manifest
    return manifest.loc[np.sort(np.concatenate(keep))].reset_index(drop=True)


def class_report(manifest: pd.DataFrame, per_class: int | None = None) -> pd.DataFrame:
    """Clips per label and dataset, a ``total`` column, and ``short`` (< ``per_class``)."""
    counts = pd.crosstab(manifest.label, manifest.dataset) if len(manifest) else pd.DataFrame()
    counts.columns.name = None
    counts["total"] = counts.sum(axis=1) if len(counts.columns) else 0
    counts["short"] = counts["total"] < per_class if per_class is not None else False
    return counts


def _log_class_report(report: pd.DataFrame, per_class: int | None) -> None:
    log.info("clips per class:\n%s", report.to_string())
    short = report.index[report["short"]].tolist()
    if short:
        log.warning("classes with fewer than %d clips: %s", per_class, short)
