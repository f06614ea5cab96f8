"""Evaluation: CLAP scoring of files, preservation, bootstrap CIs, the α rule, the tables."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import torch

from musicsteer import audio, evaluation, models
from musicsteer.evaluation import AlphaRule


def _tone(seconds: float, freq: float, sr: int) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture(scope="module")
def scorer(models_dir):
    model, processor = models.load_clap("tiny-clap", models_dir)
    return evaluation.ClapScorer(model, processor)


def test_scores_of_files_equal_scores_of_waves_and_preservation_is_the_cosine(scorer, tmp_path):
    waves = {"a": _tone(4, 220, 32_000), "b": _tone(4, 660, 32_000), "c": _tone(4, 1500, 32_000)}
    paths = {k: str(audio.write_wav(tmp_path / f"{k}.wav", w, 32_000)) for k, w in waves.items()}
    samples = pd.DataFrame([
        {"path": paths["a"], "kind": "original", "prompt_id": 0, "seed": 0},
        {"path": paths["b"], "kind": "steered", "prompt_id": 0, "seed": 0},
        {"path": paths["a"], "kind": "steered", "prompt_id": 0, "seed": 0},
        {"path": paths["c"], "kind": "steered", "prompt_id": 1, "seed": 0},  # no original
    ])  # fmt: skip
    labels = {"pair": ["rock", "pop"], "all": ["rock", "pop", "folk"]}
    scores = evaluation.score_samples(scorer, samples, labels, batch_size=3)
    assert len(scores) == 4 * 5
    pair = scores[scores.label_set == "pair"].pivot_table(
        index="path", columns="label", values="probability"
    )
    for key in ("a", "b"):
        wave = audio.load(paths[key])  # the file as written (16-bit)
        ref = scorer.probabilities([wave], 32_000, ["rock", "pop"])[0]
        np.testing.assert_allclose(pair.loc[paths[key], ["rock", "pop"]], ref, atol=1e-5)
    per_sample = scores.drop_duplicates(["path", "kind", "prompt_id"])
    pres = per_sample.set_index(["path", "kind", "prompt_id"]).preservation
    emb = scorer.embed_files([paths["a"], paths["b"]])
    assert pres[(paths["a"], "steered", 0)] == pytest.approx(1.0, abs=1e-5)
    assert pres[(paths["b"], "steered", 0)] == pytest.approx(float(emb[0] @ emb[1]), abs=1e-6)
    assert np.isnan(pres[(paths["c"], "steered", 1)]) and np.isnan(
        pres[(paths["a"], "original", 0)]
    )
    sums = scores.groupby(["path", "kind", "prompt_id", "label_set"]).probability.sum()
    np.testing.assert_allclose(sums, 1.0, atol=1e-5)


def test_batched_embeddings_equal_one_at_a_time(scorer, tmp_path):
    paths = [str(audio.write_wav(tmp_path / f"{f}.wav", _tone(3, f, 32_000), 32_000))
             for f in (200, 400, 800)]  # fmt: skip
    together = scorer.embed_files(paths, batch_size=3)
    alone = torch.cat([scorer.embed_files([p]) for p in paths])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-5)


def test_bootstrap_interval():
    rng = np.random.default_rng(0)
    x = rng.normal(0.3, 0.1, size=200)
    mean, low, high = evaluation.bootstrap_mean(x, n_boot=4000, seed=1)
    assert mean == pytest.approx(x.mean()) and low < mean < high
    se = x.std(ddof=1) / np.sqrt(len(x))  # the normal-theory interval, for comparison
    assert high - low == pytest.approx(2 * 1.96 * se, rel=0.1)
    assert evaluation.bootstrap_mean(x, seed=1) == evaluation.bootstrap_mean(x, seed=1)
    assert evaluation.bootstrap_mean([0.7, 0.7, 0.7]) == pytest.approx((0.7, 0.7, 0.7))
    assert evaluation.bootstrap_mean([0.4]) == (0.4, 0.4, 0.4)
    assert all(np.isnan(evaluation.bootstrap_mean([np.nan])))


def _planted_scores(gains: dict[float, float], source_drop: dict[float, float]) -> pd.DataFrame:
    """Originals p(rock)=0.9 for 2 prompts × 2 seeds; steered at α: pop up by gains[α]."""
    rows = []
    units = list(itertools.product([0, 1], [0, 1]))
    for prompt_id, seed in units:
        base = {"prompt_id": prompt_id, "seed": seed, "label_set": "pair"}
        rows += [{**base, "kind": "original", "label": "rock", "probability": 0.9},
                 {**base, "kind": "original", "label": "pop", "probability": 0.1}]  # fmt: skip
        for alpha, gain in gains.items():
            jitter = 0.01 * (prompt_id - seed)  # paired: cancels in nothing, stays in the CI
            pop = 0.1 + gain + jitter
            rock = 0.9 - source_drop[alpha] - jitter
            setting = {"target": "pop", "site": "resid", "method": "mse", "layers": "best",
                       "layer": "2", "alpha": alpha, "kind": "steered",
                       "preservation": 1.0 - alpha / 20}  # fmt: skip
            rows += [{**base, **setting, "label": "rock", "probability": rock},
                     {**base, **setting, "label": "pop", "probability": pop}]  # fmt: skip
    return pd.DataFrame(rows)


def test_sweep_table_means_gains_and_preservation():
    scores = _planted_scores({2.0: 0.05, 8.0: 0.2}, {2.0: 0.05, 8.0: 0.2})
    sweep = evaluation.sweep_table(scores, n_boot=500)
    assert list(sweep.columns) == evaluation.SWEEP_COLUMNS

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
    sweep = evaluation.sweep_table(scores, n_boot=200)
    table = evaluation.alpha_candidates(sweep, "pop", "rock")
    alpha, reason = evaluation.select_alpha(table, rule)
    assert alpha == expected, reason
    assert f"{expected:g}" in reason


def test_alpha_rule_without_feasible_alpha_says_so_and_bad_rules_fail():
    scores = _planted_scores({2.0: 0.1, 4.0: 0.2}, {2.0: 0.6, 4.0: 0.7})  # source falls < 0.5
    sweep = evaluation.sweep_table(scores, n_boot=200)
    alpha, reason = evaluation.select_alpha(
        evaluation.alpha_candidates(sweep, "pop", "rock"), AlphaRule()
    )
    assert alpha == 2.0 and reason.startswith("no α met")
    with pytest.raises(ValueError, match="was not swept"):
        evaluation.select_alpha(evaluation.alpha_candidates(sweep, "pop", "rock"),
                                AlphaRule("fixed", alpha=3.0))  # fmt: skip
    with pytest.raises(ValueError, match="alpha rule"):
        AlphaRule("best")


def test_genre_fusion_table_in_the_papers_layout():
    scores = _planted_scores({2.0: 0.05, 8.0: 0.2}, {2.0: 0.05, 8.0: 0.2})
    scores = scores.assign(source="rock")
    scores.loc[scores.kind == "steered", "target"] = "pop"
    sweep = evaluation.sweep_table(scores, n_boot=200)
    headline = {"site": "resid", "method": "mse", "layers": "best"}
    table, long, selection = evaluation.genre_fusion(
        {("rock", "pop"): scores}, {("rock", "pop"): sweep}, headline, AlphaRule(), {}, 200
    )
    assert list(table.columns[:5]) == evaluation.FUSION_COLUMNS
    assert table.Track.tolist() == ["Rock", "Rock Pop"]
    np.testing.assert_allclose(table["Genre 1 Score"], [0.9, 0.7])
    np.testing.assert_allclose(table["Genre 2 Score"], [0.1, 0.3])
    assert table.alpha.tolist() == [0.0, 8.0] and table.preservation.iloc[1] == pytest.approx(0.6)
    assert {"source", "site", "method", "layer", "alpha", "n", "mean", "ci_low", "ci_high"} <= set(
        long.columns
    )
    assert selection.alpha.tolist() == [8.0]
    markdown = evaluation.fusion_markdown(table)
    assert "| Rock | Rock: 0.900 | Pop: 0.100 |" in markdown
    assert "| Rock Pop | Rock: 0.700 [" in markdown  # steered row carries its CI


def test_instrument_table_rows():
    rows = []
    instruments = ["Flute", "Violin", "Xylophone"]
    probs = {"input": [0.2, 0.3, 0.5], "original": [0.3, 0.3, 0.4]}
    for kind, p in probs.items():
        for label, value in zip(instruments, p, strict=True):
            rows.append({"kind": kind, "prompt_id": 0 if kind == "original" else np.nan,
                         "seed": 0 if kind == "original" else np.nan, "label_set": "all",
                         "label": label, "probability": value})  # fmt: skip
    for target in instruments:
        for label in instruments:
            value = 0.6 if label == target else 0.2
            rows.append({"kind": "steered", "prompt_id": 0, "seed": 0, "label_set": "all",
                         "label": label, "probability": value, "target": target,
                         "site": "resid", "method": "mse", "layers": "best", "layer": "1",
                         "alpha": 4.0, "preservation": 0.9})  # fmt: skip
    scores = pd.DataFrame(rows)
    sweep = evaluation.sweep_table(scores, n_boot=100)
    headline = {"site": "resid", "method": "mse", "layers": "best"}
    table, selection = evaluation.instrument_transfer(scores, sweep, headline, AlphaRule(), 100)
    assert table.Track.tolist() == ["Melody input", "Ground Truth", "GT Flute", "GT Violin",
                                    "GT Xylophone"]  # fmt: skip
    assert list(table.columns[1:4]) == ["Flute Score", "Violin Score", "Xylophone Score"]
    np.testing.assert_allclose(table.iloc[0, 1:4].astype(float), [0.2, 0.3, 0.5])
    np.testing.assert_allclose(table.iloc[3, 1:4].astype(float), [0.2, 0.6, 0.2])
    assert "| GT Violin | 0.2000 | 0.6000 | 0.2000 |" in evaluation.instrument_markdown(
        table, instruments
    )
    assert set(selection.target) == set(instruments)
