"""Codec training: the real EncodecModel learns rendered music, and its own encode path
uses the trained codebooks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from musicsteer.mini.codec import CodecTraining, quantize, spectral_loss, train_codec
from musicsteer.mini.corpus import cut_clips, render_training_corpus
from musicsteer.models.tiny import random_musicgen
from tests.corpora.syntheory_helpers import needs_soundfont

SR = 32_000


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("mini_corpus")
    manifest = render_training_corpus(root, ["rock", "folk", "hiphop"], 3, 4.0, SR, seed=1)
    return cut_clips(manifest, root, 2.0, SR)


def _held_out_loss(codec, waves: np.ndarray) -> float:
    x = torch.from_numpy(waves)
    with torch.no_grad():
        codes = codec.encode(x[:, None]).audio_codes
        decoded = codec.decode(codes, [None]).audio_values[:, 0, : x.shape[1]]
    return float(spectral_loss(decoded, x, SR))


@needs_soundfont
def test_training_lowers_held_out_reconstruction_and_encode_uses_the_trained_codebooks(corpus):
    codec = random_musicgen(melody=False, seed=0).model.audio_encoder
    train, _ = corpus.of("train")
    held, _ = corpus.of("heldout")
    held = np.stack(held)
    before = _held_out_loss(codec, held)
    history = train_codec(codec, np.stack(train), CodecTraining(steps=20, batch=4, crop_s=0.5))
    losses = [row["reconstruction"] for row in history.rows]
    assert np.mean(losses[-5:]) < 0.6 * losses[0]
    assert _held_out_loss(codec, held) < 0.8 * before  # on tracks it never saw
    x = torch.from_numpy(held[:2])
    with torch.no_grad():
        ours = quantize(codec.quantizer, codec.encoder(x[:, None]), decay=None)
        theirs = codec.encode(x[:, None]).audio_codes[0]
    torch.testing.assert_close(ours.codes, theirs, rtol=0, atol=0)


def test_read_only_quantization_leaves_the_codebooks_alone():
    codec = random_musicgen(melody=False, seed=0).model.audio_encoder
    buffers = {k: v.clone() for k, v in codec.quantizer.named_buffers()}
    latents = torch.randn(2, codec.config.hidden_size, 7)
    out = quantize(codec.quantizer, latents, decay=None)
    assert out.codes.shape == (2, len(codec.quantizer.layers), 7) and out.restarted == 0
    for name, value in codec.quantizer.named_buffers():
        torch.testing.assert_close(value, buffers[name], rtol=0, atol=0)
    trained = quantize(codec.quantizer, latents, decay=0.9, dead_below=0.5)
    assert trained.restarted > 0  # fresh codebooks: every unused code is restarted on data


def test_clips_shorter_than_a_crop_are_refused():
    codec = random_musicgen(melody=False, seed=0).model.audio_encoder
    with pytest.raises(ValueError, match="need clips"):
        train_codec(codec, np.zeros((2, 100), np.float32), CodecTraining(steps=1))
