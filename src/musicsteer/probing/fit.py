"""The probe rules' one call: probe a task at every layer, choose layers, build vectors.

A genre pair is a pairwise task and an instrument a class of a one-vs-rest task, so
both routes run :func:`fit_task`; only the names of what they write differ.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from musicsteer.models.hookpoints import n_layers_from_stored, steerable_layers
from musicsteer.probing.assembly import build_task_vectors
from musicsteer.probing.probes import probe_task
from musicsteer.probing.selection import layer_selection
from musicsteer.probing.solvers import DEFAULT_L2
from musicsteer.steering.vector import SteeringVector


@dataclass(frozen=True)
class ProbeSettings:
    """How a task is probed and its steering layers chosen (the ``probing`` config)."""

    methods: Sequence[str] = ("dim", "bce", "mse")
    folds: int = 5
    seed: int = 0
    l2: float = DEFAULT_L2
    scaling: str = "global"
    layer_rule: str = "accuracy"
    fixed_layer: int | None = None
    min_class_clips: int = 0
    model: str = ""


@dataclass
class TaskFit:
    """What probing one task produced: the probe table, the chosen layers, the vectors."""

    probes: pd.DataFrame
    selection: pd.DataFrame
    vectors: list[SteeringVector]


def fit_task(
    acts: Mapping[str, np.ndarray],
    task: pd.DataFrame,
    name: str,
    clustering: pd.DataFrame,
    settings: ProbeSettings,
    token_norms: Mapping[str, np.ndarray | None] | None = None,
    vector_task: str | None = None,
) -> TaskFit:
    """Probe ``task`` on every site × method, choose each class's layer, fit its vector.

    ``acts`` holds ``site → [task rows, n_layers_stored, d]``; ``clustering`` the
    per-layer ARI of the dataset (``site, layer, ari``) for ``layer_rule="ari"``;
    ``token_norms`` each site's mean token norms (the unit of α). Vectors are named
    ``vector_task`` (default ``name``).
    """
    s = settings
    probes = probe_task(acts, task, s.methods, s.folds, s.seed, s.l2, s.scaling, name)
    selections, vectors = [], []
    for site in acts:
        n_layers = n_layers_from_stored(site, acts[site].shape[1])
        max_layer = steerable_layers(site, n_layers)[-1]
        for method in s.methods:
            chosen = layer_selection(
                probes,
                s.layer_rule,
                site,
                method,
                s.fixed_layer,
                max_layer,
                clustering[clustering.site == site],
                s.min_class_clips,
                name,
            )
            selections.append(chosen)
            layers = dict(zip(chosen.positive, chosen.layer, strict=True))
            vectors += build_task_vectors(
                acts,
                task,
                method,
                site,
                layers,
                vector_task or name,
                s.model,
                probes,
                s.seed,
                s.l2,
                s.scaling,
                (token_norms or {}).get(site),
            )
    return TaskFit(probes, pd.concat(selections, ignore_index=True), vectors)
