"""SynTheory items to MIDI and audio, with silence statistics."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import mido
import numpy as np
import pandas as pd
import soundfile as sf
from tqdm import tqdm

from musicsteer.audio import to_pcm16, write_wav
from musicsteer.corpora.syntheory import (
    BPM,
    CHANNEL,
    CLIP_SECONDS,
    EVENT_BEATS,
    TICKS_PER_BEAT,
    VELOCITY,
    SynItem,
)
from musicsteer.render.synth import (
    DEFAULT_GAIN,
    find_soundfont,
    render_midi,
)


def item_midi(item: SynItem) -> mido.MidiFile:
    """The clip's MIDI exactly as the original writes it (4 events × 2 beats, 4.0 s)."""
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("track_name", name=item.instrument, time=0))
    track.append(
        mido.MetaMessage(
            "time_signature",
            numerator=4,
            denominator=4,
            clocks_per_click=24,
            notated_32nd_notes_per_beat=8,
            time=0,
        )
    )
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(BPM), time=0))
    track.append(mido.Message("program_change", program=item.program, channel=CHANNEL, time=0))
    for pitches in item.events:
        _append_event(track, pitches)
    midi = mido.MidiFile(ticks_per_beat=TICKS_PER_BEAT)
    midi.tracks.append(track)
    return midi


def _append_event(track: mido.MidiTrack, pitches: Sequence[int]) -> None:
    """All notes on at once, then off after 2 beats (the first note_off carries the time)."""
    for p in pitches:
        track.append(mido.Message("note_on", note=p, velocity=VELOCITY, channel=CHANNEL, time=0))
    for i, p in enumerate(pitches):
        dt = EVENT_BEATS * TICKS_PER_BEAT if i == 0 else 0
        track.append(mido.Message("note_off", note=p, velocity=VELOCITY, channel=CHANNEL, time=dt))


RMS_FLOOR_DB = -120.0


# TimGM6mb at gain 0.45 is quiet (piano C4: about -45 dBFS RMS; B8: -60), and the 88
# clips the spec lists as silent render to all-zero 16-bit samples here; the quietest
# sounding clips (Synth Voice above MIDI 92) sit near -93 dBFS. -100 dB separates them.
SILENCE_DB = -100.0


def level_stats(pcm: np.ndarray) -> tuple[float, float]:
    """(RMS in dBFS, floored at -120; absolute peak in [0, 1]) of int16 or float audio."""
    x = pcm.astype(np.float64) / 32767.0 if pcm.dtype == np.int16 else pcm.astype(np.float64)
    if x.size == 0:
        return RMS_FLOOR_DB, 0.0
    rms = float(np.sqrt(np.mean(x**2)))
    rms_db = 20.0 * np.log10(rms) if rms > 0 else RMS_FLOOR_DB
    return max(float(rms_db), RMS_FLOOR_DB), float(np.max(np.abs(x)))


def clip_path(out_dir: str | Path, item: SynItem) -> Path:
    """Where a clip's WAV goes: ``out_dir/<concept>/<clip_id>.wav``."""
    return Path(out_dir) / item.concept / f"{item.clip_id}.wav"


def _existing(path: Path, sample_rate: int, frames: int) -> np.ndarray | None:
    """The int16 samples of a finished clip, or None if absent or not the right shape."""
    if not path.is_file():
        return None
    try:
        info = sf.info(path)
    except RuntimeError:
        return None
    good = (info.samplerate, info.frames, info.channels, info.subtype) == (
        sample_rate,
        frames,
        1,
        "PCM_16",
    )
    return sf.read(path, dtype="int16")[0] if good else None


def _render_one(task: tuple[SynItem, str, int, str]) -> tuple[float, float]:
    """Render (or reuse) one clip; return its level stats. Runs in workers too."""
    item, path_str, sample_rate, soundfont = task
    path = Path(path_str)
    frames = int(round(CLIP_SECONDS * sample_rate))
    pcm = _existing(path, sample_rate, frames)
    if pcm is None:
        audio = render_midi(
            item_midi(item), sample_rate, Path(soundfont), DEFAULT_GAIN, seconds=CLIP_SECONDS
        )
        pcm = to_pcm16(audio)
        write_wav(path, pcm, sample_rate)
    return level_stats(pcm)


