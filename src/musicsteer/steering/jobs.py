"""What the steering rules run for one route: its unsteered baseline and its grid.

Both take a :class:`~musicsteer.steering.routes.Route` (as the rule's params) and the
same generation settings, so a steered sample differs from its baseline only by the
steering (same prompts, seeds, batches and sampling).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from musicsteer import audio
from musicsteer.models.loading import MusicGen
from musicsteer.steering.generation import (
    TEMPERATURE,
    TOP_K,
    TOP_P,
    generate_originals,
    generate_steered,
)
from musicsteer.steering.grid import genre_prompts, prompt_table, setting_grid
from musicsteer.steering.routes import Route
from musicsteer.steering.vector import load_task_vectors


@dataclass(frozen=True)
class Generation:
    """How every baseline and steered sample is generated (the ``steering`` config)."""

    seeds: Sequence[int]
    max_new_tokens: int
    guidance_scale: float = 3.0
    top_k: int = TOP_K
    top_p: float | None = TOP_P
    temperature: float = TEMPERATURE
    batch_size: int = 16

    def sampling(self) -> dict:
        return {"top_k": self.top_k, "top_p": self.top_p, "temperature": self.temperature}


@dataclass(frozen=True)
class Intervention:
    """How the grid's vectors are applied (``steering.{alpha_scale,cfg,skip_prefix}``)."""

    alpha_scale: str = "norm"
    cfg: str = "both"
    skip_prefix: bool = True


def route_prompts(route: Route, prompts_file: str | Path | None) -> pd.DataFrame:
    """The route's prompts: its own (transfer) or the source genre's rows of the file."""
    if route.prompts:
        return prompt_table(route.prompts)
    if route.source is None or prompts_file is None:
        raise ValueError(f"route {route.name} has neither prompts nor a source genre")
    return genre_prompts(prompts_file, route.source)


def _melody(mg: MusicGen, route: Route, melody_path: str | Path | None) -> np.ndarray | None:
    if not route.melody:
        return None
    if not mg.is_melody:
        raise ValueError(f"route {route.name} conditions on a melody: it needs MusicGen-Melody")
    if melody_path is None:
        raise ValueError(f"route {route.name} needs the melody audio")
    return audio.load(melody_path, mg.sample_rate)


def run_baseline(
    mg: MusicGen,
    route: Route,
    generation: Generation,
    out_dir: str | Path,
    prompts_file: str | Path | None = None,
    melody_path: str | Path | None = None,
) -> pd.DataFrame:
    """Unsteered samples of a route's prompts; a melody route lists its melody first."""
    prompts = route_prompts(route, prompts_file)
    melody = _melody(mg, route, melody_path)
    samples = generate_originals(
        mg,
        prompts,
        generation.seeds,
        out_dir,
        generation.max_new_tokens,
        generation.guidance_scale,
        melody=melody,
        batch_size=generation.batch_size,
        **generation.sampling(),
    )
    if route.source is not None:
        samples["source"] = route.source
    if melody_path is not None and route.melody:
        melody_row = pd.DataFrame([{"path": str(melody_path), "kind": "input"}])
        samples = pd.concat([melody_row, samples], ignore_index=True)
    return samples


def run_grid(
    mg: MusicGen,
    route: Route,
    vectors_dir: str | Path,
    grid: Mapping[str, Sequence],
    intervention: Intervention,
    generation: Generation,
    out_dir: str | Path,
    prompts_file: str | Path | None = None,
    melody_path: str | Path | None = None,
    progress: Callable[[Iterable], Iterable] = iter,
) -> pd.DataFrame:
    """Steered samples of every target × site × method × layer choice × α of a route."""
    sites, methods = grid["sites"], grid["methods"]
    vectors = load_task_vectors(vectors_dir, sites, methods, list(route.targets))
    targets = list(dict.fromkeys(key[0] for key in vectors))
    settings = setting_grid(targets, sites, methods, grid["alphas"], grid["layers"])
    samples = generate_steered(
        mg,
        vectors,
        settings,
        route_prompts(route, prompts_file),
        generation.seeds,
        out_dir,
        generation.max_new_tokens,
        generation.guidance_scale,
        intervention.cfg,
        intervention.alpha_scale,
        melody=_melody(mg, route, melody_path),
        skip_prefix=intervention.skip_prefix,
        progress=progress,
        batch_size=generation.batch_size,
        **generation.sampling(),
    )
    if route.source is not None:
        samples["source"] = route.source
    return samples
