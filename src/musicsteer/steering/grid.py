"""The steering grid: what identifies a setting, and the prompts it runs on."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from itertools import product
from pathlib import Path

import pandas as pd

from musicsteer.storage import read_table


@dataclass(frozen=True)
class Setting:
    """One cell of the steering grid: which vector, where, how strong.

    Its fields, in this order, are the one list of setting keys: every samples table,
    sweep table, listening page and figure derives its keys from :data:`SETTING_KEYS`.
    """

    target: str
    site: str
    method: str
    layers: str
    alpha: float

    def stem(self) -> str:
        """File-name part that names every choice (``pop_resid_mse_best_a8``)."""
        return f"{self.target}_{self.site}_{self.method}_{self.layers}_a{self.alpha:g}"


SETTING_KEYS: tuple[str, ...] = tuple(f.name for f in fields(Setting))
# how a target's vector is applied, apart from its strength: what a steering variant is
VARIANT_KEYS: tuple[str, ...] = SETTING_KEYS[1:-1]


def setting_grid(
    targets: Sequence[str],
    sites: Sequence[str],
    methods: Sequence[str],
    alphas: Sequence[float],
    layers: Sequence[str] = ("best",),
) -> list[Setting]:
    """Every target × site × method × layer choice × α, in that nesting order."""
    return [
        Setting(t, s, m, str(lay), float(a))
        for t in targets
        for s in sites
        for m in methods
        for lay in layers
        for a in alphas
    ]


# a grid's list of choices for each setting key a job can be split by
_SPLIT_LISTS = {"site": "sites", "method": "methods", "layers": "layers"}


def steering_parts(grid: Mapping[str, Sequence], split: Sequence[str]) -> dict[str, dict]:
    """The steering grid cut into one job's grid per combination of the ``split`` keys.

    ``grid`` has ``sites, methods, layers, alphas``; each part keeps one value of every
    key in ``split`` (``site``, ``method``, ``layers``) and all of the others. Parts are
    named by their values (``resid_mse_best``), or ``all`` when nothing is split.
    """
    unknown = set(split) - set(_SPLIT_LISTS)
    if unknown:
        raise ValueError(
            f"cannot split steering jobs by {sorted(unknown)}: use {list(_SPLIT_LISTS)}"
        )
    keys = [k for k in _SPLIT_LISTS if k in split]  # a fixed order: site, method, layers
    parts = {}
    for values in product(*(grid[_SPLIT_LISTS[k]] for k in keys)):
        part = {name: list(choices) for name, choices in grid.items()}
        for key, value in zip(keys, values, strict=True):
            part[_SPLIT_LISTS[key]] = [value]
        parts["_".join(map(str, values)) or "all"] = part
    return parts


def genre_prompts(path: str | Path, genre: str) -> pd.DataFrame:
    """The ``prompt_id, prompt`` rows of one genre from a ``genre<TAB>prompt`` TSV."""
    table = pd.read_csv(path, sep="\t")
    missing = {"genre", "prompt"} - set(table.columns)
    if missing:
        raise ValueError(f"{path}: needs columns genre and prompt (missing {sorted(missing)})")
    prompts = table[table.genre == genre].prompt.astype(str).tolist()
    if not prompts:
        raise ValueError(f"{path} has no prompt for genre {genre!r}")
    return prompt_table(prompts)


def prompt_table(prompts: Sequence[str]) -> pd.DataFrame:
    """Prompts numbered in order: ``prompt_id, prompt``."""
    return pd.DataFrame({"prompt_id": range(len(prompts)), "prompt": list(prompts)})


def merge_samples(paths: Sequence[str | Path]) -> pd.DataFrame:
    """The samples tables of a route's steering jobs as one, in grid order.

    Each job's table holds whole settings; a setting found in two tables means two
    jobs overlapped, which would double-count samples, so it is refused.
    """
    tables = [read_table(path) for path in paths]
    if not tables:
        raise ValueError("no samples tables to merge")
    keys = list(SETTING_KEYS)
    seen: dict[tuple, str] = {}
    for path, table in zip(paths, tables, strict=True):
        for setting in table[keys].drop_duplicates().itertuples(index=False):
            if tuple(setting) in seen:
                raise ValueError(
                    f"setting {tuple(setting)} is in both {seen[tuple(setting)]} and {path}"
                )
            seen[tuple(setting)] = str(path)
    return pd.concat(tables, ignore_index=True)
