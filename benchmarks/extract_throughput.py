"""Batched vs one-clip-at-a-time activation extraction, in one run, same clips.

Prints clips/s of both and the speed-up, for the tiny model and a musicgen-small-shaped
random model. The last line is ``extract_batched_speedup <x>`` (small-shaped model).

    .venv/bin/python benchmarks/extract_throughput.py [--clips 4] [--seconds 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from musicsteer import activations as act
from musicsteer.models.tiny import random_musicgen


def clips_per_second(mg, waves: np.ndarray, batch_size: int, repeats: int) -> float:
    """Best of ``repeats`` throughputs of recording every clip at ``batch_size``."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(0, len(waves), batch_size):
            act.record(mg, waves[i : i + batch_size])
        best = min(best, time.perf_counter() - start)
    return len(waves) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    speedup = 0.0
    for shape in ("tiny", "small"):
        mg = random_musicgen(melody=False, shape=shape)
        rng = np.random.default_rng(0)
        waves = rng.normal(0, 0.1, (args.clips, int(args.seconds * mg.sample_rate)))
        act.record(mg, waves[:1])  # warm-up
        single = clips_per_second(mg, waves, 1, args.repeats)
        batched = clips_per_second(mg, waves, args.clips, args.repeats)
        speedup = batched / single
        print(
            f"{shape}: one at a time {single:.2f} clips/s, batch of {args.clips} "
            f"{batched:.2f} clips/s, speed-up {speedup:.2f}x ({args.seconds:g}-s clips)"
        )
    print(f"extract_batched_speedup {speedup:.2f}")


if __name__ == "__main__":
    main()
