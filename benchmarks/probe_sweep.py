"""Batched probe sweep vs a per-layer scikit-learn loop, on synthetic activations.

Synthetic activations of the real shape (default: 48 layer indices × 2 sites,
N = 3,000 clips, d = 1,536, stored as float16) carry a binary concept planted
along one direction at one layer. The script times ``probing.probe_table`` (dim,
bce and mse, 5-fold CV, both sites), then the obvious per-layer loop with the
same folds (StandardScaler + LogisticRegression / Ridge, class means for dim) on
``--reference-layers`` layers of one site spread over the depth, extrapolated to
every layer and site; the fastest and slowest measured layer bound that
extrapolation. Both sides run with the same thread count, interleaved over
``--repeats`` (batched, loop, batched, loop, ...), and the figures are min / median /
max over the repeats. It checks that both give the same accuracy (±0.01) on the
layers measured. The last line is ``probe_sweep_speedup <median x>``.

    .venv/bin/python benchmarks/probe_sweep.py [--layers 48] [--n 3000] [--d 1536]
        [--repeats 3] [--reference-layers 6]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from musicsteer.probing.probes import probe_table

METHODS = ("dim", "bce", "mse")
L2 = 1e-2  # the reference loop's regularisation (on z-scores: scaling="feature")
TOLERANCE = 0.01  # accuracy agreement required on the layers measured


def synthetic_site(
    n: int, n_layers: int, d: int, y: np.ndarray, planted: int, seed: int
) -> np.ndarray:
    """Correlated, anisotropic float16 activations; class 1 shifted at ``planted``.

    Per layer: per-feature scales and offsets, 8 shared low-rank factors, and at the
    planted layer a shift of 3 feature-scaled units along one random direction
    (a clearly but not perfectly separable concept, as probes find in real models).
    """
    rng = np.random.default_rng(seed)
    X = np.empty((n, n_layers, d), dtype=np.float16)
    for layer in range(n_layers):
        scale = rng.lognormal(0.0, 0.5, size=d).astype(np.float32)
        values = rng.standard_normal((n, d), dtype=np.float32) * scale
        values += rng.normal(0.0, 2.0, size=d).astype(np.float32)
        factors = 0.1 * rng.standard_normal((8, d), dtype=np.float32)
        values += rng.standard_normal((n, 8), dtype=np.float32) @ factors
        if layer == planted:
            direction = rng.standard_normal(d).astype(np.float32)
            values[y == 1] += 3.0 * scale * direction / np.linalg.norm(direction)
        X[:, layer] = values
    return X


def reference_layer(
    X_layer: np.ndarray, y: np.ndarray, splits: list, times: dict[str, float]
) -> dict[str, float]:
    """Held-out accuracy of each method at one layer with sklearn/numpy, fold by fold."""
    correct = dict.fromkeys(METHODS, 0)
    for train, test in splits:
        A, B = X_layer[train], X_layer[test]
        start = time.perf_counter()
        m1, m0 = A[y[train] == 1].mean(0), A[y[train] == 0].mean(0)
        w = m1 - m0
        correct["dim"] += int(((B @ w > 0.5 * (m1 @ w + m0 @ w)) == y[test]).sum())
        times["dim"] += time.perf_counter() - start
        for method in ("mse", "bce"):
            start = time.perf_counter()
            scaler = StandardScaler().fit(A)
            ZA, ZB = scaler.transform(A), scaler.transform(B)
            if method == "mse":
                ridge = Ridge(alpha=L2 * len(train)).fit(ZA, 2.0 * y[train] - 1.0)
                predicted = ridge.predict(ZB) > 0
            else:
                logistic = LogisticRegression(C=1.0 / (L2 * len(train)), max_iter=1000)
                predicted = logistic.fit(ZA, y[train]).predict_proba(ZB)[:, 1] > 0.5
            correct[method] += int((predicted == y[test]).sum())
            times[method] += time.perf_counter() - start
    return {m: correct[m] / len(y) for m in METHODS}


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=48, help="layer indices per site")
    parser.add_argument("--n", type=int, default=3000, help="clips")
    parser.add_argument("--d", type=int, default=1536, help="features")
    parser.add_argument("--sites", type=int, default=2, choices=[1, 2])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2, help="torch and BLAS threads")
    parser.add_argument(
        "--reference-layers", type=int, default=6, help="layers measured with sklearn"
    )
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def spread(values: list[float], unit: str = "s") -> str:
    """``min / median / max`` of ``values``."""
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"min {low:.1f}{unit}, median {mid:.1f}{unit}, max {high:.1f}{unit}"


def reference_layers(n_layers: int, count: int, planted: int) -> list[int]:
    """``count`` layers spread evenly from the first to the last, the planted one included."""
    spaced = np.linspace(0, n_layers - 1, num=max(count - 1, 1)).round().astype(int)
    return sorted({planted, *spaced.tolist()})


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    y = rng.permutation(np.arange(args.n) % 2)
    planted = args.layers // 3
    sites = ["resid", "attn"][: args.sites]
    X_by_site = {
        site: synthetic_site(args.n, args.layers, args.d, y, planted, args.seed + 1 + i)
        for i, site in enumerate(sites)
    }
    shape = f"{args.sites} site(s) × {args.layers} layers, N={args.n}, d={args.d}, float16"
    print(f"data: {shape}; concept planted at layer {planted}; {args.threads} threads both sides")
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    layers = reference_layers(args.layers, args.reference_layers, planted)
    splitter = StratifiedKFold(n_splits=args.folds, shuffle=True, random_state=args.seed)
    splits = list(splitter.split(np.zeros(args.n), y))
    total_layers = args.layers * len(sites)

    batched_s: list[float] = []
    loop_s: list[float] = []
    per_layer: list[float] = []  # seconds of one layer in the loop, every layer and repeat
    worst = 0.0
    for repeat in range(args.repeats):
        timings: dict[str, float] = {}
        start = time.perf_counter()
        table = probe_table(
            X_by_site, y, METHODS, args.folds, args.seed, L2, timings, scaling="feature"
        )
        batched_s.append(time.perf_counter() - start)
        stages = ", ".join(f"{k} {timings.get(k, 0.0):.1f}" for k in ("prepare", "bce", "score"))
        print(f"repeat {repeat}: batched probe_table {batched_s[-1]:.1f} s ({stages} s)")
        times = dict.fromkeys(METHODS, 0.0)
        with threadpool_limits(args.threads):
            for layer in layers:
                before = sum(times.values())
                X_layer = X_by_site[sites[0]][:, layer].astype(np.float32)
                expected = reference_layer(X_layer, y, splits, times)
                per_layer.append(sum(times.values()) - before)
                for method in METHODS:
                    rows = table[(table["site"] == sites[0]) & (table["method"] == method)]
                    got = float(rows.loc[rows["layer"] == layer, "accuracy"].iloc[0])
                    worst = max(worst, abs(got - expected[method]))
        loop_s.append(sum(times.values()) / len(layers) * total_layers)
        print(
            f"repeat {repeat}: sklearn loop {sum(times.values()):.1f} s on {len(layers)} layers "
            f"{layers} → {loop_s[-1]:.1f} s for {total_layers} (extrapolated)"
        )
    speedups = [loop / batched for loop, batched in zip(loop_s, batched_s, strict=True)]
    print(f"batched probe_table: {spread(batched_s)}")
    print(f"sklearn per-layer loop, extrapolated: {spread(loop_s)}")
    print(
        f"  bounds from the fastest / slowest layer measured: {min(per_layer) * total_layers:.1f}"
        f" – {max(per_layer) * total_layers:.1f} s"
    )
    print(f"speed-up per repeat: {spread(speedups, '×')}")
    verdict = "OK" if worst <= TOLERANCE else "MISMATCH"
    print(
        f"accuracy agreement on measured layers: max |diff| {worst:.4f} ({verdict}, ±{TOLERANCE})"
    )
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    print(f"probe_sweep_speedup {statistics.median(speedups):.1f}")
    if worst > TOLERANCE:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
