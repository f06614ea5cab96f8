"""Activation extraction with the codec run per extraction vs codes cached in the clip store.

A clip store of ``--clips`` random clips of ``--seconds`` s; for each decoder shape, a
random-weight MusicGen records them twice in one run: *cold* (empty codes cache: the
codec runs, as it did on every extraction before codes were cached, and the codes are
written) and *warm* (the next extraction: cached codes, no codec). Prints clips/s of
both; the last line is ``codes_cache_speedup <warm over cold>`` for the last shape.

    .venv/bin/python benchmarks/codes_cache.py [--shape tiny small] [--clips 16] [--seconds 10]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from musicsteer import activations as act
from musicsteer.corpora import clipstore
from musicsteer.models.tiny import DECODER_SHAPES, random_musicgen


def clip_manifest(folder: Path, n: int, seconds: float) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        path = folder / f"clip{i}.wav"
        sf.write(path, rng.normal(0, 0.1, int(32_000 * seconds)).astype(np.float32), 32_000)
        rows.append(
            {
                "clip_id": f"c{i}",
                "label": "ab"[i % 2],
                "source": str(path),
                "offset_s": 0.0,
                "duration_s": seconds,
            }
        )
    return pd.DataFrame(rows)


def measure(shape: str, manifest: pd.DataFrame, work: Path, args: argparse.Namespace) -> float:
    """Clips/s of the three extractions on one shape; prints them, returns warm / encode."""
    mg = random_musicgen(False, shape, seed=0)
    store = work / f"clips-{shape}"
    stored = clipstore.write_clip_shards(manifest, store, progress=False)
    settings = act.ExtractSettings(model=shape, batch_size=args.batch, shard_size=10**6)
    act.record(mg, np.zeros((args.batch, int(32_000 * args.seconds)), np.float32))  # warm-up
    act.codec_fingerprint(mg)  # once per process, paid by cold and warm jobs alike
    rates = []
    for i in range(2):
        start = time.perf_counter()
        act.extract_manifest(mg, stored, work / f"{shape}-{i}", settings, False, store)
        rates.append(len(manifest) / (time.perf_counter() - start))
    cold, warm = rates
    print(
        f"shape={shape} clips={args.clips} seconds={args.seconds:g} clips/s: "
        f"codec run (cold cache, as every extraction before) {cold:.2f}, "
        f"codes read (warm cache) {warm:.2f}, speed-up {warm / cold:.2f}",
        flush=True,
    )
    return warm / cold


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", nargs="+", default=["tiny"], choices=sorted(DECODER_SHAPES))
    parser.add_argument("--clips", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--batch", type=int, default=4)
    args = parser.parse_args()
    speedup = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        manifest = clip_manifest(Path(tmp), args.clips, args.seconds)
        for shape in args.shape:
            speedup = measure(shape, manifest, Path(tmp), args)
    print(f"codes_cache_speedup {speedup:.2f}")


if __name__ == "__main__":
    main()
