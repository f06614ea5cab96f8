"""Cost of capturing every layer × both sites, relative to a plain teacher-forced forward.

Runs both in one process, alternating, and prints the median ratio of pairs. The last
line is ``capture_overhead <ratio>`` (goal ≤ 1.10).

    .venv/bin/python benchmarks/capture_overhead.py [--shape tiny|small] [--clips 4] [--seconds 10]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from musicsteer import activations as act
from musicsteer.models.tiny import random_musicgen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="tiny", choices=["tiny", "small", "medium", "melody"])
    parser.add_argument("--melody", action="store_true", help="MusicGen-Melody instead of MusicGen")
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    mg = random_musicgen(args.melody, args.shape)
    waves = torch.randn(args.clips, int(args.seconds * mg.sample_rate)) * 0.1
    codes = act.encode_audio(mg, waves)
    inputs = act.conditioning_inputs(mg, args.clips)
    ids = act.delayed_inputs(codes)

    @torch.inference_mode()
    def plain() -> None:
        mg.model(**inputs, decoder_input_ids=ids, use_cache=False)

    @torch.inference_mode()
    def captured() -> None:
        with act.capture(mg.model) as rec:
            mg.model(**inputs, decoder_input_ids=ids, use_cache=False)
        rec.stacked("resid"), rec.stacked("attn")

    plain(), captured()  # warm-up
    ratios = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        plain()
        t1 = time.perf_counter()
        captured()
        t2 = time.perf_counter()
        ratios.append((t2 - t1) / (t1 - t0))
        print(f"plain {t1 - t0:.3f}s  captured {t2 - t1:.3f}s  ratio {ratios[-1]:.3f}")
    print(f"model {args.shape} melody={args.melody} clips={args.clips} seconds={args.seconds}")
    print(f"capture_overhead {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
