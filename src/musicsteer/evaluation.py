"""Zero-shot CLAP scoring of original vs steered audio, α selection, the paper's tables.

Zero-shot probabilities are the softmax of ``logits_per_audio`` over the candidate
labels, each put into the pipeline's hypothesis template: what the
``zero-shot-audio-classification`` pipeline the paper used computes (the tests check
it to 1e-5). Audio is resampled to CLAP's 48 kHz and cut to its first 10 s, so CLAP's
random cropping never fires and scores are reproducible.

Statistics: the unit of evidence is one (prompt, seed) generation. Means come with
95 % percentile-bootstrap intervals over those units; gains are paired (the steered
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

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from musicsteer import audio
from musicsteer.models import CLAP_SAMPLE_RATE

CLAP_SECONDS = 10.0
# the zero-shot-audio-classification pipeline's default hypothesis_template
ZERO_SHOT_TEMPLATE = "This is a sound of {}."
FUSION_COLUMNS = ["Track", "Genre 1", "Genre 1 Score", "Genre 2", "Genre 2 Score"]


@dataclass
class ClapScorer:
    """Scores audio against text labels with a CLAP model."""

    model: torch.nn.Module
    processor: object
    template: str = ZERO_SHOT_TEMPLATE

    @property
    def device(self) -> torch.device:
        """Device of the CLAP weights."""
        return next(self.model.parameters()).device

    @torch.inference_mode()
    def text_embeddings(self, labels: Sequence[str]) -> torch.Tensor:
        """Unit text embeddings ``[n_labels, dim]`` of the templated labels."""
        texts = [self.template.format(label) for label in labels]
        tok = self.processor.tokenizer(texts, return_tensors="pt", padding=True).to(self.device)
        return _unit(self.model.get_text_features(**tok))

    @torch.inference_mode()
    def audio_embeddings(self, waves: Sequence[np.ndarray], sample_rate: int) -> torch.Tensor:
        """Unit audio embeddings ``[n_audio, dim]``."""
        prepared = [self._prepare(w, sample_rate) for w in waves]
        feats = self.processor.feature_extractor(
            prepared,
            sampling_rate=CLAP_SAMPLE_RATE,
            return_tensors="pt",
            truncation="rand_trunc",
            padding="repeatpad",
        ).to(self.device)
        return _unit(self.model.get_audio_features(**feats))

    @staticmethod
    def _prepare(wave: np.ndarray, sample_rate: int) -> np.ndarray:
        wave = audio.resample(np.asarray(wave, dtype=np.float32), sample_rate, CLAP_SAMPLE_RATE)
        return wave[: int(CLAP_SECONDS * CLAP_SAMPLE_RATE)]

    @torch.inference_mode()
    def probabilities(
        self, waves: Sequence[np.ndarray], sample_rate: int, labels: Sequence[str]
    ) -> np.ndarray:
        """Zero-shot probabilities ``[n_audio, n_labels]`` (rows sum to 1)."""
        return self.probabilities_of(self.audio_embeddings(waves, sample_rate), labels)

    @torch.inference_mode()
    def probabilities_of(self, audio_emb: torch.Tensor, labels: Sequence[str]) -> np.ndarray:
        """Zero-shot probabilities from unit audio embeddings (see :meth:`embed_files`)."""
        text_emb = self.text_embeddings(labels)
        logits = self.model.logit_scale_a.exp() * audio_emb.to(self.device) @ text_emb.T
        return logits.softmax(dim=-1).float().cpu().numpy()

    def embed_files(
        self,
        paths: Sequence[str],
        batch_size: int = 8,
        progress: Callable[[Iterable], Iterable] = iter,
    ) -> torch.Tensor:
        """Unit audio embeddings ``[n_files, dim]`` of audio files, ``batch_size`` at a time."""
        chunks = []
        for start in progress(range(0, len(paths), batch_size)):
            waves = [
                audio.load(path, CLAP_SAMPLE_RATE) for path in paths[start : start + batch_size]
            ]
            chunks.append(self.audio_embeddings(waves, CLAP_SAMPLE_RATE))
        return torch.cat(chunks).cpu() if chunks else torch.zeros(0, 0)


def _unit(x: torch.Tensor | object) -> torch.Tensor:
    x = x if isinstance(x, torch.Tensor) else x.pooler_output
    return torch.nn.functional.normalize(x.float(), dim=-1)


# ------------------------------------------------------------------------- scoring

UNIT_KEYS = ("prompt_id", "seed")  # one generation: what an original and its steered share


def score_samples(
    scorer: ClapScorer,
    samples: pd.DataFrame,
    label_sets: Mapping[str, Sequence[str]],
    display: Mapping[str, str] | None = None,
    batch_size: int = 8,
    progress: Callable[[Iterable], Iterable] = iter,
) -> pd.DataFrame:
    """Long table of CLAP probabilities: one row per (sample, label set, label).

    ``samples`` needs ``path`` and ``kind`` (``original``/``steered``, or anything
    else for reference audio); with ``prompt_id`` and ``seed`` each steered sample
    gets ``preservation``, the cosine of its CLAP embedding with its original's. Its
    other columns are carried over. ``label_sets`` names candidate label lists, e.g.
    ``{"pair": ["rock", "pop"], "all": genres}``; each set is its own softmax.
    ``display`` maps label keys to the text CLAP sees (``hiphop → hip-hop``).
    """
    samples = samples.reset_index(drop=True)
    emb = scorer.embed_files(samples.path.tolist(), batch_size, progress)
    samples = samples.assign(preservation=_preservation(samples, emb))
    tables = []
    for name, labels in label_sets.items():
        texts = [(display or {}).get(label, label) for label in labels]
        probs = scorer.probabilities_of(emb, texts)
        for j, label in enumerate(labels):
            tables.append(samples.assign(label_set=name, label=label, probability=probs[:, j]))
    return pd.concat(tables, ignore_index=True)


def _preservation(samples: pd.DataFrame, emb: torch.Tensor) -> np.ndarray:
    """Cosine with the original of the same (prompt, seed); NaN where there is none."""
    out = np.full(len(samples), np.nan)
    if not set(UNIT_KEYS) <= set(samples.columns):
        return out
    keys = list(zip(*(samples[k] for k in UNIT_KEYS), strict=True))
    originals = {k: i for i, k in enumerate(keys) if samples.kind.iloc[i] == "original"}
    for i, key in enumerate(keys):
        if samples.kind.iloc[i] == "steered" and key in originals:
            out[i] = float(emb[i] @ emb[originals[key]])
    return out


# ---------------------------------------------------------------------- statistics


def bootstrap_mean(
    values: Sequence[float] | np.ndarray, n_boot: int = 2000, level: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """Mean and percentile-bootstrap interval ``(mean, low, high)`` of ``values``."""
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return (np.nan, np.nan, np.nan)
    if x.size == 1:
        return (float(x[0]),) * 3
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(axis=1)
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(x.mean()), float(low), float(high)


SETTING_KEYS = ["target", "site", "method", "layers", "layer", "alpha"]
SWEEP_COLUMNS = [*SETTING_KEYS, "label_set", "metric", "label", "n", "mean", "ci_low", "ci_high"]


def paired_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """One row per steered sample × label: its probability beside its original's.

    Columns: the setting keys, ``prompt_id, seed, label_set, label, steered,
    original, preservation``.
    """
    keys = [*UNIT_KEYS, "label_set", "label"]
    orig = scores[scores.kind == "original"][[*keys, "probability"]]
    steered = scores[scores.kind == "steered"]
    paired = steered.merge(orig, on=keys, how="inner", suffixes=("", "_original"))
    return paired.rename(columns={"probability": "steered", "probability_original": "original"})


def sweep_table(
    scores: pd.DataFrame, n_boot: int = 2000, level: float = 0.95, seed: int = 0
) -> pd.DataFrame:
    """Long-form α sweep: per setting × label, mean + bootstrap CI of each metric.

    Metrics: ``original`` and ``steered`` probability, paired ``gain`` (steered −
    original), and ``preservation`` (label ``""``), all over the (prompt, seed)
    units of the setting. Columns: :data:`SWEEP_COLUMNS`.
    """
    paired = paired_scores(scores)
    rows = []
    for key, group in paired.groupby([*SETTING_KEYS, "label_set", "label"], sort=True):
        values = {
            "original": group.original,
            "steered": group.steered,
            "gain": group.steered - group.original,
        }
        for metric, x in values.items():
            rows.append(_stat_row(key, metric, key[-1], x, n_boot, level, seed))
    units = paired.drop_duplicates([*SETTING_KEYS, *UNIT_KEYS])
    for key, group in units.groupby(SETTING_KEYS, sort=True):
        rows.append(
            _stat_row((*key, ""), "preservation", "", group.preservation, n_boot, level, seed)
        )
    return pd.DataFrame(rows, columns=SWEEP_COLUMNS)


def _stat_row(
    key: tuple, metric: str, label: str, x: pd.Series, n_boot: int, level: float, seed: int
) -> dict:
    mean, low, high = bootstrap_mean(x.to_numpy(), n_boot, level, seed)
    setting = dict(zip(SETTING_KEYS, key[: len(SETTING_KEYS)], strict=True))
    label_set = key[len(SETTING_KEYS)]
    return {
        **setting,
        "label_set": label_set,
        "metric": metric,
        "label": label,
        "n": int(np.isfinite(x.to_numpy(dtype=float)).sum()),
        "mean": mean,
        "ci_low": low,
        "ci_high": high,
    }


def reference_stats(
    scores: pd.DataFrame,
    kind: str = "original",
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Mean + CI of each label's probability over the samples of one ``kind``."""
    rows = []
    subset = scores[scores.kind == kind]
    for (label_set, label), group in subset.groupby(["label_set", "label"], sort=True):
        mean, low, high = bootstrap_mean(group.probability.to_numpy(), n_boot, level, seed)
        rows.append(
            {
                "kind": kind,
                "label_set": label_set,
                "label": label,
                "n": len(group),
                "mean": mean,
                "ci_low": low,
                "ci_high": high,
            }
        )
    return pd.DataFrame(rows)


