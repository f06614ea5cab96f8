"""Cost of steering during generation, relative to unsteered generation.

Steered (``SteeringVector.apply``, a random unit direction, absolute α = 8) and unsteered
``steering.generate`` run in one process, alternating pair by pair (and which of the
two runs first alternates too), after one warm-up of each. A configuration's overhead
is the median of the per-pair ratios steered / unsteered. One line per configuration;
the last line is ``steering_overhead <ratio>`` for the musicgen-small-shaped,
single-layer configuration of the first ``--site`` if it ran, else the first one
measured (goal ≤ 1.02).

    .venv/bin/python benchmarks/steering_overhead.py [--shape tiny small] [--melody]
        [--prompts 1] [--max-new-tokens 100] [--repeats 5] [--site resid attn]
        [--layers mid all]

``--layers`` takes one or more choices, each measured: ``mid`` (one layer, the middle
one), ``all``, an index or a comma list (``2,5``). α must be non-zero: α = 0 registers
no hooks at all.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch

from musicsteer.models.hookpoints import decoder_layers
from musicsteer.models.loading import MusicGen
from musicsteer.models.tiny import DECODER_SHAPES, random_musicgen
from musicsteer.steering import generation
from musicsteer.steering.vector import SteeringVector

ALPHA = 8.0


@dataclass
class Result:
    """Timings of one configuration."""

    shape: str
    site: str
    layers: list[int]
    plain: list[float]
    steered: list[float]
    plain_cpu: list[float]
    steered_cpu: list[float]
    in_hooks: float = 0.0  # fraction of a steered generation's wall time inside the hooks
    per_call_us: float = 0.0  # median wall time of one steering hook call
    in_empty_hooks: float = 0.0  # the same bracket around an empty hook: the floor
    empty_call_us: float = 0.0

    @property
    def ratios(self) -> list[float]:
        """Per-pair steered / unsteered wall-time ratios."""
        return [s / p for s, p in zip(self.steered, self.plain, strict=True)]

    @property
    def overhead(self) -> float:
        """Median of the per-pair wall-time ratios (the headline)."""
        return statistics.median(self.ratios)

    @property
    def cpu_overhead(self) -> float:
        """Median of the per-pair process-CPU-time ratios (less hurt by other load)."""
        pairs = zip(self.steered_cpu, self.plain_cpu, strict=True)
        return statistics.median(s / p for s, p in pairs)


def random_vector(mg: MusicGen, site: str, seed: int = 0) -> SteeringVector:
    """Random unit directions at every layer index of ``site`` for ``mg``'s decoder."""
    config = mg.model.decoder.config
    n = config.num_hidden_layers + (1 if site == "resid" else 0)
    dirs = np.random.default_rng(seed).standard_normal((n, config.hidden_size))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    return SteeringVector(dirs, layer=config.num_hidden_layers // 2, site=site, model=mg.name)


def chosen_layers(spec: str, n_layers: int) -> list[int]:
    """``mid`` → the middle layer, ``all`` → every layer, ``3`` / ``2,5`` → those."""
    if spec == "mid":
        return [n_layers // 2]
    if spec == "all":
        return list(range(n_layers))
    return [int(x) for x in spec.split(",")]


def hook_time(
    mg: MusicGen,
    vector: SteeringVector,
    layers: list[int],
    run: Callable[[], object],
    empty: bool = False,
) -> tuple[float, float]:
    """(fraction of wall time inside the steering hooks, median µs per hook call).

    Timing hooks bracket steering's own: a first pre-/post-hook (``prepend=True``)
    stamps the time, one registered after steering's reads it. This measures the
    steering code itself, and is far less hurt by other load than whole-run ratios.
    ``empty``: an empty hook in place of steering's, the floor any Python hook pays.
    """
    modules = [
        decoder_layers(mg.model)[i]
        if vector.site == "resid"
        else decoder_layers(mg.model)[i].self_attn
        for i in layers
    ]
    stamp: dict[str, float] = {}
    spent: list[float] = []
    register = "register_forward_pre_hook" if vector.site == "resid" else "register_forward_hook"

    def start(*_: object) -> None:
        stamp["t"] = time.perf_counter()

    def stop(*_: object) -> None:
        spent.append(time.perf_counter() - stamp["t"])

    def nothing(*_: object) -> None:
        return None

    steering = vector.apply(mg.model, ALPHA, layers=layers, alpha_scale="absolute")
    with nullcontext() if empty else steering:
        handles = [getattr(m, register)(nothing) for m in modules] if empty else []
        handles += [getattr(m, register)(start, prepend=True) for m in modules]
        handles += [getattr(m, register)(stop) for m in modules]
        try:
            t0 = time.perf_counter()
            run()
            total = time.perf_counter() - t0
        finally:
            for handle in handles:
                handle.remove()
    return sum(spent) / total, statistics.median(spent) * 1e6


def measure(
    mg: MusicGen, shape: str, site: str, layers: list[int], args: argparse.Namespace
) -> Result:
    """Alternating steered / unsteered generations of one configuration."""
    vector = random_vector(mg, site)
    prompts = [f"rock music {i}" for i in range(args.prompts)]

    def plain() -> tuple[float, float]:
        t0, c0 = time.perf_counter(), time.process_time()
        generation.generate(mg, prompts, args.max_new_tokens, seed=0)
        return time.perf_counter() - t0, time.process_time() - c0

    def steered() -> tuple[float, float]:
        t0, c0 = time.perf_counter(), time.process_time()
        with vector.apply(mg.model, ALPHA, layers=layers, alpha_scale="absolute"):
            generation.generate(mg, prompts, args.max_new_tokens, seed=0)
        return time.perf_counter() - t0, time.process_time() - c0

    plain(), steered()  # warm-up
    result = Result(shape, site, layers, [], [], [], [])
    for i in range(args.repeats):
        if i % 2:
            s, p = steered(), plain()
        else:
            p, s = plain(), steered()
        result.plain.append(p[0])
        result.steered.append(s[0])
        result.plain_cpu.append(p[1])
        result.steered_cpu.append(s[1])

    def run() -> object:
        return generation.generate(mg, prompts, args.max_new_tokens, seed=0)

    result.in_hooks, result.per_call_us = hook_time(mg, vector, layers, run)
    result.in_empty_hooks, result.empty_call_us = hook_time(mg, vector, layers, run, empty=True)
    return result


def describe(result: Result, args: argparse.Namespace) -> str:
    """One line: the configuration, median times and the overhead with its spread."""
    layers = result.layers if len(result.layers) <= 3 else f"all{len(result.layers)}"
    ratios = result.ratios
    return (
        f"shape={result.shape} melody={args.melody} prompts={args.prompts} "
        f"tokens={args.max_new_tokens} site={result.site} layers={layers} "
        f"plain={statistics.median(result.plain):.3f}s "
        f"steered={statistics.median(result.steered):.3f}s "
        f"ratio={result.overhead:.4f} (min {min(ratios):.4f}, max {max(ratios):.4f}) "
        f"cpu_ratio={result.cpu_overhead:.4f} "
        f"in_hooks={100 * result.in_hooks:.2f}% ({result.per_call_us:.0f} us/call) "
        f"empty_hook_floor={100 * result.in_empty_hooks:.2f}% ({result.empty_call_us:.0f} us/call)"
    )


def headline(results: list[Result], site: str) -> Result:
    """The small-shaped single-layer result for ``site``, else the first measured."""
    for r in results:
        if r.shape == "small" and r.site == site and len(r.layers) == 1:
            return r
    return results[0]


def main() -> None:
    """Parse arguments, measure every configuration, print the headline last."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", nargs="+", default=["tiny"], choices=sorted(DECODER_SHAPES))
    parser.add_argument("--melody", action="store_true", help="MusicGen-Melody instead of MusicGen")
    parser.add_argument("--prompts", type=int, default=1)
    parser.add_argument("--max-new-tokens", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--site", nargs="+", default=["resid"], choices=["resid", "attn"])
    parser.add_argument("--layers", nargs="+", default=["mid"], help="mid, all, 3 or 2,5")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, alpha={ALPHA}")
    results = []
    for shape in args.shape:
        mg = random_musicgen(args.melody, shape)
        mg.model.to(args.device, dtype=getattr(torch, args.dtype))
        n_layers = mg.model.decoder.config.num_hidden_layers
        for site in args.site:
            for spec in args.layers:
                result = measure(mg, shape, site, chosen_layers(spec, n_layers), args)
                results.append(result)
                print(describe(result, args), flush=True)
        del mg
    print(f"steering_overhead {headline(results, args.site[0]).overhead:.3f}")


if __name__ == "__main__":
    main()
