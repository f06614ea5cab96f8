"""What the score rule runs for one route: CLAP scores of its baseline and steered samples."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pandas as pd

from musicsteer.evaluation.clap import ClapScorer, score_samples
from musicsteer.steering.routes import Route


def route_samples(route: Route, originals: pd.DataFrame, steered: pd.DataFrame) -> pd.DataFrame:
    """Baseline and steered samples in one table; a one-target route's baseline gets it
    as ``target`` (what its gain is measured towards)."""
    samples = pd.concat([originals, steered], ignore_index=True)
    if len(route.targets) == 1:
        target = route.targets[0]
        samples["target"] = samples.target.fillna(target) if "target" in samples else target
    return samples


def score_route(
    scorer: ClapScorer,
    route: Route,
    originals: pd.DataFrame,
    steered: pd.DataFrame,
    batch_size: int,
    progress: Callable[[Iterable], Iterable] = iter,
) -> pd.DataFrame:
    """Zero-shot CLAP scores of every sample of a route against each of its label sets."""
    samples = route_samples(route, originals, steered)
    return score_samples(scorer, samples, route.label_sets, route.display, batch_size, progress)
