"""Activation extraction on a GPU: musicgen-melody-shaped random weights in bfloat16.

Prints clips/s and the fraction of the bf16 roofline, counting 2 · params · tokens FLOPs
per clip (decoder parameters; tokens = audio frames + Melody's conditioning prefix).
The last line is ``gpu_extract_roofline <fraction>``. Needs CUDA.

    .venv/bin/python benchmarks/gpu_extract.py [--batch 8] [--seconds 10] [--peak-tflops 989]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from musicsteer import activations as act
from musicsteer.models.hookpoints import decoder_layers
from musicsteer.models.tiny import DECODER_SHAPES, random_musicgen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="H100 SXM dense bf16")
    parser.add_argument("--shape", default="melody", choices=sorted(DECODER_SHAPES))
    parser.add_argument("--device", default="cuda", help="cpu checks the script itself")
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("gpu_extract.py needs a CUDA device (or --device cpu)")
    mg = random_musicgen(melody=True, shape=args.shape)
    mg.model.to(args.device, dtype=getattr(torch, args.dtype))
    mg.model.decoder.set_attn_implementation("sdpa")
    sync = torch.cuda.synchronize if args.device == "cuda" else lambda: None
    rng = np.random.default_rng(0)
    waves = rng.normal(0, 0.1, (args.batch, int(args.seconds * mg.sample_rate)))
    act.record(mg, waves)  # warm-up (kernels, allocator)
    sync()
    start = time.perf_counter()
    for _ in range(args.batches):
        act.record(mg, waves)
    sync()
    elapsed = time.perf_counter() - start
    clips_s = args.batch * args.batches / elapsed
    params = sum(p.numel() for p in decoder_layers(mg.model).parameters())
    tokens = int(args.seconds * mg.frame_rate) + 1 + mg.model.config.chroma_length + 1
    achieved = clips_s * 2 * params * tokens / 1e12
    print(
        f"{args.shape} on {args.device} ({args.dtype}): decoder-layer params {params / 1e9:.2f} B, {tokens} tokens per clip"
    )
    print(f"{clips_s:.1f} clips/s, {achieved:.1f} TFLOP/s of {args.peak_tflops:g}")
    print(f"gpu_extract_roofline {achieved / args.peak_tflops:.3f}")


if __name__ == "__main__":
    main()
