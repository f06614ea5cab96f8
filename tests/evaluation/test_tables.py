"""Evaluation: CLAP scoring of files, preservation, CIs with prompts as clusters, the α rule, the tables."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from musicsteer.evaluation import stats, tables
from musicsteer.evaluation.stats import AlphaRule
from tests.evaluation.scores import _planted_scores


def test_genre_fusion_table_in_the_papers_layout():
    scores = _planted_scores({2.0: 0.05, 8.0: 0.2}, {2.0: 0.05, 8.0: 0.2})
    scores = scores.assign(source="rock")
    scores.loc[scores.kind == "steered", "target"] = "pop"
    headline = {"site": "resid", "method": "mse", "layers": "best"}
    table, long, selection = tables.genre_fusion(
        {("rock", "pop"): scores}, headline, AlphaRule(), {}
    )
    assert list(table.columns[:5]) == tables.FUSION_COLUMNS
    assert table.Track.tolist() == ["Rock", "Rock Pop"]
    np.testing.assert_allclose(table["Genre 1 Score"], [0.9, 0.7])
    np.testing.assert_allclose(table["Genre 2 Score"], [0.1, 0.3])
    assert table.alpha.tolist() == [0.0, 8.0] and table.preservation.iloc[1] == pytest.approx(0.6)
    assert {"source", "site", "method", "layer", "alpha", "n", "mean", "ci_low", "ci_high"} <= set(
        long.columns
    )
    assert selection.alpha.tolist() == [8.0]
    markdown = tables.fusion_markdown(table)
    assert "| Rock → Pop | Rock | Rock: 0.900 | Pop: 0.100 | – | 4 |" in markdown
    # the steered row carries its CI, the chosen α and setting, and n
    assert "| Rock → Pop | Rock Pop | Rock: 0.700 [" in markdown
    assert "| 8 (resid, mse, 2) | 4 |" in markdown


def test_instrument_table_rows():
    rows = []
    instruments = ["Flute", "Violin", "Xylophone"]
    probs = {"input": [0.2, 0.3, 0.5], "original": [0.3, 0.3, 0.4]}
    for kind, p in probs.items():
        for label, value in zip(instruments, p, strict=True):
            rows.append(
                {
                    "kind": kind,
                    "prompt_id": 0 if kind == "original" else np.nan,
                    "seed": 0 if kind == "original" else np.nan,
                    "label_set": "all",
                    "label": label,
                    "probability": value,
                }
            )
    for target in instruments:
        for label in instruments:
            value = 0.6 if label == target else 0.2
            rows.append(
                {
                    "kind": "steered",
                    "prompt_id": 0,
                    "seed": 0,
                    "label_set": "all",
                    "label": label,
                    "probability": value,
                    "target": target,
                    "site": "resid",
                    "method": "mse",
                    "layers": "best",
                    "layer": "1",
                    "alpha": 4.0,
                    "preservation": 0.9,
                }
            )
    scores = pd.DataFrame(rows)
    headline = {"site": "resid", "method": "mse", "layers": "best"}
    table, _, selection = tables.instrument_transfer(scores, headline, AlphaRule())
    assert table.Track.tolist() == [
        "Melody input",
        "Ground Truth",
        "GT Flute",
        "GT Violin",
        "GT Xylophone",
    ]
    assert list(table.columns[1:4]) == ["Flute Score", "Violin Score", "Xylophone Score"]
    np.testing.assert_allclose(table.iloc[0, 1:4].astype(float), [0.2, 0.3, 0.5])
    np.testing.assert_allclose(table.iloc[3, 1:4].astype(float), [0.2, 0.6, 0.2])
    markdown = tables.instrument_markdown(table, instruments)
    assert "| GT Violin | 0.200 (n = 1) | 0.600 (n = 1) | 0.200 (n = 1) | 4 (" in markdown
    assert set(selection.target) == set(instruments)


# --------------------------------------------------------------- seed split


def _seeded_scores(gains: dict[float, dict[int, float]]) -> pd.DataFrame:
    """2 prompts × seeds 0, 1, 2 of rock → pop; gains[α][seed] is the planted pop gain.

    Originals: p(pop) = 0.2 on seed 0 and 0.1 on seeds 1, 2; p(rock) = 1 − p(pop).
    Steered pop = original + gain ± 0.01 (prompt jitter that cancels in the mean).
    """
    rows = []
    for prompt_id, seed in itertools.product([0, 1], [0, 1, 2]):
        base = {"prompt_id": prompt_id, "seed": seed, "label_set": "pair", "source": "rock"}
        pop = 0.2 if seed == 0 else 0.1
        rows += [
            {**base, "kind": "original", "label": "rock", "probability": 1 - pop},
            {**base, "kind": "original", "label": "pop", "probability": pop},
        ]
        for alpha, by_seed in gains.items():
            steered = pop + by_seed[seed] + (0.01 if prompt_id else -0.01)
            setting = {
                "target": "pop",
                "site": "resid",
                "method": "mse",
                "layers": "best",
                "layer": "2",
                "alpha": alpha,
                "kind": "steered",
                "preservation": 0.9,
            }
            rows += [
                {**base, **setting, "label": "rock", "probability": 1 - steered},
                {**base, **setting, "label": "pop", "probability": steered},
            ]
    return pd.DataFrame(rows)


# seed 0 favours α = 4 by noise; seeds 1 and 2 show α = 8 is the better one
PLANTED = {4.0: {0: 0.30, 1: 0.05, 2: 0.05}, 8.0: {0: 0.10, 1: 0.20, 2: 0.20}}


HEADLINE = {"site": "resid", "method": "mse", "layers": "best"}


def test_alpha_is_chosen_on_the_selection_seeds_and_scores_on_the_others():
    scores = _seeded_scores(PLANTED)
    table, long, selection = tables.genre_fusion(
        {("rock", "pop"): scores}, HEADLINE, AlphaRule(), {}, select_seeds=[0]
    )
    assert selection.alpha.tolist() == [4.0] and selection.select_seeds.tolist() == ["0"]
    assert "+0.300" in selection.reason.iloc[0]  # the seed-0 gain picked it
    original, steered = table.iloc[0], table.iloc[1]
    # report seeds 1, 2 only: original pop 0.1 (not 0.1333 with seed 0), steered 0.1 + 0.05
    assert original["Genre 2 Score"] == pytest.approx(0.1, abs=1e-12)
    assert original["Genre 1 Score"] == pytest.approx(0.9, abs=1e-12)
    assert steered["Genre 2 Score"] == pytest.approx(0.15, abs=1e-12)
    assert steered["Genre 1 Score"] == pytest.approx(0.85, abs=1e-12)
    assert steered.alpha == 4.0 and table.n.tolist() == [4, 4]  # 2 prompts × 2 seeds
    low, high = steered["Genre 2 CI low"], steered["Genre 2 CI high"]
    # the interval of seeds 1, 2 alone (seed 0's 0.39/0.41 left out), prompts as clusters
    report_only = stats.clustered_interval([0.14, 0.14, 0.16, 0.16], [0, 0, 1, 1], bounds=(0, 1))
    assert (low, high) == pytest.approx(report_only[1:3])
    assert table.select_seeds.tolist() == ["0", "0"]
    assert table.report_seeds.tolist() == ["1,2", "1,2"]
    gain = long[(long.metric == "gain") & (long.label == "pop") & (long.label_set == "pair")]
    assert gain.set_index("alpha")["mean"].to_dict() == pytest.approx({4.0: 0.05, 8.0: 0.2})
    assert set(long.report_seeds) == {"1,2"} and set(long.n[long.metric == "gain"]) == {4}
    markdown = tables.fusion_markdown(table)
    assert "| Rock Pop | Rock: 0.850 [" in markdown
    assert "α chosen on seed 0; scores on seeds 1, 2 (n = 4 " in markdown


def _previous_genre_fusion(scores, headline, rule):
    """The tables before the seed split: α chosen and scores reported on every sample."""
    sweep = stats.sweep_table(scores)
    selection = stats.selection_table(sweep, rule, "rock")
    choice = tables._headline_choice(selection, headline, "rock → pop")
    return pd.DataFrame(tables.fusion_rows(scores, sweep, choice, "rock", {}))


@pytest.mark.parametrize("select_seeds", [None, []])
def test_without_selection_seeds_the_tables_are_as_before_and_say_so(select_seeds):
    scores = _seeded_scores(PLANTED)
    table, long, selection = tables.genre_fusion(
        {("rock", "pop"): scores}, HEADLINE, AlphaRule(), {}, select_seeds
    )
    before = _previous_genre_fusion(scores, HEADLINE, AlphaRule())
    pd.testing.assert_frame_equal(table[before.columns], before)
    # every seed: α = 8 (mean gain 0.5/3 > 0.4/3), pop 0.1333 + 0.1667
    assert selection.alpha.tolist() == [8.0] and table.alpha.tolist() == [0.0, 8.0]
    assert table["Genre 2 Score"].tolist() == pytest.approx([0.4 / 3, 0.4 / 3 + 0.5 / 3])
    assert table.n.tolist() == [6, 6]
    assert table.select_seeds.tolist() == table.report_seeds.tolist() == ["0,1,2"] * 2
    pd.testing.assert_frame_equal(
        long.drop(columns=["source", "report_seeds"]), stats.sweep_table(scores)
    )
    assert "same seeds 0, 1, 2" in tables.fusion_markdown(table)
    assert "biased upwards" in tables.fusion_markdown(table)


def test_instrument_transfer_chooses_on_selection_seeds():
    instruments = ["Flute", "Violin"]
    # Flute: seed 0 says α = 4, seed 1 says α = 8; Violin the other way round
    planted = {
        "Flute": {4.0: (0.9, 0.55), 8.0: (0.6, 0.8)},
        "Violin": {4.0: (0.6, 0.8), 8.0: (0.9, 0.55)},
    }
    rows = [
        {
            "kind": "input",
            "prompt_id": np.nan,
            "seed": np.nan,
            "label_set": "all",
            "label": label,
            "probability": 0.5,
        }
        for label in instruments
    ]
    for seed in (0, 1):
        for label in instruments:
            rows.append(
                {
                    "kind": "original",
                    "prompt_id": 0,
                    "seed": seed,
                    "label_set": "all",
                    "label": label,
                    "probability": 0.5,
                }
            )
        for target, by_alpha in planted.items():
            for alpha, by_seed in by_alpha.items():
                p = by_seed[seed]
                for label in instruments:
                    rows.append(
                        {
                            "kind": "steered",
                            "prompt_id": 0,
                            "seed": seed,
                            "label_set": "all",
                            "label": label,
                            "probability": p if label == target else 1 - p,
                            "target": target,
                            "site": "resid",
                            "method": "mse",
                            "layers": "best",
                            "layer": "1",
                            "alpha": alpha,
                            "preservation": 0.9,
                        }
                    )
    scores = pd.DataFrame(rows)
    table, long, selection = tables.instrument_transfer(
        scores, HEADLINE, AlphaRule(source_floor=None), select_seeds=[0]
    )
    assert selection.set_index("target").alpha.to_dict() == {"Flute": 4.0, "Violin": 8.0}
    assert table.Track.tolist() == ["Melody input", "Ground Truth", "GT Flute", "GT Violin"]
    assert table.iloc[2][["Flute Score", "Violin Score"]].tolist() == pytest.approx([0.55, 0.45])
    assert table.iloc[3][["Flute Score", "Violin Score"]].tolist() == pytest.approx([0.45, 0.55])
    assert table.n.tolist() == [1, 1, 1, 1] and set(table.report_seeds) == {"1"}
    assert set(long.report_seeds) == {"1"} and set(selection.select_seeds) == {"0"}
    markdown = tables.instrument_markdown(table, instruments)
    # one generation per row: no interval, "n = 1" instead, and the α each row was steered with
    assert "| GT Flute | 0.550 (n = 1) | 0.450 (n = 1) | 4 (resid, mse, 1) | 1 |" in markdown
    assert "α chosen on seed 0; scores on seed 1 (n = 1 " in markdown
    everything, _, chosen = tables.instrument_transfer(
        scores, HEADLINE, AlphaRule(source_floor=None)
    )
    # every seed: Flute 4 → (0.9+0.55)/2 = 0.725 < 8 → 0.7; the seed-0 choice, biased upwards
    assert chosen.set_index("target").alpha.to_dict() == {"Flute": 4.0, "Violin": 8.0}
    assert everything.iloc[2]["Flute Score"] == pytest.approx(0.725)


def test_seed_split_errors():
    scores = _seeded_scores(PLANTED)
    with pytest.raises(ValueError, match=r"selection seeds \[7\] were not generated"):
        tables.split_seeds(scores, [0, 7])
    with pytest.raises(ValueError, match="none is left to report on"):
        tables.split_seeds(scores, [0, 1, 2])
    split, select, report = tables.split_seeds(scores, [2, 0])
    assert (split.select, split.report, split.held_out) == ((0, 2), (1,), True)
    assert set(select.seed) == {0, 2} and set(report.seed) == {1}
    assert len(select) + len(report) == len(scores)
