"""fit_task, the probe rules' one call: a pair is a pairwise task, with the same evidence."""

from __future__ import annotations

import numpy as np
import pandas as pd

from musicsteer.probing.fit import ProbeSettings, fit_task
from musicsteer.tasks import pairwise


def _pair_task(n_per_genre: int = 150):
    manifest = pd.DataFrame(
        {
            "clip_id": [f"c{i:03d}" for i in range(2 * n_per_genre)],
            "label": ["rock", "pop"] * n_per_genre,
            "dataset": "gtzan",
            "track": [f"t{i // 2}" for i in range(2 * n_per_genre)],  # one track per 2 clips
        }
    )
    return manifest, pairwise(manifest, "rock", "pop", seed=0)


def _planted(task: pd.DataFrame, layers: dict[int, float], n_stored: int, d: int = 16):
    """Noise, plus class pop shifted by ``strength`` along e0 at each planted layer."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((len(task), n_stored, d)).astype(np.float32)
    pop = task.y.to_numpy() == 1
    for layer, strength in layers.items():
        X[pop, layer, 0] += strength
    return X


def test_a_pair_is_probed_and_steered_like_any_task_and_never_at_the_final_output():
    _, task = _pair_task()
    # resid stores n_layers + 1 = 5 layers; the strongest signal sits in the last (the
    # final output, not steerable), a weaker one at layer 2
    acts = {"resid": _planted(task, {4: 6.0, 2: 3.0}, 5), "attn": _planted(task, {1: 3.0}, 4)}
    clustering = pd.DataFrame({"site": ["resid"] * 5, "layer": range(5), "ari": 0.0})
    settings = ProbeSettings(methods=("dim", "mse"), folds=4, model="m")
    fit = fit_task(acts, task, "pair_rock_to_pop", clustering, settings, vector_task="pop_vs_rock")
    chosen = fit.selection.set_index(["site", "method"]).layer
    assert chosen[("resid", "dim")] == 2 and chosen[("resid", "mse")] == 2
    assert chosen[("attn", "dim")] == 1
    assert {(v.site, v.method, v.positive, v.negative) for v in fit.vectors} == {
        (s, m, "pop", "rock") for s in ("resid", "attn") for m in ("dim", "mse")
    }
    for vector in fit.vectors:
        assert vector.task == "pop_vs_rock" and vector.model == "m"
        assert vector.direction()[0] > 0.9  # towards pop along the planted axis
    probed = fit.probes[(fit.probes.site == "resid") & (fit.probes.method == "dim")]
    assert probed.layer.tolist() == list(range(5)) and probed.accuracy.iloc[4] > 0.95
