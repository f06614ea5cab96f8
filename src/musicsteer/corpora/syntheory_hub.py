"""The published SynTheory data from the Hugging Face Hub, as a clip manifest."""

from __future__ import annotations

import io
import math
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from musicsteer.audio import to_pcm16, write_wav
from musicsteer.corpora.syntheory import (
    CLIP_SECONDS,
    CONCEPTS,
    SynItem,
    _progression_key,
    chord_items,
    note_items,
    progression_items,
)
from musicsteer.corpora.syntheory_render import (
    SILENCE_DB,
    _existing,
    _manifest_row,
    clip_path,
    level_stats,
)
from musicsteer.render.synth import (
    INSTALL_HINT,
)

HUB_REPO = "meganwei/syntheory"


# Hub config of each concept (the progressions are called "simple_progressions" there).
HUB_CONFIGS = {"notes": "notes", "chords": "chords", "chord_progressions": "simple_progressions"}


HUB_DEFAULT_OUT = Path("resources/syntheory")


# Hub clips go under out_dir/hub/, so that they never mix with (or get taken for)
# locally rendered clips of the same clip id in the same out_dir.
HUB_FOLDER = "hub"


_HUB_QUALITIES = {"aug": "augmented", "dim": "diminished"}


def _hub_progression(value: str) -> tuple[str, tuple[int, ...]]:
    """A Hub progression label (``"ionian-(1, 4, 5, 1)"``) as a known progression."""
    text = str(value)
    match = re.match(r"\s*([a-z_]+)", text)
    mode = match.group(1) if match else ""
    degrees = tuple(int(d) for d in re.findall(r"\d+", text[match.end() :] if match else ""))
    return _progression_key((mode, degrees))


def _hub_item(concept: str, row: dict) -> SynItem:
    """The generator's item that a Hub row describes (same clip id as a local render)."""
    program = [int(row["midi_program_num"])]
    if concept == "notes":
        return note_items(programs=program, midi_notes=[int(row["midi_note_val"])])[0]
    if concept == "chords":
        quality = _HUB_QUALITIES.get(row["chord_type"], row["chord_type"])
        inversion = str(row.get("inversion") or "5")
        root = [int(row["root_note_pitch_class"])]
        return chord_items(
            programs=program, roots=root, qualities=[quality], inversions=[inversion]
        )[0]
    key = [int(row["key_note_pitch_class"])]
    progression = [_hub_progression(row["chord_progression"])]
    return progression_items(programs=program, keys=key, progressions=progression)[0]


def _audio_bytes(value: object) -> bytes:
    """Encoded audio of a Hub ``audio`` cell: a ``{"bytes", "path"}`` struct or raw bytes."""
    data = value.get("bytes") if isinstance(value, dict) else value
    if not isinstance(data, bytes | bytearray | memoryview) or not data:
        raise ValueError("Hub row has no embedded audio bytes in its 'audio' column")
    return bytes(data)


def decode_clip(data: bytes, sample_rate: int) -> np.ndarray:
    """Encoded audio → mono float32 at ``sample_rate``, exactly 4.0 s (cut or padded)."""
    from scipy.signal import resample_poly

    audio, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)
    if rate != sample_rate:
        g = math.gcd(int(rate), int(sample_rate))
        mono = resample_poly(mono, sample_rate // g, int(rate) // g).astype(np.float32)
    frames = int(round(CLIP_SECONDS * sample_rate))
    return np.pad(mono[:frames], (0, max(0, frames - len(mono))))


def _hub_rows(parquet_files: Sequence[str | Path]) -> Iterable[dict]:
    """Rows of the Hub Parquet shards, in order, a few at a time (shards are GBs)."""
    import pyarrow.parquet as pq

    for path in parquet_files:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=16):
            yield from batch.to_pylist()