def _stats(tasks: list, threads: int, progress: bool) -> list[tuple[float, float]]:
    """Level stats of all tasks, in order, serially or with a thread pool.

    Threads, not processes: FluidSynth renders inside ctypes calls, which release the
    GIL, and a forked worker of a process that already ran OpenMP code (torch, an
    earlier soundfont load) can hang forever.
    """
    bar = dict(
        total=len(tasks), desc="syntheory", unit="clip", file=sys.stderr, disable=not progress
    )
    if threads <= 1 or len(tasks) <= 1:
        return [s for s in tqdm(map(_render_one, tasks), **bar)]
    with ThreadPoolExecutor(threads) as pool:
        return [s for s in tqdm(pool.map(_render_one, tasks), **bar)]


_HEAD = dict.fromkeys(("clip_id", "concept", "label", "path", "program", "instrument"))


def render_items(
    items: Sequence[SynItem],
    out_dir: str | Path,
    sample_rate: int = 32000,
    soundfont: str | Path | None = None,
    threads: int = 1,
    silence_db: float = SILENCE_DB,
    progress: bool = True,
) -> pd.DataFrame:
    """Render ``items`` to ``out_dir/<concept>/<clip_id>.wav`` and return the manifest.

    Clips are 16-bit mono WAV, exactly 4.0 s. Existing files of the right length are
    kept (resumable). One row per item: clip_id, concept, label, path (relative to
    ``out_dir``), program, instrument, category, metadata, midi_pitches, sample_rate,
    rms_db, peak and ``silent`` (RMS below ``silence_db``). The threshold matters: -60
    dB would flag 167 notes clips (quiet but sounding high notes); the default -100 dB
    flags exactly the spec's 88.
    """
    sf2 = str(find_soundfont(soundfont))
    out = Path(out_dir)
    tasks = [(it, str(clip_path(out, it)), sample_rate, sf2) for it in items]
    stats = _stats(tasks, threads, progress)
    rows = [
        _manifest_row(item, sample_rate, stat, silence_db)
        for item, stat in zip(items, stats, strict=True)
    ]
    return pd.DataFrame(rows)


def _manifest_row(
    item: SynItem,
    sample_rate: int,
    stats: tuple[float, float],
    silence_db: float,
    folder: str = ".",
) -> dict[str, object]:
    """One manifest row: the item's record, its WAV path (under ``folder``), levels."""
    rms_db, peak = stats
    row = {**_HEAD, **item.record(), "path": clip_path(folder, item).as_posix()}
    row.update(sample_rate=sample_rate, rms_db=rms_db, peak=peak, silent=rms_db < silence_db)
    return row


SKIPPED_COLUMNS = ["clip_id", "concept", "label", "path", "reason"]


def split_silent(
    manifest: pd.DataFrame, silence_db: float = SILENCE_DB
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a manifest into ``(kept, skipped)`` by an RMS threshold.

    A threshold, not ``== 0``: a dithering renderer never writes exact zeros, and
    ``rms_db`` is floored at -120 dBFS (all-zero clips show as -120.0). ``skipped``
    has ``clip_id, concept, label, path, reason`` (e.g. ``"silent: RMS -120.0 dBFS <
    -100 dBFS"``); ``kept`` keeps all columns, in manifest order.
    """
    quiet = manifest["rms_db"].to_numpy() < silence_db
    kept = manifest.loc[~quiet].reset_index(drop=True)
    if "silent" in kept:
        kept["silent"] = False
    skipped = manifest.loc[quiet].reset_index(drop=True)
    skipped = skipped.assign(
        reason=[f"silent: RMS {db:.1f} dBFS < {silence_db:g} dBFS" for db in skipped.rms_db]
    )
    return kept, skipped.reindex(columns=SKIPPED_COLUMNS)