# ------------------------------------------------------------------- seed split

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


# ------------------------------------------------------------------- α selection

ALPHA_RULES = ("max_gain", "max_alpha", "fixed")


@dataclass(frozen=True)
class AlphaRule:
    """How one α is picked from a sweep (the paper leaves this open; we make it explicit).

    * ``max_gain``: the α with the largest mean target gain among those whose mean
      preservation is ≥ ``min_preservation`` and whose steered source score is ≥
      ``source_floor`` (fusion, not transfer); ties go to the smaller α.
    * ``max_alpha``: the largest α meeting the same two constraints.
    * ``fixed``: ``alpha``.

    When no α meets the constraints, the one with the highest preservation is taken
    and the reason says so.
    """

    rule: str = "max_gain"
    min_preservation: float = 0.5
    source_floor: float | None = 0.5
    alpha: float | None = None

    def __post_init__(self) -> None:
        if self.rule not in ALPHA_RULES:
            raise ValueError(f"alpha rule must be one of {ALPHA_RULES}, got {self.rule!r}")
        if self.rule == "fixed" and self.alpha is None:
            raise ValueError("the 'fixed' alpha rule needs alpha")


def alpha_candidates(
    sweep: pd.DataFrame, target: str, source: str | None, label_set: str = "pair"
) -> pd.DataFrame:
    """Per α of one setting: mean target gain, steered source score, preservation."""

    def metric(name: str, label: str) -> pd.Series:
        rows = sweep[(sweep.metric == name) & (sweep.label == label)]
        if name != "preservation":
            rows = rows[rows.label_set == label_set]
        return rows.groupby("alpha")["mean"].first()

    table = pd.DataFrame(
        {"gain": metric("gain", target), "preservation": metric("preservation", "")}
    )
    table["source_score"] = metric("steered", source) if source else np.nan
    return table.sort_index()


