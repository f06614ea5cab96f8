"""The steering grid: what identifies a setting, and the prompts it runs on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import pandas as pd


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