def hub_parquet_to_manifest(
    parquet_files: Sequence[str | Path],
    concept: str,
    out_dir: str | Path,
    sample_rate: int = 32000,
    silence_db: float = SILENCE_DB,
) -> pd.DataFrame:
    """Hub Parquet shards of one concept → WAV clips and a :func:`render_items` manifest.

    Assumed shape (the Hub dataset card and the generator's CSV columns): one row per
    clip with ``audio`` as a ``{"bytes": <WAV/FLAC bytes>, "path": str}`` struct (44.1
    kHz, possibly stereo), ``midi_program_num``, and per concept ``midi_note_val``
    (notes); ``root_note_pitch_class``, ``chord_type`` (major/minor/aug/dim) and
    ``inversion`` (5/6/64) (chords); ``key_note_pitch_class`` and ``chord_progression``
    (``"ionian-(1, 4, 5, 1)"``) (chord_progressions). Each row is mapped to the
    generator's item, so clip ids, labels and metadata equal a local render's; audio is
    downmixed, resampled to ``sample_rate`` and cut to 4.0 s, and written to
    ``out_dir/hub/<concept>/<clip_id>.wav`` (``path`` is relative to ``out_dir``, as in
    :func:`render_items`). Existing clips are kept.
    """
    if concept not in HUB_CONFIGS:
        raise ValueError(f"unknown concept {concept!r}; known: {list(CONCEPTS)}")
    frames = int(round(CLIP_SECONDS * sample_rate))
    rows = []
    for hub_row in _hub_rows(parquet_files):
        item = _hub_item(concept, hub_row)
        path = clip_path(Path(out_dir) / HUB_FOLDER, item)
        pcm = _existing(path, sample_rate, frames)
        if pcm is None:
            pcm = to_pcm16(decode_clip(_audio_bytes(hub_row.get("audio")), sample_rate))
            write_wav(path, pcm, sample_rate)
        stats = level_stats(pcm)
        rows.append(_manifest_row(item, sample_rate, stats, silence_db, HUB_FOLDER))
    return pd.DataFrame(rows)


def _offline_error(concept: str, why: str) -> RuntimeError:
    """The error to raise when the Hub set cannot be fetched."""
    return RuntimeError(
        f"cannot fetch SynTheory {concept!r} from the Hugging Face Hub ({HUB_REPO}): {why}. "
        "Render it locally instead: set `syntheory.source: render` in the config "
        f"(FluidSynth + TimGM6mb, `{INSTALL_HINT}`)."
    )


def _hub_snapshot(concept: str, cache_dir: str | Path | None) -> Path:
    """Download (or find in the cache) the Hub files of one concept's config."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}:
        raise _offline_error(concept, "HF_HUB_OFFLINE is set")
    try:
        from huggingface_hub import snapshot_download

        folder = snapshot_download(
            repo_id=HUB_REPO,
            repo_type="dataset",
            allow_patterns=[f"{HUB_CONFIGS[concept]}/*"],
            cache_dir=cache_dir,
        )
    except Exception as err:  # noqa: BLE001  (any failure: no network, no hub, no auth)
        raise _offline_error(concept, f"{type(err).__name__}: {err}") from err
    return Path(folder)


def load_hub_syntheory(
    concept: str,
    out_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
    sample_rate: int = 32000,
    silence_db: float = SILENCE_DB,
) -> pd.DataFrame:
    """The published SynTheory set of ``concept`` from the Hub, as a local manifest.

    Downloads the ``meganwei/syntheory`` config (``notes``, ``chords``,
    ``simple_progressions``) with ``huggingface_hub.snapshot_download`` into
    ``cache_dir`` (default: the Hub cache), then writes 32 kHz mono WAV clips under
    ``out_dir/hub/<concept>/`` (default ``resources/syntheory``) and returns the same
    manifest columns as :func:`render_items` (see :func:`hub_parquet_to_manifest`).

    Raises ``RuntimeError`` when offline (``HF_HUB_OFFLINE=1``) or the download fails,
    telling the user to render locally (``syntheory.source: render``).
    """
    if concept not in HUB_CONFIGS:
        raise ValueError(f"unknown concept {concept!r}; known: {list(CONCEPTS)}")
    folder = _hub_snapshot(concept, cache_dir) / HUB_CONFIGS[concept]
    files = sorted(folder.rglob("*.parquet"))
    if not files:
        raise _offline_error(concept, f"no Parquet files under {folder}")
    out = Path(out_dir) if out_dir is not None else HUB_DEFAULT_OUT
    return hub_parquet_to_manifest(files, concept, out, sample_rate, silence_db)
