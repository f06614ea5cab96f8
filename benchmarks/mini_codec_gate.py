"""The mini codec's quality gate (#9): is genre still audible after encode → decode?

Renders the training corpus (FluidSynth, 4 genres × 16 tracks × 20 s at 32 kHz, the
last 4 tracks of each genre held out), cuts 4-s clips, and trains the tiny codec
(``EncodecModel``) with :func:`musicsteer.mini.codec.train_codec`. Before and after,
it decodes every clip and fits the audio judge on decoded training clips (the judge
must live in the domain it scores), then scores decoded held-out clips. The gate is
≥ 0.9; the last line is ``codec_gate_accuracy <x>``.

    .venv/bin/python benchmarks/mini_codec_gate.py [--steps 240] [--out /tmp/mini_corpus]
"""

from __future__ import annotations

import argparse
import time
from functools import partial

import numpy as np
import torch
from tqdm import tqdm

from musicsteer.mini.codec import CodecTraining, train_codec
from musicsteer.mini.corpus import cut_clips, render_training_corpus
from musicsteer.mini.judge import fit_judge
from musicsteer.models.tiny import random_musicgen

SR = 32_000
GENRES = ["rock", "pop", "folk", "hiphop"]


def decode_all(codec, waves: list[np.ndarray], batch: int = 8) -> list[np.ndarray]:
    out = []
    with torch.no_grad():
        for start in range(0, len(waves), batch):
            x = torch.from_numpy(np.stack(waves[start : start + batch]))[:, None]
            codes = codec.encode(x).audio_codes
            out += list(codec.decode(codes, [None]).audio_values[:, 0, : x.shape[-1]].numpy())
    return out


def decoded_accuracy(codec, train, train_genres, test, test_genres) -> float:
    judge = fit_judge(decode_all(codec, train), train_genres, SR)
    return judge.accuracy(decode_all(codec, test), test_genres)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=240)
    parser.add_argument("--out", default="/tmp/mini_corpus")
    args = parser.parse_args()
    torch.set_num_threads(2)
    start = time.perf_counter()
    manifest = render_training_corpus(args.out, GENRES, 16, 20.0, SR, seed=0)
    clips = cut_clips(manifest, args.out, 4.0, SR)
    train, train_genres = clips.of("train")
    test, test_genres = clips.of("heldout")
    print(
        f"corpus: {len(train)} train / {len(test)} held-out clips in {time.perf_counter() - start:.0f} s"
    )
    originals = fit_judge(train, train_genres, SR).accuracy(test, test_genres)
    print(f"judge on the original renders: {originals:.3f}")
    codec = random_musicgen(melody=False, seed=0).model.audio_encoder
    print(
        f"untrained codec, decoded domain: {decoded_accuracy(codec, train, train_genres, test, test_genres):.3f}"
    )
    began = time.perf_counter()
    history = train_codec(
        codec,
        np.stack(train),
        CodecTraining(steps=args.steps, batch=8, crop_s=1.0),
        progress=partial(tqdm, mininterval=30),
    )
    last = np.mean([row["reconstruction"] for row in history.rows[-10:]])
    print(
        f"trained {args.steps} steps in {time.perf_counter() - began:.0f} s; reconstruction "
        f"{history.rows[0]['reconstruction']:.2f} → {last:.2f}"
    )
    accuracy = decoded_accuracy(codec, train, train_genres, test, test_genres)
    print(f"codec_gate_accuracy {accuracy:.3f}")


if __name__ == "__main__":
    main()
