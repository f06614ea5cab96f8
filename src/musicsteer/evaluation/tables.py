"""The paper's tables: genre fusion and instrument transfer, from CLAP scores and α choices.

Scores come from :mod:`musicsteer.evaluation.clap`, statistics and the α rule from
:mod:`musicsteer.evaluation.stats`.

Statistics: the unit of evidence is one (prompt, seed) generation. Means come with
95 % t-intervals that treat prompts as clusters (seeds of one prompt are not
independent draws; :func:`musicsteer.evaluation.stats.clustered_interval`), and no
interval below 3 units; gains are paired (the steered
sample minus the original with the same prompt and seed). *Preservation* is the
cosine between the CLAP audio embeddings of a steered sample and its original: 1
means CLAP hears the same music, genre *fusion* means the target score rises while
preservation and the source score stay high.

No selection on the reported numbers: the tables pick α on the samples of the
*selection seeds* only and report means and intervals on the other seeds (a
:class:`SeedSplit`); picking and reporting on the same samples would inflate the
reported gain (the winner's curse).
"""

from __future__ import annotations

import html
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import pandas as pd

from musicsteer.evaluation.stats import (
    SWEEP_COLUMNS,
    AlphaRule,
    reference_stats,
    selection_table,
    sweep_table,
)
from musicsteer.steering.grid import SETTING_KEYS as GRID_KEYS

FUSION_COLUMNS = ["Track", "Genre 1", "Genre 1 Score", "Genre 2", "Genre 2 Score"]


GENERATED = ("original", "steered")  # the kinds that carry a generation seed


@dataclass(frozen=True)
class SeedSplit:
    """Which generation seeds pick α (``select``) and which the tables report (``report``).

    ``held_out`` is False when no selection seeds were given: then both are every
    seed, as before, and the reported scores at the chosen α are biased upwards.
    """

    select: tuple[int, ...]
    report: tuple[int, ...]
    held_out: bool

    def columns(self) -> dict[str, str]:
        """The table columns ``select_seeds`` and ``report_seeds`` (``"1,2"``)."""
        return {"select_seeds": _seed_text(self.select), "report_seeds": _seed_text(self.report)}


def _seed_text(seeds: Sequence[int]) -> str:
    return ",".join(str(s) for s in seeds)


def split_seeds(
    scores: pd.DataFrame, select_seeds: Sequence[int] | None
) -> tuple[SeedSplit, pd.DataFrame, pd.DataFrame]:
    """``(split, select_scores, report_scores)``: the rows α is chosen on and the rows the
    table reports. Reference audio without a seed (the melody input) goes to both.

    ``select_seeds`` empty or None: both are ``scores`` (select and report on every seed).
    Raises ``ValueError`` if a selection seed was not generated or no seed is left over.
    """
    generated = scores[scores.kind.isin(GENERATED)].seed.dropna()
    present = tuple(sorted({int(s) for s in generated}))
    chosen = tuple(sorted({int(s) for s in select_seeds or ()}))
    if not chosen:
        return SeedSplit(present, present, held_out=False), scores, scores
    missing = sorted(set(chosen) - set(present))
    if missing:
        raise ValueError(f"selection seeds {missing} were not generated (seeds: {list(present)})")
    report = tuple(s for s in present if s not in chosen)
    if not report:
        raise ValueError(
            f"every generated seed {list(present)} is a selection seed: none is left to report on"
        )
    in_select = scores.seed.isin(chosen)
    select_rows, report_rows = scores[in_select | scores.seed.isna()], scores[~in_select]
    return SeedSplit(chosen, report, held_out=True), select_rows, report_rows


def seeds_note(table: pd.DataFrame) -> str:
    """The line under a markdown table: which seeds chose α, which seeds the scores are on."""
    if not {"select_seeds", "report_seeds", "n"} <= set(table.columns) or table.empty:
        return ""
    rows = table[table.kind.isin(GENERATED)] if "kind" in table else table
    lines = []
    for (select, report), group in rows.groupby(["select_seeds", "report_seeds"], sort=False):
        low, high = int(group.n.min()), int(group.n.max())
        n = f"n = {low}" if low == high else f"n = {low}–{high}"
        if str(select) != str(report):
            lines.append(
                f"α chosen on {_listed(select)}; scores on {_listed(report)} "
                f"({n} prompt × seed generations per row)."
            )
        else:
            lines.append(
                f"α chosen and scores reported on the same {_listed(report)} "
                f"({n} prompt × seed generations per row): no held-out seeds "
                "(evaluation.select_seeds is empty), so the scores at the chosen α "
                "are biased upwards."
            )
    return "\n".join(lines)


