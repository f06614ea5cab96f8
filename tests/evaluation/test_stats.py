from __future__ import annotations

import numpy as np
import pytest

from musicsteer.evaluation import stats
from musicsteer.evaluation.stats import AlphaRule
from tests.evaluation.scores import _planted_scores


def test_bootstrap_interval():
    rng = np.random.default_rng(0)
    x = rng.normal(0.3, 0.1, size=200)
    mean, low, high = stats.bootstrap_mean(x, n_boot=4000, seed=1)
    assert mean == pytest.approx(x.mean()) and low < mean < high
    se = x.std(ddof=1) / np.sqrt(len(x))  # the normal-theory interval, for comparison
    assert high - low == pytest.approx(2 * 1.96 * se, rel=0.1)
    assert stats.bootstrap_mean(x, seed=1) == stats.bootstrap_mean(x, seed=1)
    assert stats.bootstrap_mean([0.7, 0.7, 0.7]) == pytest.approx((0.7, 0.7, 0.7))
    assert stats.bootstrap_mean([0.4]) == (0.4, 0.4, 0.4)
    assert all(np.isnan(stats.bootstrap_mean([np.nan])))


def test_sweep_table_means_gains_and_preservation():
    scores = _planted_scores({2.0: 0.05, 8.0: 0.2}, {2.0: 0.05, 8.0: 0.2})
    sweep = stats.sweep_table(scores, n_boot=500)
    assert list(sweep.columns) == stats.SWEEP_COLUMNS

    def stat(metric, label, alpha):
        row = sweep[(sweep.metric == metric) & (sweep.label == label) & (sweep.alpha == alpha)]
        assert len(row) == 1
        return row.iloc[0]

    assert stat("gain", "pop", 8.0)["mean"] == pytest.approx(0.2)
    assert stat("steered", "pop", 2.0)["mean"] == pytest.approx(0.15)
    assert stat("original", "rock", 2.0)["mean"] == pytest.approx(0.9)
    assert stat("preservation", "", 8.0)["mean"] == pytest.approx(0.6)
    assert stat("gain", "pop", 8.0).n == 4
    low, high = stat("steered", "pop", 8.0)[["ci_low", "ci_high"]]
    assert low < 0.3 < high  # jitter → a real interval around the mean
    assert stat("original", "pop", 8.0).ci_low == stat("original", "pop", 8.0).ci_high == 0.1


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (AlphaRule("max_gain", 0.5, 0.5), 8.0),  # α=16 breaks the source floor
        (AlphaRule("max_gain", 0.7, 0.5), 4.0),  # α=8 breaks preservation (0.6)
        (AlphaRule("max_gain", 0.5, None), 16.0),  # no floor: the biggest gain
        (AlphaRule("max_alpha", 0.5, 0.5), 8.0),
        (AlphaRule("fixed", alpha=4.0), 4.0),
    ],
)
def test_alpha_rules(rule, expected):
    gains = {2.0: 0.05, 4.0: 0.1, 8.0: 0.3, 16.0: 0.35}
    drops = {2.0: 0.05, 4.0: 0.1, 8.0: 0.3, 16.0: 0.45}  # steered rock 0.85 .. 0.45
    scores = _planted_scores(gains, drops)
    scores.loc[scores.alpha == 16.0, "preservation"] = 0.55
    sweep = stats.sweep_table(scores, n_boot=200)
    table = stats.alpha_candidates(sweep, "pop", "rock")
    alpha, reason = stats.select_alpha(table, rule)
    assert alpha == expected, reason
    assert f"{expected:g}" in reason


def test_alpha_rule_without_feasible_alpha_says_so_and_bad_rules_fail():
    scores = _planted_scores({2.0: 0.1, 4.0: 0.2}, {2.0: 0.6, 4.0: 0.7})  # source falls < 0.5
    sweep = stats.sweep_table(scores, n_boot=200)
    alpha, reason = stats.select_alpha(stats.alpha_candidates(sweep, "pop", "rock"), AlphaRule())
    assert alpha == 2.0 and reason.startswith("no α met")
    with pytest.raises(ValueError, match="was not swept"):
        stats.select_alpha(
            stats.alpha_candidates(sweep, "pop", "rock"), AlphaRule("fixed", alpha=3.0)
        )
    with pytest.raises(ValueError, match="alpha rule"):
        AlphaRule("best")
