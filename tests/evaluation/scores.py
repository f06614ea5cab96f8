from __future__ import annotations

import itertools

import pandas as pd


def _planted_scores(gains: dict[float, float], source_drop: dict[float, float]) -> pd.DataFrame:
    """Originals p(rock)=0.9 for 2 prompts × 2 seeds; steered at α: pop up by gains[α]."""
    rows = []
    units = list(itertools.product([0, 1], [0, 1]))
    for prompt_id, seed in units:
        base = {"prompt_id": prompt_id, "seed": seed, "label_set": "pair"}
        rows += [
            {**base, "kind": "original", "label": "rock", "probability": 0.9},
            {**base, "kind": "original", "label": "pop", "probability": 0.1},
        ]
        for alpha, gain in gains.items():
            jitter = 0.01 * (prompt_id - seed)  # paired: cancels in nothing, stays in the CI
            pop = 0.1 + gain + jitter
            rock = 0.9 - source_drop[alpha] - jitter
            setting = {
                "target": "pop",
                "site": "resid",
                "method": "mse",
                "layers": "best",
                "layer": "2",
                "alpha": alpha,
                "kind": "steered",
                "preservation": 1.0 - alpha / 20,
            }
            rows += [
                {**base, **setting, "label": "rock", "probability": rock},
                {**base, **setting, "label": "pop", "probability": pop},
            ]
    return pd.DataFrame(rows)
