"""Batched probe sweep vs a per-layer scikit-learn loop, on synthetic activations.

Synthetic activations of the real shape (default: 48 layer indices × 2 sites,
N = 3,000 clips, d = 1,536, stored as float16) carry a binary concept planted
along one direction at one layer. The script times ``probing.probe_table`` (dim,
bce and mse, 5-fold CV, both sites), then the obvious per-layer loop with the
same folds (StandardScaler + LogisticRegression / Ridge, class means for dim) on
a few layers of one site, extrapolated linearly to every layer and site. It checks
that both give the same accuracy (±0.01) on the layers measured. The last line
is ``probe_sweep_speedup <x>``.

    .venv/bin/python benchmarks/probe_sweep.py [--layers 48] [--n 3000] [--d 1536]
"""

from __future__ import annotations

import argparse
import os
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
        "--reference-layers", type=int, default=3, help="layers measured with sklearn"
    )
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


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
    print(f"data: {shape}; concept planted at layer {planted}; {args.threads} threads")
    print(f"load average before: {os.getloadavg()[0]:.2f}")

    timings: dict[str, float] = {}
    start = time.perf_counter()
    table = probe_table(
        X_by_site, y, METHODS, args.folds, args.seed, L2, timings, scaling="feature"
    )
    batched = time.perf_counter() - start
    print(f"batched probe_table ({len(sites)} sites, {args.folds}-fold CV): {batched:.1f} s")
    for stage in ("prepare", "dim", "mse", "bce", "score"):
        print(f"  {stage:8s} {timings.get(stage, 0.0):6.1f} s")
    print(f"load average after batched run: {os.getloadavg()[0]:.2f}")

    layers = sorted({planted, 0, args.layers - 1})[: args.reference_layers]
    splitter = StratifiedKFold(n_splits=args.folds, shuffle=True, random_state=args.seed)
    splits = list(splitter.split(np.zeros(args.n), y))
    times = dict.fromkeys(METHODS, 0.0)
    worst = 0.0
    with threadpool_limits(args.threads):
        for layer in layers:
            X_layer = X_by_site[sites[0]][:, layer].astype(np.float32)
            expected = reference_layer(X_layer, y, splits, times)
            for method in METHODS:
                rows = table[(table["site"] == sites[0]) & (table["method"] == method)]
                got = float(rows.loc[rows["layer"] == layer, "accuracy"].iloc[0])
                worst = max(worst, abs(got - expected[method]))
                print(
                    f"  layer {layer:2d} {method}: batched {got:.4f}, sklearn {expected[method]:.4f}"
                )
    factor = args.layers * len(sites) / len(layers)
    measured = sum(times.values())
    extrapolated = measured * factor
    print(
        f"sklearn per-layer loop: measured {measured:.1f} s on {len(layers)} layer(s) of one "
        f"site; extrapolated linearly to {args.layers} layers × {len(sites)} site(s): "
        f"{extrapolated:.1f} s"
    )
    for method in METHODS:
        print(f"  {method}: {times[method] * factor:7.1f} s (extrapolated)")
    verdict = "OK" if worst <= TOLERANCE else "MISMATCH"
    print(
        f"accuracy agreement on measured layers: max |diff| {worst:.4f} ({verdict}, ±{TOLERANCE})"
    )
    print(f"batched total {batched:.1f} s vs per-layer loop {extrapolated:.1f} s (extrapolated)")
    print(f"probe_sweep_speedup {extrapolated / batched:.1f}")
    if worst > TOLERANCE:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