def _listed(seeds: object) -> str:
    """``"1,2"`` → ``"seeds 1, 2"``; ``"1"`` → ``"seed 1"``."""
    text = str(seeds)
    return ("seeds " if "," in text else "seed ") + text.replace(",", ", ")


def _stat(table: pd.DataFrame, **match: object) -> pd.Series:
    rows = table
    for key, value in match.items():
        rows = rows[rows[key] == value]
    if len(rows) != 1:
        raise ValueError(f"expected one statistic for {match}, found {len(rows)}")
    return rows.iloc[0]


def fusion_rows(
    scores: pd.DataFrame,
    sweep: pd.DataFrame,
    choice: Mapping[str, object],
    source: str,
    display: Mapping[str, str],
) -> list[dict]:
    """The original row and the steered row (at the chosen setting) of one pair."""
    target = str(choice["target"])
    ref = reference_stats(scores[scores.label_set == "pair"], "original")
    chosen = sweep[(sweep.label_set.isin(["pair", ""]))]
    for key in GRID_KEYS:
        chosen = chosen[chosen[key] == choice[key]]
    rows = []
    for kind in ("original", "steered"):
        row = {
            "Track": _name(source, display)
            + ("" if kind == "original" else f" {_name(target, display)}")
        }
        for i, label in ((1, source), (2, target)):
            stat = (
                _stat(ref, label=label)
                if kind == "original"
                else _stat(chosen, metric="steered", label=label)
            )
            row |= {
                f"Genre {i}": _name(label, display),
                f"Genre {i} Score": stat["mean"],
                f"Genre {i} CI low": stat.ci_low,
                f"Genre {i} CI high": stat.ci_high,
            }
            n = int(stat.n)
        preservation = (
            np.nan if kind == "original" else _stat(chosen, metric="preservation")["mean"]
        )
        rows.append(
            row
            | {
                "source": source,
                "target": target,
                "kind": kind,
                "n": n,
                "site": choice["site"],
                "method": choice["method"],
                "layer": choice["layer"],
                "alpha": 0.0 if kind == "original" else choice["alpha"],
                "preservation": preservation,
            }
        )
    return [_ordered(r) for r in rows]


def _ordered(row: dict) -> dict:
    first = [c for c in FUSION_COLUMNS if c in row]
    return {**{c: row[c] for c in first}, **{k: v for k, v in row.items() if k not in first}}


def _name(label: str, display: Mapping[str, str]) -> str:
    return display.get(label, label).title()


FUSION_HEAD = ["Pair", "Track", "Genre 1 Score", "Genre 2 Score", "α (site, method, layer)", "n"]


def fusion_cells(table: pd.DataFrame) -> list[list[str]]:
    """The genre-fusion table's printed cells, one list per row (see :data:`FUSION_HEAD`)."""
    rows = []
    for r in table.to_dict("records"):
        scores = [
            f"{r[f'Genre {i}']}: {r[f'Genre {i} Score']:.3f}" + _ci(r, f"Genre {i}") for i in (1, 2)
        ]
        pair = f"{r['Genre 1']} → {r['Genre 2']}"
        rows.append([pair, str(r["Track"]), *scores, _setting_text(r), str(r["n"])])
    return rows


def fusion_markdown(table: pd.DataFrame) -> str:
    """The table as the paper prints it (``Rock: 0.987``), with the 95 % CI, the pair,
    the chosen α and setting, and the number of generations per row."""
    return _with_note(_markdown_lines(FUSION_HEAD, fusion_cells(table)), table)


