"""A steering grid generated one setting per call vs in shared batches.

One route's grid (``--settings`` settings × ``--prompts`` prompts × ``--seeds`` seeds)
on a random-weight model of a real shape, generated twice in one process, alternating
which goes first: *per call* is the old grain (one ``generate`` per setting × seed,
over the prompts: batch = prompts), *batched* puts ``--batch`` rows of any setting,
prompt and seed in one call (``steering.batch_size``). Both write the same WAVs; each
row samples from its own generator, so they agree up to float rounding (the script
counts the samples that differ). The last line is ``steering_grid_speedup <x>`` for
the last shape measured (median of per-repeat ratios).

    .venv/bin/python benchmarks/steering_grid.py [--shape tiny small] [--settings 6]
        [--prompts 3] [--seeds 2] [--batch 36] [--max-new-tokens 50] [--repeats 3]

On a CPU a bigger batch mostly amortises Python and per-call overhead; on a GPU,
where a batch of 3 (× 2 for guidance) leaves most of the device idle, the ratio is
far larger until the batch fills the device (see benchmarks/gpu_check.sh).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from musicsteer import audio
from musicsteer.models.loading import MusicGen
from musicsteer.models.tiny import DECODER_SHAPES, random_musicgen
from musicsteer.steering.generation import generate_steered
from musicsteer.steering.grid import Setting, prompt_table
from musicsteer.steering.vector import SteeringVector


def random_vector(mg: MusicGen, seed: int = 0) -> SteeringVector:
    """Random directions at every residual index, with a mean norm of 10 per layer."""
    config = mg.model.decoder.config
    n = config.num_hidden_layers + 1
    dirs = np.random.default_rng(seed).standard_normal((n, config.hidden_size))
    mid = config.num_hidden_layers // 2
    return SteeringVector(dirs, layer=mid, site="resid", model=mg.name, mean_norm=[10.0] * n)


def grid(n: int) -> list[Setting]:
    """``n`` settings: α from 0.05 up, alternating the best layer and every layer."""
    return [
        Setting("pop", "resid", "mse", "best" if i % 2 == 0 else "all", 0.05 * (1 + i // 2))
        for i in range(n)
    ]


def run(mg: MusicGen, args: argparse.Namespace, batch: int, out: Path) -> tuple[float, list]:
    """Seconds for the whole grid, and the WAV paths in table order."""
    vectors = {("pop", "resid", "mse"): random_vector(mg)}
    prompts = prompt_table([f"rock music number {i}" for i in range(args.prompts)])
    start = time.perf_counter()
    table = generate_steered(
        mg,
        vectors,
        grid(args.settings),
        prompts,
        list(range(args.seeds)),
        out,
        args.max_new_tokens,
        batch_size=batch,
    )
    return time.perf_counter() - start, table.path.tolist()


def measure(shape: str, args: argparse.Namespace) -> float:
    """Alternating per-call / batched grids on one shape; prints one line, returns the ratio."""
    mg = random_musicgen(False, shape, seed=0)
    mg.model.to(args.device, dtype=getattr(torch, args.dtype))
    ratios, per_call, batched, differ = [], [], [], 0
    with tempfile.TemporaryDirectory() as tmp:
        run(
            mg,
            argparse.Namespace(**{**vars(args), "settings": 1, "seeds": 1}),
            args.batch,
            Path(tmp),
        )
        for repeat in range(args.repeats):
            order = [args.prompts, args.batch] if repeat % 2 == 0 else [args.batch, args.prompts]
            seconds, paths = {}, {}
            for size in order:
                seconds[size], paths[size] = run(mg, args, size, Path(tmp) / str(size))
            per_call.append(seconds[args.prompts])
            batched.append(seconds[args.batch])
            ratios.append(seconds[args.prompts] / seconds[args.batch])
            pairs = zip(paths[args.prompts], paths[args.batch], strict=True)
            differ = sum(not np.allclose(audio.load(a), audio.load(b), atol=2e-4) for a, b in pairs)
    samples = args.settings * args.prompts * args.seeds
    print(
        f"shape={shape} samples={samples} tokens={args.max_new_tokens} "
        f"per_call(batch={args.prompts})={statistics.median(per_call):.2f}s "
        f"batched(batch={args.batch})={statistics.median(batched):.2f}s "
        f"speedup median {statistics.median(ratios):.2f} (min {min(ratios):.2f}, "
        f"max {max(ratios):.2f}); samples differing in the last repeat {differ}/{samples}",
        flush=True,
    )
    return statistics.median(ratios)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", nargs="+", default=["tiny"], choices=sorted(DECODER_SHAPES))
    parser.add_argument("--settings", type=int, default=6)
    parser.add_argument("--prompts", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--batch", type=int, default=36)
    parser.add_argument("--max-new-tokens", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}")
    speedup = 0.0
    for shape in args.shape:
        speedup = measure(shape, args)
    print(f"steering_grid_speedup {speedup:.2f}")


if __name__ == "__main__":
    main()
