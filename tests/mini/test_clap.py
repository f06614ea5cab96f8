"""CLAP training: after it, the pipeline's own zero-shot scorer tells the labels apart."""

from __future__ import annotations

import numpy as np
import pytest

from musicsteer.evaluation.clap import ClapScorer
from musicsteer.mini.clap import ClapTraining, train_clap
from musicsteer.models.loading import load_clap

SR = 32_000


def _tones(pitch_hz: float, n: int, rng: np.random.Generator) -> list[np.ndarray]:
    t = np.arange(2 * SR) / SR
    return [
        (
            0.3 * np.sin(2 * np.pi * pitch_hz * rng.uniform(0.97, 1.03) * t)
            + 0.05 * rng.standard_normal(t.size)
        ).astype(np.float32)
        for _ in range(n)
    ]


def test_the_zero_shot_scorer_hears_what_training_taught(models_dir):
    model, processor = load_clap(str(models_dir / "tiny-clap"))
    rng = np.random.default_rng(0)
    low, high = _tones(220, 16, rng), _tones(1760, 16, rng)
    scorer = ClapScorer(model, processor)  # the pipeline's scorer, template and all
    held = low[12:] + high[12:]
    truth = np.array([0] * 4 + [1] * 4)
    untrained = scorer.probabilities(held, SR, ["low", "high"])
    assert np.ptp(untrained[:, 0]) < 0.01  # random weights: about one answer for everything
    history = train_clap(
        model,
        processor,
        low[:12] + high[:12],
        ["low"] * 12 + ["high"] * 12,
        SR,
        ClapTraining(steps=25, batch=8, lr=1e-3),
    )
    assert len(history.rows) == 25
    trained = scorer.probabilities(held, SR, ["low", "high"])
    assert (trained.argmax(1) == truth).all()
    assert (trained[np.arange(8), truth] > 0.5).all()


def test_one_label_is_refused(models_dir):
    model, processor = load_clap(str(models_dir / "tiny-clap"))
    with pytest.raises(ValueError, match="at least two labels"):
        train_clap(model, processor, [np.zeros(SR, np.float32)] * 2, ["a", "a"], SR)
