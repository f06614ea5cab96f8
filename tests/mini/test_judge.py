"""The quality gates' audio judge: it hears rendered genres on unseen tracks, and nothing
where there is nothing to hear."""

from __future__ import annotations

import numpy as np
import pytest

from musicsteer.mini.corpus import cut_clips, render_training_corpus
from musicsteer.mini.judge import clip_features, fit_judge
from tests.corpora.syntheory_helpers import needs_soundfont

SR = 16_000
GENRES = ["rock", "pop", "folk", "hiphop"]


def _tones(pitch_hz: float, n: int, rng: np.random.Generator) -> list[np.ndarray]:
    t = np.arange(2 * SR) / SR
    return [
        0.3 * np.sin(2 * np.pi * pitch_hz * rng.uniform(0.97, 1.03) * t)
        + 0.05 * rng.standard_normal(t.size)
        for _ in range(n)
    ]


def test_a_planted_difference_is_heard_and_shuffled_labels_are_not():
    rng = np.random.default_rng(0)
    low, high = _tones(220, 20, rng), _tones(880, 20, rng)
    waves, labels = low[:14] + high[:14], ["low"] * 14 + ["high"] * 14
    judge = fit_judge(waves, labels, SR)
    assert judge.accuracy(low[14:] + high[14:], ["low"] * 6 + ["high"] * 6) == 1.0
    noise = [0.1 * rng.standard_normal(2 * SR) for _ in range(60)]
    shuffled = fit_judge(noise[:40], ["a", "b"] * 20, SR)
    assert shuffled.accuracy(noise[40:], ["a", "b"] * 10) < 0.8  # nothing to learn


def test_features_have_a_fixed_size_and_refuse_too_short_clips():
    one = clip_features(np.zeros(2 * SR), SR)
    assert one.shape == clip_features(np.ones(3 * SR), SR).shape and np.isfinite(one).all()
    with pytest.raises(ValueError, match="shorter than one"):
        clip_features(np.zeros(100), SR)
    with pytest.raises(ValueError, match="at least two genres"):
        fit_judge([np.zeros(SR)] * 2, ["rock", "rock"], SR)


@needs_soundfont
def test_rendered_genres_are_told_apart_on_held_out_tracks(tmp_path):
    """The prototype's number (1.00 on held-out tracks), on a corpus small enough for a test."""
    manifest = render_training_corpus(tmp_path, GENRES, 10, 12.0, SR, seed=3, held_out=0.3)
    held = manifest[manifest.split == "heldout"]
    assert sorted(held.track.unique()) == [7, 8, 9] and set(held.genre) == set(GENRES)
    clips = cut_clips(manifest, tmp_path, 4.0, SR)
    train, train_genres = clips.of("train")
    test, test_genres = clips.of("heldout")
    assert len(train) == 4 * 7 * 3 and len(test) == 4 * 3 * 3  # 3 whole 4-s clips a track
    pairs = set(zip(clips.tracks, clips.splits, strict=True))
    assert len(pairs) == len(set(clips.tracks)) == 40  # each track in one split only
    assert [s for _, s in pairs].count("heldout") == 12
    judge = fit_judge(train, train_genres, SR)
    assert judge.accuracy(test, test_genres) >= 0.9
    assert judge.probabilities(test).shape == (len(test), 4)
