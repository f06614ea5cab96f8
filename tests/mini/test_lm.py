"""LM training: MusicGen's decoder learns to use its prompt, and the null condition is
exactly what guidance subtracts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from musicsteer.activations import delayed_inputs, null_condition
from musicsteer.mini.lm import (
    PHRASINGS,
    LMTraining,
    captions,
    condition,
    draw_batch,
    lm_loss,
    null_chroma,
    train_lm,
)
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
    text_before = [p.clone() for p in mg.model.text_encoder.parameters()]
    settings = LMTraining(steps=40, batch=8, frames=40, lr=3e-3, warmup=5)
    history = train_lm(mg, codes, ["a"] * 32 + ["b"] * 32, settings)
    assert history.rows[-1]["loss"] < history.rows[0]["loss"] - 2.0
    held = torch.from_numpy(_codes("a", 8, k, rng)).long()
    with torch.no_grad():
        right, wrong, null = (float(lm_loss(mg, held, [t] * 8)) for t in ("a", "b", ""))
    assert right < null < wrong  # the prompt helps, a wrong one hurts
    after = list(mg.model.text_encoder.parameters())
    moved = [not torch.equal(a, b) for a, b in zip(text_before, after, strict=True)]
    assert any(moved)  # the tiny T5 learns along (train_text_encoder=True)


def test_a_frozen_text_encoder_stays_put_and_the_codec_always_does():
    mg = random_musicgen(melody=True, seed=0, chroma_length=8)
    frozen = {n: p.clone() for n, p in mg.model.named_parameters() if "decoder" not in n}
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 2048, (4, mg.num_codebooks, 30))
    chroma = np.eye(12, dtype=np.uint8)[rng.integers(0, 12, (4, 6))]
    settings = LMTraining(steps=2, batch=2, frames=20, train_text_encoder=False)
    train_lm(mg, codes, ["a", "b"] * 2, settings, chroma=chroma)
    for name, param in mg.model.named_parameters():
        if name in frozen and not name.startswith(("enc_to_dec", "audio_enc_to_dec")):
            torch.testing.assert_close(param, frozen[name], rtol=0, atol=0, msg=name)


@pytest.fixture(scope="module")
def untrained():
    return random_musicgen(melody=False, seed=0)


@torch.no_grad()
def test_a_null_caption_is_exactly_the_cfg_null_condition(untrained):
    mg = untrained
    codes = torch.from_numpy(np.random.default_rng(0).integers(0, 2048, (3, 4, 12))).long()
    inputs = delayed_inputs(codes)
    batch = mg.model(**condition(mg, ["rock music", "", "a pop song"]), decoder_input_ids=inputs)
    alone = mg.model(**null_condition(mg, 3), decoder_input_ids=inputs)
    k = mg.num_codebooks
    torch.testing.assert_close(batch.logits[k : 2 * k], alone.logits[k : 2 * k])
    assert not torch.allclose(batch.logits[:k], alone.logits[:k])  # text rows are conditioned


@torch.no_grad()
def test_melody_null_rows_match_generation_and_chroma_rows_differ():
    mg = random_musicgen(melody=True, seed=0, chroma_length=8)
    codes = torch.from_numpy(np.random.default_rng(0).integers(0, 2048, (2, 4, 12))).long()
    inputs = delayed_inputs(codes)
    ours = mg.model(**condition(mg, ["", ""]), decoder_input_ids=inputs).logits
    theirs = mg.model(**null_condition(mg, 2), decoder_input_ids=inputs).logits
    torch.testing.assert_close(ours[:, -inputs.shape[1] :], theirs[:, -inputs.shape[1] :])
    melody = null_chroma(2, 4)
    melody[1] = torch.eye(12)[[3, 5, 7, 9]]
    both = mg.model(**condition(mg, ["", ""], melody), decoder_input_ids=inputs).logits
    k = mg.num_codebooks
    torch.testing.assert_close(both[:k], ours[:k])  # a null-chroma row is the null condition
    assert not torch.allclose(both[k:], ours[k:])  # a melody row is not


def test_batches_crop_chroma_over_the_same_stretch_of_audio():
    frames, chroma_frames = 400, 50  # 8 code frames per chroma frame
    codes = np.broadcast_to(np.arange(frames), (6, 4, frames)).copy()  # code = frame index
    chroma = np.eye(12, dtype=np.uint8)[np.arange(chroma_frames) % 12][None].repeat(6, 0)
    rng = np.random.default_rng(0)
    settings = LMTraining(batch=32, frames=80, chroma_share=0.5)
    batch = draw_batch(codes, ["a"] * 6, chroma, settings, rng)
    assert batch.chroma is not None and batch.chroma.shape == (32, 10, 12)
    starts = batch.codes[:, 0, 0].numpy()
    kept = batch.chroma[:, :, 0].sum(1) < 10  # a null row has bin 0 in every frame
    assert 8 <= int(kept.sum()) <= 24
    for row in np.flatnonzero(kept.numpy()):
        first = int(batch.chroma[row, 0].argmax())
        assert first == (starts[row] // 8) % 12
    assert torch.all(batch.chroma[~kept][:, :, 0] == 1)


def test_captions_use_every_phrasing_and_the_null_share(untrained):
    rng = np.random.default_rng(0)
    texts = captions(["rock"] * 2000, rng, null_share=0.2, prompts={"rock": ["loud riffs"]})
    assert abs(texts.count("") / 2000 - 0.2) < 0.03
    assert {t for t in texts if t} == {p.format("rock") for p in PHRASINGS} | {"loud riffs"}
    with pytest.raises(ValueError, match="need codes"):
        train_lm(untrained, np.zeros((2, 4, 10)), ["a", "b"])