def _markdown_lines(head: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _setting_text(row: Mapping[Hashable, object]) -> str:
    """``0.25 (resid, mse, 3)`` for a steered row, ``–`` for unsteered audio."""
    if row.get("kind") != "steered":
        return "–"
    return f"{row['alpha']:g} ({row['site']}, {row['method']}, {row['layer']})"


def _with_note(lines: list[str], table: pd.DataFrame) -> str:
    note = seeds_note(table)
    return "\n".join(lines) + "\n" + (f"\n{note}\n" if note else "")


def _ci(row: Mapping[Hashable, object], prefix: str) -> str:
    """`` [low, high]``; `` (n = 2)`` where too few units gave no interval; nothing for
    values that were all the same."""
    low, high = row.get(f"{prefix} CI low"), row.get(f"{prefix} CI high")
    if low is None or high is None or not np.isfinite(cast(float, low)):
        return f" (n = {row['n']})" if "n" in row else ""
    return "" if low == high else f" [{low:.3f}, {high:.3f}]"


def instrument_rows(
    scores: pd.DataFrame,
    sweep: pd.DataFrame,
    choices: pd.DataFrame,
    instruments: Sequence[str],
) -> list[dict]:
    """The paper's instrument-transfer rows: the input melody, the unsteered
    generation ("Ground Truth") and one steered row per target instrument."""
    rows = []
    for kind, track in (("input", "Melody input"), ("original", "Ground Truth")):
        ref = reference_stats(scores[scores.label_set == "all"], kind)
        if ref.empty:
            continue
        stats = {label: _stat(ref, label=label) for label in instruments}
        rows.append(_instrument_row(track, kind, "", stats, {}, np.nan))
    for choice in choices.to_dict("records"):
        chosen = sweep[sweep.label_set.isin(["all", ""])]
        for key in GRID_KEYS:
            chosen = chosen[chosen[key] == choice[key]]
        stats = {label: _stat(chosen, metric="steered", label=label) for label in instruments}
        preservation = _stat(chosen, metric="preservation")["mean"]
        rows.append(
            _instrument_row(
                f"GT {choice['target']}", "steered", choice["target"], stats, choice, preservation
            )
        )
    return rows


def _instrument_row(
    track: str,
    kind: str,
    target: str,
    stats: Mapping[str, pd.Series],
    choice: Mapping[Hashable, object],
    preservation: float,
) -> dict:
    row: dict = {"Track": track}
    for label, stat in stats.items():
        row[f"{label} Score"] = stat["mean"]
    for label, stat in stats.items():
        row |= {f"{label} CI low": stat.ci_low, f"{label} CI high": stat.ci_high}
    n = int(next(iter(stats.values())).n)
    return row | {
        "kind": kind,
        "target": target,
        "n": n,
        "site": choice.get("site", ""),
        "method": choice.get("method", ""),
        "layer": choice.get("layer", ""),
        "alpha": choice.get("alpha", 0.0),
        "preservation": preservation,
    }


def instrument_head(instruments: Sequence[str]) -> list[str]:
    """Column names of the printed instrument-transfer table."""
    return ["Track", *(f"{i} Score" for i in instruments), "α (site, method, layer)", "n"]


def instrument_cells(table: pd.DataFrame, instruments: Sequence[str]) -> list[list[str]]:
    """The instrument-transfer table's printed cells, one list per row."""
    return [
        [
            str(r["Track"]),
            *(f"{r[f'{i} Score']:.3f}" + _ci(r, i) for i in instruments),
            _setting_text(r),
            str(r["n"]),
        ]
        for r in table.to_dict("records")
    ]


def instrument_markdown(table: pd.DataFrame, instruments: Sequence[str]) -> str:
    """The instrument-transfer table as the paper prints it, with the 95 % CIs, the
    chosen α and setting, and the number of generations per row."""
    lines = _markdown_lines(instrument_head(instruments), instrument_cells(table, instruments))
    return _with_note(lines, table)


TABLE_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
caption { text-align: left; font-weight: 600; margin-bottom: 0.5em; }
th, td { border: 1px solid #ddd; padding: 6px 10px; font-size: 14px; }
th { background: #f4f4f4; text-align: left; }
td.num { font-variant-numeric: tabular-nums; }
tr.steered td { background: #eef6ff; }
.note { color: #555; font-size: 13px; max-width: 60em; }
"""


def table_html(
    title: str, head: Sequence[str], rows: Sequence[Sequence[str]], table: pd.DataFrame
) -> str:
    """A self-contained HTML page of one printed table (the report shows it inline).

    Steered rows (their α chosen by ``evaluation.alpha_rule``) are shaded; the note says
    which seeds chose α and which the scores are on.
    """
    kinds = table["kind"].tolist() if "kind" in table else [""] * len(rows)
    body = "".join(
        f'<tr class="{html.escape(str(kind))}">'
        + "".join(
            f'<td class="num">{html.escape(cell)}</td>' if i else f"<td>{html.escape(cell)}</td>"
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row, kind in zip(rows, kinds, strict=True)
    )
    header = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    note = html.escape(seeds_note(table))
    legend = (
        "Means over prompt × seed generations with 95 % intervals (prompts as clusters); "
        "shaded rows are steered at the α the rule chose, named with its setting."
    )
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{TABLE_STYLE}</style></head><body>"
        f"<table><caption>{html.escape(title)}</caption><thead><tr>{header}</tr></thead>"
        f"<tbody>{body}</tbody></table>"
        f'<p class="note">{html.escape(legend)}</p><p class="note">{note}</p></body></html>'
    )


def split_sweeps(
    scores: pd.DataFrame, select_seeds: Sequence[int] | None
) -> tuple[SeedSplit, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``(split, select_sweep, report_scores, report_sweep)``: :func:`sweep_table` of the
    selection seeds (to pick α on) and of the report seeds (to print)."""
    split, select, report = split_seeds(scores, select_seeds)
    select_sweep = sweep_table(select)
    report_sweep = sweep_table(report) if split.held_out else select_sweep
    return split, select_sweep, report, report_sweep


def genre_fusion(
    scores: Mapping[tuple[str, str], pd.DataFrame],
    headline: Mapping[str, str],
    rule: AlphaRule,
    display: Mapping[str, str],
    select_seeds: Sequence[int] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``(table, long, selection)`` for (source, target) pairs in the given order.

    ``table`` is the paper's layout at the headline site/method/layers with α chosen
    by ``rule`` on the ``select_seeds`` samples and scores over the other seeds (None or
    empty: every seed does both); ``long`` is every pair's sweep over the report
    seeds; ``selection`` the α of every setting and the seeds it was chosen on.
    """
    rows, longs, selections = [], [], []
    for (source, target), pair_scores in scores.items():
        split, chosen_on, report, sweep = split_sweeps(pair_scores, select_seeds)
        selection = selection_table(chosen_on, rule, source).assign(
            select_seeds=split.columns()["select_seeds"]
        )
        choice = _headline_choice(selection, headline, f"{source} → {target}")
        rows += [
            row | split.columns() for row in fusion_rows(report, sweep, choice, source, display)
        ]
        longs.append(sweep.assign(source=source, report_seeds=split.columns()["report_seeds"]))
        selections.append(selection)
    long = pd.concat(longs, ignore_index=True)
    return (
        pd.DataFrame(rows),
        long[["source", *SWEEP_COLUMNS, "report_seeds"]],
        pd.concat(selections, ignore_index=True),
    )


def instrument_transfer(
    scores: pd.DataFrame,
    headline: Mapping[str, str],
    rule: AlphaRule,
    select_seeds: Sequence[int] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``(table, long, selection)``: the paper's instrument-transfer rows at the headline,
    α chosen on the ``select_seeds`` samples and scores over the other seeds (None or
    empty: every seed does both); ``long`` is the sweep over the report seeds."""
    instruments = list(dict.fromkeys(scores[scores.label_set == "all"].label))
    split, chosen_on, report, sweep = split_sweeps(scores, select_seeds)
    selection = selection_table(chosen_on, rule, None, label_set="all").assign(
        select_seeds=split.columns()["select_seeds"]
    )
    choices = pd.DataFrame(
        [
            _headline_choice(selection[selection.target == t], headline, t)
            for t in instruments
            if t in set(selection.target)
        ]
    )
    rows = instrument_rows(report, sweep, choices, instruments)
    table = pd.DataFrame([row | split.columns() for row in rows])
    return table, sweep.assign(report_seeds=split.columns()["report_seeds"]), selection


def _headline_choice(selection: pd.DataFrame, headline: Mapping[str, str], what: str) -> dict:
    match = selection
    for key in ("site", "method", "layers"):
        match = match[match[key] == headline[key]]
    if len(match) != 1:
        raise ValueError(f"{what}: the sweep has no single setting {dict(headline)}")
    return match.iloc[0].to_dict()
