"""LM training: MusicGen's decoder learns to use its prompt, and the null condition is
exactly what guidance subtracts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from musicsteer.activations import null_condition
from musicsteer.mini.lm import PHRASINGS, LMTraining, captions, lm_loss, text_condition, train_lm
from musicsteer.models.tiny import random_musicgen


def _codes(genre: str, n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """Planted: genre "a" uses tokens 0..63, genre "b" tokens 64..127."""
    low = 0 if genre == "a" else 64
    return rng.integers(low, low + 64, (n, k, 60))


def test_the_decoder_learns_what_the_prompt_says():
    mg = random_musicgen(melody=False, seed=0)
    rng = np.random.default_rng(0)
    k = mg.num_codebooks
    codes = np.concatenate([_codes("a", 32, k, rng), _codes("b", 32, k, rng)])
    settings = LMTraining(steps=40, batch=8, frames=40, lr=3e-3, warmup=5)
    history = train_lm(mg, codes, ["a"] * 32 + ["b"] * 32, settings)
    assert history.rows[-1]["loss"] < history.rows[0]["loss"] - 2.0
    held = torch.from_numpy(_codes("a", 8, k, rng)).long()
    with torch.no_grad():
        right, wrong, null = (float(lm_loss(mg, held, [t] * 8)) for t in ("a", "b", ""))
    assert right < null < wrong  # the prompt helps, a wrong one hurts
    assert all(not p.requires_grad for p in mg.model.text_encoder.parameters())


@pytest.fixture(scope="module")
def untrained():
    return random_musicgen(melody=False, seed=0)


def test_empty_captions_are_the_cfg_null_condition(untrained):
    mg = untrained
    condition = text_condition(mg, ["rock music", "", "a pop song"])
    states, mask = condition["encoder_outputs"][0], condition["attention_mask"]
    assert torch.all(states[1] == 0) and torch.all(mask[1] == 0)
    assert mask[0].sum() > 0 and states[0].abs().sum() > 0
    null = null_condition(mg, 1)
    torch.testing.assert_close(null["encoder_outputs"][0][0, 0], states[1, 0], rtol=0, atol=0)


def test_captions_use_every_phrasing_and_the_null_share(untrained):
    rng = np.random.default_rng(0)
    texts = captions(["rock"] * 2000, rng, null_share=0.2)
    assert abs(texts.count("") / 2000 - 0.2) < 0.03
    assert {t for t in texts if t} == {p.format("rock") for p in PHRASINGS}
    with pytest.raises(ValueError, match="need codes"):
        train_lm(untrained, np.zeros((2, 4, 10)), ["a", "b"])