def select_alpha(candidates: pd.DataFrame, rule: AlphaRule) -> tuple[float, str]:
    """Apply ``rule`` to :func:`alpha_candidates` → ``(alpha, reason)``."""
    if candidates.empty:
        raise ValueError("no α was swept for this setting")
    if rule.rule == "fixed":
        if rule.alpha not in candidates.index:
            raise ValueError(f"fixed alpha {rule.alpha} was not swept ({list(candidates.index)})")
        return float(rule.alpha), f"fixed α = {rule.alpha:g}"
    ok = candidates.preservation >= rule.min_preservation
    if rule.source_floor is not None and candidates.source_score.notna().any():
        ok &= candidates.source_score >= rule.source_floor
    limits = _limits_text(rule)
    if not ok.any():
        best = float(candidates.preservation.idxmax())
        return best, f"no α met {limits}; took the best-preserving α = {best:g}"
    feasible = candidates[ok]
    if rule.rule == "max_alpha":
        alpha = float(feasible.index.max())
        return alpha, f"largest α meeting {limits}: {alpha:g}"
    alpha = float(feasible.gain.idxmax())  # idxmax → first (smallest) α on ties
    gain = feasible.gain.loc[alpha]
    return alpha, f"max target gain {gain:+.3f} at α = {alpha:g} among α meeting {limits}"


