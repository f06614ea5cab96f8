"""Listening pages for the Snakemake report: every steered sample beside its original.

The report shows ``.wav`` outputs only as downloads, so each page is one self-contained
HTML file whose ``<audio>`` players carry the audio as ``data:`` URIs (Ogg Vorbis, about
a tenth of the WAV's size), with the CLAP scores under each player.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence

import pandas as pd
import soundfile as sf

from musicsteer import audio

SETTING = ["site", "method", "layers"]
PAGE_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin-bottom: 2em; }
th, td { border: 1px solid #ddd; padding: 6px 8px; vertical-align: top; font-size: 13px; }
th { background: #f4f4f4; }
audio { width: 220px; display: block; }
.scores { color: #555; font-size: 12px; }
"""


def audio_data_uri(path: str, max_seconds: float | None = None) -> str:
    """The audio file as an Ogg Vorbis ``data:`` URI (optionally only its start)."""
    info = audio.probe(path)
    wave = audio.load(path, duration_s=min(max_seconds, info.seconds) if max_seconds else None)
    buffer = io.BytesIO()
    sf.write(buffer, wave, info.sample_rate, format="OGG", subtype="VORBIS")
    return "data:audio/ogg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _player(path: str, scores: Mapping[str, float], max_seconds: float | None) -> str:
    text = " · ".join(f"{html.escape(k)} {v:.3f}" for k, v in scores.items())
    return (
        f'<audio controls preload="none" src="{audio_data_uri(path, max_seconds)}"></audio>'
        f'<div class="scores">{text}</div>'
    )


def _scores_by_path(scores: pd.DataFrame, label_set: str) -> dict[str, dict[str, float]]:
    rows = scores[scores.label_set == label_set]
    return {
        path: dict(zip(group.label, group.probability, strict=True))
        for path, group in rows.groupby("path", sort=False)
    }


def listening_page(
    samples: pd.DataFrame,
    scores: pd.DataFrame,
    title: str,
    intro: str,
    label_set: str = "pair",
    settings: Sequence[Mapping[str, str]] | None = None,
    max_seconds: float | None = None,
) -> str:
    """HTML with one table per steering setting (site · method · layers) and target:
    a row per (prompt, seed) holding the original and the steered sample at every α.

    ``samples`` holds ``kind`` original/steered (and optional ``input`` reference
    audio, shown first); ``settings`` limits the tables (None = every setting).
    """
    by_path = _scores_by_path(scores, label_set)
    parts = [f"<h1>{html.escape(title)}</h1>", f"<p>{html.escape(intro)}</p>"]
    for row in samples[samples.kind == "input"].itertuples():
        parts.append(
            "<h2>Input melody</h2>" + _player(row.path, by_path.get(row.path, {}), max_seconds)
        )
    steered = samples[samples.kind == "steered"]
    originals = samples[samples.kind == "original"].set_index(["prompt_id", "seed"])
    for key, group in steered.groupby(["target", *SETTING], sort=True):
        if settings is not None and dict(zip(SETTING, key[1:], strict=True)) not in settings:
            continue
        parts.append(_setting_table(key, group, originals, by_path, max_seconds))
    body = "\n".join(parts)
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{PAGE_STYLE}</style></head><body>{body}</body></html>"
    )


def _setting_table(
    key: tuple,
    group: pd.DataFrame,
    originals: pd.DataFrame,
    by_path: Mapping[str, Mapping[str, float]],
    max_seconds: float | None,
) -> str:
    target, site, method, layers = key
    alphas = sorted(set(group.alpha))
    head = "".join(f"<th>α = {a:g}</th>" for a in alphas)
    rows = []
    for (prompt_id, seed), unit in group.groupby(["prompt_id", "seed"], sort=True):
        original = originals.loc[(prompt_id, seed)]
        cells = [_player(original.path, by_path.get(original.path, {}), max_seconds)]
        for alpha in alphas:
            match = unit[unit.alpha == alpha]
            cells.append(_player(match.path.iloc[0], by_path.get(match.path.iloc[0], {}),
                                 max_seconds) if len(match) else "")  # fmt: skip
        prompt = html.escape(str(original.prompt))
        rows.append(f"<tr><td>{prompt}</td><td>{seed}</td>"
                    + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")  # fmt: skip
    layer = group.layer.iloc[0]
    caption = f"→ {target}: {site} · {method} · layers {layers} ({layer})"
    return (
        f"<h2>{html.escape(caption)}</h2><table><tr><th>prompt</th><th>seed</th>"
        f"<th>original</th>{head}</tr>{''.join(rows)}</table>"
    )
