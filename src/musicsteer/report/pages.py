"""Listening pages for the Snakemake report: every steered sample beside its original.

The report shows ``.wav`` outputs only as downloads, so each page is one self-contained
HTML file whose ``<audio>`` players carry the audio as ``data:`` URIs, with the CLAP
scores under each player. The report shows an HTML result in an iframe whose ``src`` is
the page's own ``data:`` URI, and Chromium refuses URLs over 2 MiB: so audio is Ogg
Opus at 24 kHz (~5 kB/s, a fifteenth of the WAV) and a run's pages are split to stay
under :data:`PAGE_BUDGET` bytes (base64 adds a third on top).
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from typing import cast

import numpy as np
import pandas as pd
import soundfile as sf

from musicsteer import audio
from musicsteer.steering.grid import VARIANT_KEYS

SETTING = list(VARIANT_KEYS)


PAGE_BUDGET = 1_400_000  # bytes of HTML; x 4/3 as a data: URI stays under Chromium's 2 MiB


PLAYER_RATE = 24_000  # Opus takes 8/12/16/24/48 kHz; 24 kHz keeps MusicGen's 32 kHz band


PAGE_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin-bottom: 2em; }
th, td { border: 1px solid #ddd; padding: 6px 8px; vertical-align: top; font-size: 13px; }
th { background: #f4f4f4; }
audio { width: 220px; display: block; }
.scores { color: #555; font-size: 12px; }
th.chosen { background: #ffe9a8; }
"""


def audio_data_uri(path: str, max_seconds: float | None = None) -> str:
    """The audio file as an Ogg Opus ``data:`` URI (optionally only its start)."""
    info = audio.probe(path)
    wave = audio.load(
        path, PLAYER_RATE, duration_s=min(max_seconds, info.seconds) if max_seconds else None
    )
    buffer = io.BytesIO()
    sf.write(buffer, wave, PLAYER_RATE, format="OGG", subtype="OPUS")
    return "data:audio/ogg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _player(path: str, scores: Mapping[str, float], max_seconds: float | None) -> str:
    text = " · ".join(f"{html.escape(k)} {v:.3f}" for k, v in scores.items())
    return (
        f'<audio controls preload="none" src="{audio_data_uri(path, max_seconds)}"></audio>'
        f'<div class="scores">{text}</div>'
    )


def chosen_alphas(
    selection: pd.DataFrame, source: str | None = None
) -> dict[tuple[str, ...], float]:
    """``(target, site, method, layers) → α`` from a table's α choices (``*_alpha.tsv``),
    only the pair from ``source`` where the choices hold several pairs."""
    if source is not None and "source" in selection:
        selection = selection[selection.source.astype(str) == str(source)]
    keys = ["target", *SETTING]
    return {
        tuple(str(row[k]) for k in keys): float(row["alpha"])
        for row in selection.to_dict("records")
    }


def _scores_by_path(scores: pd.DataFrame, label_set: str) -> dict[str, dict[str, float]]:
    rows = scores[scores.label_set == label_set]
    return {
        cast(str, path): dict(zip(group.label, group.probability, strict=True))
        for path, group in rows.groupby("path", sort=False)
    }