def _limits_text(rule: AlphaRule) -> str:
    text = f"preservation ≥ {rule.min_preservation:g}"
    return text + (
        f", source score ≥ {rule.source_floor:g}" if rule.source_floor is not None else ""
    )


def selection_table(
    sweep: pd.DataFrame, rule: AlphaRule, source: str | None, label_set: str = "pair"
) -> pd.DataFrame:
    """The chosen α of every (target, site, method, layers) setting, with the reason."""
    rows = []
    for (target, site, method, layers), group in sweep.groupby(
        ["target", "site", "method", "layers"], sort=True
    ):
        alpha, reason = select_alpha(alpha_candidates(group, target, source, label_set), rule)
        layer = group[group.alpha == alpha].layer.iloc[0]
        rows.append(
            {
                "source": source or "",
                "target": target,
                "site": site,
                "method": method,
                "layers": layers,
                "layer": layer,
                "alpha": alpha,
                "rule": rule.rule,
                "reason": reason,
            }
        )
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------- tables


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
    n_boot: int = 2000,
    seed: int = 0,
) -> list[dict]:
    """The original row and the steered row (at the chosen setting) of one pair."""
    target = str(choice["target"])
    ref = reference_stats(scores[scores.label_set == "pair"], "original", n_boot, seed=seed)
    chosen = sweep[(sweep.label_set.isin(["pair", ""]))]
    for key in ("target", "site", "method", "layers", "alpha"):
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


def fusion_markdown(table: pd.DataFrame) -> str:
    """The table as the paper prints it (``Rock: 0.987``), with the 95 % CI."""
    lines = ["| Track | Genre 1 Score | Genre 2 Score |", "|---|---|---|"]
    for r in table.to_dict("records"):
        cells = [
            f"{r[f'Genre {i}']}: {r[f'Genre {i} Score']:.3f}" + _ci(r, f"Genre {i}") for i in (1, 2)
        ]
        lines.append(f"| {r['Track']} | {cells[0]} | {cells[1]} |")
    return _with_note(lines, table)


def _with_note(lines: list[str], table: pd.DataFrame) -> str:
    note = seeds_note(table)
    return "\n".join(lines) + "\n" + (f"\n{note}\n" if note else "")


def _ci(row: Mapping[str, object], prefix: str) -> str:
    low, high = row.get(f"{prefix} CI low"), row.get(f"{prefix} CI high")
    if low is None or high is None or not np.isfinite(low) or low == high:
        return ""
    return f" [{low:.3f}, {high:.3f}]"


