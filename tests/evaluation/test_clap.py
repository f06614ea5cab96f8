from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from musicsteer import audio
from musicsteer.evaluation import clap
from musicsteer.models import loading


def _tone(seconds: float, freq: float, sr: int) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture(scope="module")
def scorer(models_dir):
    model, processor = loading.load_clap("tiny-clap", models_dir)
    return clap.ClapScorer(model, processor)


def test_scores_of_files_equal_scores_of_waves_and_preservation_is_the_cosine(scorer, tmp_path):
    waves = {"a": _tone(4, 220, 32_000), "b": _tone(4, 660, 32_000), "c": _tone(4, 1500, 32_000)}
    paths = {k: str(audio.write_wav(tmp_path / f"{k}.wav", w, 32_000)) for k, w in waves.items()}
    samples = pd.DataFrame(
        [
            {"path": paths["a"], "kind": "original", "prompt_id": 0, "seed": 0},
            {"path": paths["b"], "kind": "steered", "prompt_id": 0, "seed": 0},
            {"path": paths["a"], "kind": "steered", "prompt_id": 0, "seed": 0},
            {"path": paths["c"], "kind": "steered", "prompt_id": 1, "seed": 0},  # no original
        ]
    )
    labels = {"pair": ["rock", "pop"], "all": ["rock", "pop", "folk"]}
    scores = clap.score_samples(scorer, samples, labels, batch_size=3)
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
    paths = [
        str(audio.write_wav(tmp_path / f"{f}.wav", _tone(3, f, 32_000), 32_000))
        for f in (200, 400, 800)
    ]
    together = scorer.embed_files(paths, batch_size=3)
    alone = torch.cat([scorer.embed_files([p]) for p in paths])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-5)


# ------------------------------------------------------- comparable with the paper


def test_default_template_is_the_zero_shot_pipelines():
    from transformers.pipelines.zero_shot_audio_classification import (
        ZeroShotAudioClassificationPipeline,
    )

    preprocess = inspect.signature(ZeroShotAudioClassificationPipeline.preprocess)
    assert preprocess.parameters["hypothesis_template"].default == clap.ZERO_SHOT_TEMPLATE
    assert clap.ClapScorer(None, None).template == clap.ZERO_SHOT_TEMPLATE
    schema = yaml.safe_load(Path("workflow/schemas/config.schema.yaml").read_text())
    evaluation_keys = schema["properties"]["evaluation"]["properties"]
    assert evaluation_keys["template"]["default"] == clap.ZERO_SHOT_TEMPLATE
    paper = yaml.safe_load(Path("config/config.yaml").read_text())
    assert paper["evaluation"]["template"] == clap.ZERO_SHOT_TEMPLATE


def test_scores_equal_the_zero_shot_pipeline(scorer, models_dir, tmp_path):
    """What the paper ran: transformers' pipeline on 48-kHz audio of at most 10 s."""
    from transformers import pipeline

    classify = pipeline("zero-shot-audio-classification", model=str(models_dir / "tiny-clap"))
    labels = ["rock", "pop", "hip-hop", "folk"]
    noise = np.random.default_rng(0).normal(0, 0.1, 10 * 48_000).astype(np.float32)
    waves = [_tone(4, 220, 48_000), _tone(2.5, 1500, 48_000) + noise[:120_000], noise]

    def pipeline_probs(wave, template):
        out = classify(wave, candidate_labels=labels, hypothesis_template=template)
        return np.array([{d["label"]: d["score"] for d in out}[label] for label in labels])

    ours = scorer.probabilities(waves, 48_000, labels)
    ref = np.stack([pipeline_probs(w, scorer.template) for w in waves])
    np.testing.assert_allclose(ours, ref, atol=1e-5)
    other = np.stack([pipeline_probs(w, "{} music") for w in waves])
    assert np.abs(other - ours).max() > 1e-3  # the template matters at this tolerance
    assert np.abs(ours - 1 / len(labels)).max() > 1e-2  # not a uniform answer
    # the pipeline's pass over files: score_samples with display names (hiphop → hip-hop)
    paths = [str(audio.write_wav(tmp_path / f"{i}.wav", w, 48_000)) for i, w in enumerate(waves)]
    samples = pd.DataFrame({"path": paths, "kind": "original"})
    keys = ["rock", "pop", "hiphop", "folk"]
    scores = clap.score_samples(scorer, samples, {"all": keys}, {"hiphop": "hip-hop"})
    table = scores.pivot_table(index="path", columns="label", values="probability")
    for path in paths:
        want = pipeline_probs(audio.load(path), scorer.template)  # the file as written
        np.testing.assert_allclose(table.loc[path, keys].to_numpy(float), want, atol=1e-5)


def test_clap_probabilities_match_the_model_forward(models_dir):
    model, processor = loading.load_clap("tiny-clap", models_dir)
    scorer = clap.ClapScorer(model, processor)
    waves = [_tone(3.0, 220.0, 32_000), _tone(12.0, 440.0, 32_000)]
    probs = scorer.probabilities(waves, 32_000, ["rock", "pop", "folk"])
    assert probs.shape == (2, 3) and np.allclose(probs.sum(1), 1.0)
    texts = processor.tokenizer(
        [f"This is a sound of {g}." for g in ["rock", "pop", "folk"]],
        return_tensors="pt",
        padding=True,
    )
    feats = processor.feature_extractor(
        [scorer._prepare(w, 32_000) for w in waves],
        sampling_rate=48_000,
        return_tensors="pt",
        truncation="rand_trunc",
        padding="repeatpad",
    )
    with torch.inference_mode():
        ref = model(**texts, **feats).logits_per_audio.softmax(-1).numpy()
    np.testing.assert_allclose(probs, ref, rtol=1e-5, atol=1e-6)
    again = scorer.probabilities(waves, 32_000, ["rock", "pop", "folk"])
    np.testing.assert_array_equal(probs, again)  # no random crop