def listening_pages(
    samples: pd.DataFrame,
    scores: pd.DataFrame,
    title: str,
    intro: str,
    label_set: str = "pair",
    settings: Sequence[Mapping[str, str]] | None = None,
    max_seconds: float | None = None,
    budget: int = PAGE_BUDGET,
    chosen: Mapping[tuple[str, ...], float] | None = None,
) -> list[str]:
    """HTML pages with one table per steering setting (site · method · layers) and
    target: a row per (prompt, seed) holding the original and the steered sample at
    every α. Rows are packed into pages of at most ``budget`` bytes (a row that alone
    is bigger gets a page of its own).

    ``samples`` holds ``kind`` original/steered (and optional ``input`` reference
    audio, shown first); ``settings`` limits the tables (None = every setting).
    ``chosen`` maps ``(target, site, method, layers)`` to the α the tables chose for
    that setting (:func:`chosen_alphas`): its column is marked.
    """
    by_path = _scores_by_path(scores, label_set)
    blocks = [
        (
            "<h2>Input melody</h2>",
            _player(cast(str, row.path), by_path.get(cast(str, row.path), {}), max_seconds),
        )
        for row in samples[samples.kind == "input"].itertuples()
    ]
    steered = samples[samples.kind == "steered"]
    originals = samples[samples.kind == "original"].set_index(["prompt_id", "seed"])
    for key, group in steered.groupby(["target", *SETTING], sort=True):
        if settings is None or dict(zip(SETTING, key[1:], strict=True)) in settings:
            pick = (chosen or {}).get(tuple(str(k) for k in key))
            blocks += _setting_rows(key, group, originals, by_path, max_seconds, pick)
    return _paginate(blocks, title, intro, budget)


def _paginate(blocks: list[tuple[str, str]], title: str, intro: str, budget: int) -> list[str]:
    """Pack (header, row) blocks into pages: rows under one header share a table, and a
    header repeats where its rows continue on a new page."""
    pages: list[list[tuple[str, str]]] = [[]]
    size = 0
    for head, row in blocks:
        cost = len(row) + (len(head) if not pages[-1] or pages[-1][-1][0] != head else 0)
        if pages[-1] and size + cost > budget:
            pages.append([])
            size, cost = 0, len(head) + len(row)
        pages[-1].append((head, row))
        size += cost
    n = len(pages)
    return [
        _page(f"{title} ({i}/{n})" if n > 1 else title, intro, page)
        for i, page in enumerate(pages, start=1)
    ]


def _page(title: str, intro: str, blocks: list[tuple[str, str]]) -> str:
    parts, current = [], None
    for head, row in blocks:
        if head != current:
            parts.append(("</table>" if current and current.endswith("</tr>") else "") + head)
            current = head
        parts.append(row)
    if current and current.endswith("</tr>"):
        parts.append("</table>")
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{PAGE_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
        f"<p>{html.escape(intro)}</p>{''.join(parts)}</body></html>"
    )


def _setting_rows(
    key: tuple,
    group: pd.DataFrame,
    originals: pd.DataFrame,
    by_path: Mapping[str, Mapping[str, float]],
    max_seconds: float | None,
    chosen: float | None = None,
) -> list[tuple[str, str]]:
    """(table header, one-row table) per (prompt, seed) of one setting; the column of
    the ``chosen`` α is marked."""
    target, site, method, layers = key
    alphas = sorted(set(group.alpha))
    caption = f"→ {target}: {site} · {method} · layers {layers} ({group.layer.iloc[0]})"
    columns = "".join(
        f'<th class="chosen">α = {a:g} ★ chosen</th>'
        if chosen is not None and np.isclose(a, chosen)
        else f"<th>α = {a:g}</th>"
        for a in alphas
    )
    head = (
        f"<h2>{html.escape(caption)}</h2><table><tr><th>prompt</th><th>seed</th>"
        f"<th>original</th>{columns}</tr>"
    )
    blocks = []
    for (prompt_id, seed), unit in group.groupby(["prompt_id", "seed"], sort=True):
        original = originals.loc[(prompt_id, seed)]  # type: ignore[index]
        cells = [_player(original.path, by_path.get(original.path, {}), max_seconds)]
        for alpha in alphas:
            match = unit[unit.alpha == alpha]
            cells.append(
                _player(match.path.iloc[0], by_path.get(match.path.iloc[0], {}), max_seconds)
                if len(match)
                else ""
            )
        row = (
            f"<tr><td>{html.escape(str(original.prompt))}</td><td>{seed}</td>"
            + "".join(f"<td>{c}</td>" for c in cells)
            + "</tr>"
        )
        blocks.append((head, row))
    return blocks