def instrument_rows(
    scores: pd.DataFrame,
    sweep: pd.DataFrame,
    choices: pd.DataFrame,
    instruments: Sequence[str],
    n_boot: int = 2000,
    seed: int = 0,
) -> list[dict]:
    """The paper's instrument-transfer rows: the input melody, the unsteered
    generation ("Ground Truth") and one steered row per target instrument."""
    rows = []
    for kind, track in (("input", "Melody input"), ("original", "Ground Truth")):
        ref = reference_stats(scores[scores.label_set == "all"], kind, n_boot, seed=seed)
        if ref.empty:
            continue
        stats = {label: _stat(ref, label=label) for label in instruments}
        rows.append(_instrument_row(track, kind, "", stats, {}, np.nan))
    for choice in choices.to_dict("records"):
        chosen = sweep[sweep.label_set.isin(["all", ""])]
        for key in ("target", "site", "method", "layers", "alpha"):
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
    choice: Mapping[str, object],
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


def instrument_markdown(table: pd.DataFrame, instruments: Sequence[str]) -> str:
    """The instrument-transfer table as the paper prints it."""
    head = "| Track | " + " | ".join(f"{i} Score" for i in instruments) + " |"
    lines = [head, "|---|" + "---|" * len(instruments)]
    for r in table.to_dict("records"):
        cells = [f"{r[f'{i} Score']:.4f}" for i in instruments]
        lines.append(f"| {r['Track']} | " + " | ".join(cells) + " |")
    return _with_note(lines, table)


# ------------------------------------------------------------- the paper's tables


def split_sweeps(
    scores: pd.DataFrame, select_seeds: Sequence[int] | None, n_boot: int = 2000, seed: int = 0
) -> tuple[SeedSplit, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``(split, select_sweep, report_scores, report_sweep)``: :func:`sweep_table` of the
    selection seeds (to pick α on) and of the report seeds (to print)."""
    split, select, report = split_seeds(scores, select_seeds)
    select_sweep = sweep_table(select, n_boot, seed=seed)
    report_sweep = sweep_table(report, n_boot, seed=seed) if split.held_out else select_sweep
    return split, select_sweep, report, report_sweep


def genre_fusion(
    scores: Mapping[tuple[str, str], pd.DataFrame],
    headline: Mapping[str, str],
    rule: AlphaRule,
    display: Mapping[str, str],
    select_seeds: Sequence[int] | None = None,
    n_boot: int = 2000,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``(table, long, selection)`` for (source, target) pairs in the given order.

    ``table`` is the paper's layout at the headline site/method/layers with α chosen
    by ``rule`` on the ``select_seeds`` samples and scores over the other seeds (None or
    empty: every seed does both); ``long`` is every pair's sweep over the report
    seeds; ``selection`` the α of every setting and the seeds it was chosen on.
    """
    rows, longs, selections = [], [], []
    for (source, target), pair_scores in scores.items():
        split, chosen_on, report, sweep = split_sweeps(pair_scores, select_seeds, n_boot, seed)
        selection = selection_table(chosen_on, rule, source).assign(
            select_seeds=split.columns()["select_seeds"]
        )
        choice = _headline_choice(selection, headline, f"{source} → {target}")
        rows += [
            row | split.columns()
            for row in fusion_rows(report, sweep, choice, source, display, n_boot, seed)
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
    n_boot: int = 2000,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``(table, long, selection)``: the paper's instrument-transfer rows at the headline,
    α chosen on the ``select_seeds`` samples and scores over the other seeds (None or
    empty: every seed does both); ``long`` is the sweep over the report seeds."""
    instruments = list(dict.fromkeys(scores[scores.label_set == "all"].label))
    split, chosen_on, report, sweep = split_sweeps(scores, select_seeds, n_boot, seed)
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
    rows = instrument_rows(report, sweep, choices, instruments, n_boot, seed)
    table = pd.DataFrame([row | split.columns() for row in rows])
    return table, sweep.assign(report_seeds=split.columns()["report_seeds"]), selection


def _headline_choice(selection: pd.DataFrame, headline: Mapping[str, str], what: str) -> dict:
    match = selection
    for key in ("site", "method", "layers"):
        match = match[match[key] == headline[key]]
    if len(match) != 1:
        raise ValueError(f"{what}: the sweep has no single setting {dict(headline)}")
    return match.iloc[0].to_dict()
