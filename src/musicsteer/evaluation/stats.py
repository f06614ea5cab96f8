"""Bootstrap statistics over (prompt, seed) units, and the rule that picks α."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import pandas as pd

from musicsteer.evaluation.clap import UNIT_KEYS
from musicsteer.steering.grid import SETTING_KEYS as GRID_KEYS


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


# a setting's keys, with the layer(s) its layer choice resolved to before α
SETTING_KEYS = [*GRID_KEYS[:-1], "layer", GRID_KEYS[-1]]


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
            rows.append(_stat_row(key, metric, cast(str, key[-1]), x, n_boot, level, seed))
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
        assert rule.alpha is not None  # AlphaRule (frozen) validates this in __post_init__
        if rule.alpha not in candidates.index:
            raise ValueError(f"fixed alpha {rule.alpha} was not swept ({list(candidates.index)})")
        return float(rule.alpha), f"fixed α = {rule.alpha:g}"
    ok = candidates.preservation >= rule.min_preservation
    if rule.source_floor is not None and candidates.source_score.notna().any():
        ok &= candidates.source_score >= rule.source_floor
    limits = _limits_text(rule)
    if not ok.any():
        best = float(cast(float, candidates.preservation.idxmax()))
        return best, f"no α met {limits}; took the best-preserving α = {best:g}"
    feasible = candidates[ok]
    if rule.rule == "max_alpha":
        alpha = float(feasible.index.max())
        return alpha, f"largest α meeting {limits}: {alpha:g}"
    alpha = float(cast(float, feasible.gain.idxmax()))  # idxmax → first (smallest) α on ties
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
    for (target, site, method, layers), group in sweep.groupby(list(GRID_KEYS[:-1]), sort=True):
        alpha, reason = select_alpha(
            alpha_candidates(group, cast(str, target), source, label_set), rule
        )
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
