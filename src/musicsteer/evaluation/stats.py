"""Means and confidence intervals over (prompt, seed) units, and the rule that picks α.

The samples of one prompt share it: their seeds are not independent draws from the
prompts a researcher cares about. So the tables' intervals treat prompts as clusters
(:func:`clustered_interval`): a t-interval on the cluster-robust standard error of
the mean, with one degree of freedom fewer than there are prompts. A percentile
bootstrap over the 9 units of the paper's setup (3 prompts × 3 seeds) covered the
true mean 87 % of the time without any prompt effect and 71 % with one, where this
interval covers it 95 % of the time (``tests/evaluation/test_stats.py`` simulates both).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from musicsteer.evaluation.clap import UNIT_KEYS
from musicsteer.steering.grid import SETTING_KEYS as GRID_KEYS


def bootstrap_mean(
    values: Sequence[float] | np.ndarray, n_boot: int = 2000, level: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """Mean and percentile-bootstrap interval ``(mean, low, high)`` of ``values``.

    The values are taken as independent units: right for a claim about these units
    (the known-answer test's prompts), not for prompts as a sample of prompts (the
    tables use :func:`clustered_interval`).
    """
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


# Fewer finite values than this get no interval: the tables say "n = 2", not a
# zero-width or meaningless range.
MIN_UNITS = 3
LEVEL = 0.95


def clustered_interval(
    values: Sequence[float] | np.ndarray,
    clusters: Sequence[object] | np.ndarray | None = None,
    level: float = LEVEL,
    bounds: tuple[float, float] | None = None,
) -> tuple[float, float, float, int]:
    """Mean and t-interval of ``values`` whose units share ``clusters`` (e.g. prompts).

    Returns ``(mean, low, high, n_clusters)``. With ≥ 2 clusters the standard error
    is cluster-robust (CR1: the units' residuals summed per cluster), with
    ``n_clusters − 1`` degrees of freedom; for equal cluster sizes that is the
    t-interval of the cluster means. With one cluster (or ``clusters=None``) the units
    are taken as independent: the interval then speaks for that one prompt. Below
    :data:`MIN_UNITS` finite values the bounds are NaN. Non-finite values are dropped.
    ``bounds`` is the range the mean can take (a probability's ``(0, 1)``): the
    interval is cut to it, which cannot lower its coverage.
    """
    x = np.asarray(values, dtype=np.float64)
    groups = np.zeros(x.size, dtype=np.int64) if clusters is None else _codes(clusters)
    if groups.size != x.size:
        raise ValueError(f"{x.size} values but {groups.size} cluster labels")
    keep = np.isfinite(x)
    x, groups = x[keep], groups[keep]
    if x.size == 0:
        return (np.nan, np.nan, np.nan, 0)
    mean = float(x.mean())
    present, cluster_of = np.unique(groups, return_inverse=True)  # clusters left after NaNs
    k = int(present.size)
    if x.size < MIN_UNITS:
        return (mean, np.nan, np.nan, k)
    if k >= 2:
        sums = np.bincount(cluster_of, weights=x - mean)
        se = float(np.sqrt(k / (k - 1) * np.square(sums).sum()) / x.size)
        df = k - 1
    else:
        se = float(x.std(ddof=1) / np.sqrt(x.size))
        df = x.size - 1
    half = float(scipy_stats.t.ppf(0.5 + level / 2, df)) * se
    low, high = mean - half, mean + half
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return (mean, low, high, k)


# The range each metric's mean lies in (probabilities, their differences, cosines).
METRIC_BOUNDS = {
    "original": (0.0, 1.0),
    "steered": (0.0, 1.0),
    "gain": (-1.0, 1.0),
    "preservation": (-1.0, 1.0),
}


def _codes(labels: Sequence[object] | np.ndarray) -> np.ndarray:
    """Integer codes of cluster labels (any hashable values)."""
    return pd.factorize(pd.Series(np.asarray(labels, dtype=object)))[0].astype(np.int64)


# a setting's keys, with the layer(s) its layer choice resolved to before α
SETTING_KEYS = [*GRID_KEYS[:-1], "layer", GRID_KEYS[-1]]


SWEEP_COLUMNS = [
    *SETTING_KEYS,
    "label_set",
    "metric",
    "label",
    "n",
    "n_prompts",
    "mean",
    "ci_low",
    "ci_high",
]


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


def sweep_table(scores: pd.DataFrame, level: float = LEVEL) -> pd.DataFrame:
    """Long-form α sweep: per setting × label, mean + CI of each metric.

    Metrics: ``original`` and ``steered`` probability, paired ``gain`` (steered −
    original), and ``preservation`` (label ``""``), all over the (prompt, seed)
    units of the setting, prompts as clusters (:func:`clustered_interval`).
    Columns: :data:`SWEEP_COLUMNS`.
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
            rows.append(_stat_row(key, metric, cast(str, key[-1]), x, group.prompt_id, level))
    units = paired.drop_duplicates([*SETTING_KEYS, *UNIT_KEYS])
    for key, group in units.groupby(SETTING_KEYS, sort=True):
        rows.append(
            _stat_row((*key, ""), "preservation", "", group.preservation, group.prompt_id, level)
        )
    return pd.DataFrame(rows, columns=SWEEP_COLUMNS)


def _stat_row(
    key: tuple, metric: str, label: str, x: pd.Series, prompts: pd.Series, level: float
) -> dict:
    values = x.to_numpy(dtype=float)
    mean, low, high, n_prompts = clustered_interval(
        values, prompts.to_numpy(), level, METRIC_BOUNDS[metric]
    )
    setting = dict(zip(SETTING_KEYS, key[: len(SETTING_KEYS)], strict=True))
    label_set = key[len(SETTING_KEYS)]
    return {
        **setting,
        "label_set": label_set,
        "metric": metric,
        "label": label,
        "n": int(np.isfinite(values).sum()),
        "n_prompts": n_prompts,
        "mean": mean,
        "ci_low": low,
        "ci_high": high,
    }


def reference_stats(
    scores: pd.DataFrame, kind: str = "original", level: float = LEVEL
) -> pd.DataFrame:
    """Mean + CI of each label's probability over the samples of one ``kind``."""
    rows = []
    subset = scores[scores.kind == kind]
    for (label_set, label), group in subset.groupby(["label_set", "label"], sort=True):
        mean, low, high, n_prompts = clustered_interval(
            group.probability.to_numpy(), group.prompt_id.to_numpy(), level, (0.0, 1.0)
        )
        rows.append(
            {
                "kind": kind,
                "label_set": label_set,
                "label": label,
                "n": len(group),
                "n_prompts": n_prompts,
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
