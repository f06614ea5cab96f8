"""The mini build stages: encode once, decode in clip order, train on the train split only,
and a manifest that says what was made and how good it is."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from musicsteer.mini import build, gates, release
from musicsteer.mini.history import History
from musicsteer.mini.lm import LMTraining
from musicsteer.models import loading
from musicsteer.models.tiny import random_musicgen
from tests.corpora.syntheory_helpers import needs_soundfont

SR = 32_000


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from musicsteer.mini.corpus import render_training_corpus

    root = tmp_path_factory.mktemp("mini_build")
    return root, render_training_corpus(root, ["rock", "folk"], 4, 3.0, SR, seed=3)


@pytest.fixture(scope="module")
def codec():
    return build.fresh_codec(seed=0)


@needs_soundfont
def test_tracks_are_encoded_once_with_their_labels_and_chroma(corpus, codec, tmp_path):
    root, manifest = corpus
    codes = build.encode_corpus(codec, manifest, root)
    assert codes.codes.shape == (8, 4, 150) and codes.codes.dtype == np.int16
    assert codes.chroma.shape[0] == 8 and np.all(codes.chroma.sum(2) == 1)  # one-hot frames
    assert list(codes.genres) == list(manifest.genre)
    assert list(codes.splits) == list(manifest.split)
    codes.save(tmp_path / "codes.npz")
    again = build.Codes.load(tmp_path / "codes.npz")
    np.testing.assert_array_equal(again.codes, codes.codes)
    held = again.of("heldout")
    assert set(held.splits) == {"heldout"} and len(held.codes) == 2  # one track per genre
    x = torch.from_numpy(build.audio.load(root / manifest.path[0], SR))[None, None]
    with torch.no_grad():
        direct = codec.encode(x).audio_codes[0, 0].numpy()
    np.testing.assert_array_equal(codes.codes[0], direct)


def test_clips_decode_in_track_order_with_their_labels(codec):
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 2048, (3, 4, 25))
    waves = build.decode_clips(codec, codes, clip_frames=10, batch=4)
    assert waves.shape == (6, 10 * 640)  # two whole clips per track, the rest dropped
    with torch.no_grad():
        one = codec.decode(torch.from_numpy(codes[1:2, :, 10:20])[None], [None]).audio_values
    np.testing.assert_allclose(waves[3], one[0, 0].numpy(), atol=1e-5)
    labels = build.clip_labels(np.array(["a", "b", "c"]), 25, 10)
    assert list(labels) == ["a", "a", "b", "b", "c", "c"]


def test_the_lm_trains_on_train_tracks_only(codec):
    rng = np.random.default_rng(0)
    codes = build.Codes(
        codes=rng.integers(0, 2000, (4, 4, 40)).astype(np.int16),
        chroma=np.eye(12, dtype=np.uint8)[rng.integers(0, 12, (4, 5))],
        genres=np.array(["a", "a", "b", "b"]),
        tracks=np.array(["a/0", "a/1", "b/0", "b/1"]),
        splits=np.array(["train", "heldout", "train", "heldout"]),
    )
    codes.codes[[1, 3]] = 2047  # a held-out row in a crop would put 2047 into the targets
    mg = build.mini_musicgen(codec, True, (1, 16, 2, 32), 4, seed=0)
    seen: list[torch.Tensor] = []
    handle = mg.model.decoder.register_forward_pre_hook(
        lambda _m, args, kwargs: seen.append(kwargs.get("input_ids", args[0] if args else None)),
        with_kwargs=True,
    )
    build.train_lm_on_codes(mg, codes, LMTraining(steps=3, batch=4, frames=20))
    handle.remove()
    assert seen and all(not torch.any(ids == 2047) for ids in seen)
    torch.testing.assert_close(
        mg.model.audio_encoder.state_dict()["quantizer.layers.0.codebook.embed"],
        codec.state_dict()["quantizer.layers.0.codebook.embed"],
    )


def test_failed_gates_are_named_per_model_and_genre():
    ok = {"codec": 0.95, "clap": 0.9, "lm": {"m": {"rock": 0.8, "pop": 1.0}}}
    assert gates.failed(ok) == []
    bad = {"codec": 0.85, "clap": 0.95, "lm": {"m": {"rock": 0.75, "pop": 1.0}}}
    assert gates.failed(bad) == ["codec", "lm:m:rock"]


def test_prompts_come_from_the_pipeline_prompt_file(tmp_path):
    path = tmp_path / "prompts.tsv"
    pd.DataFrame({"genre": ["rock", "pop", "rock"], "prompt": ["r1", "p1", "r2"]}).to_csv(
        path, sep="\t", index=False
    )
    assert build.prompts_by_genre(path, ["rock", "folk"]) == {"rock": ["r1", "r2"], "folk": []}


def test_the_manifest_records_files_gates_and_training_and_installs(tmp_path):
    models = tmp_path / "models"
    mg = random_musicgen(melody=True, shape=(1, 16, 2, 32), seed=0, chroma_length=4)
    build.save_half(mg.model, models / "mini-musicgen-melody")
    assert next(mg.model.parameters()).dtype == torch.float32  # the caller's copy is kept
    history = History()
    for step in range(30):
        history.add(step=step, loss=10.0 - step / 10)
    assert history.curve(points=3) == "0: 10.000, 14: 8.800, 29: 7.300"  # 5-step means
    summary = build.training_summary(history, 12.0, LMTraining(steps=30))
    assert summary["final_loss"] == pytest.approx(np.mean([10.0 - s / 10 for s in range(10, 30)]))
    gate_values = {"codec": 0.95, "clap": 0.8, "lm": {}, "failed": ["clap"]}
    record = release.manifest(
        {"seed": 1}, {"lm": summary}, gate_values, [models / "mini-musicgen-melody"]
    )
    weights = record["files"]["mini-musicgen-melody/model.safetensors"]
    assert weights["bytes"] == (models / "mini-musicgen-melody/model.safetensors").stat().st_size
    assert record["training_seconds"] == 12.0 and record["gates"]["failed"] == ["clap"]
    (models / "manifest.json").write_text(json.dumps(record))
    history.save(tmp_path / "history.csv")
    release.plot_training({"lm": tmp_path / "history.csv"}, tmp_path / "training.png")
    assert (tmp_path / "training.png").stat().st_size > 1000
    dest = tmp_path / "checkpoints"
    assert release.install(models, dest) == ["clap"]
    loaded = loading.load_musicgen(str(dest / "mini-musicgen-melody"))
    assert loaded.is_melody and next(loaded.model.parameters()).dtype == torch.float32
    torch.testing.assert_close(
        loaded.model.decoder.lm_heads[0].weight, mg.model.decoder.lm_heads[0].weight.half().float()
    )


def test_mini_names_resolve_to_the_shipped_folder_or_say_how_to_make_them(tmp_path, monkeypatch):
    from musicsteer.models import specs

    monkeypatch.setattr(specs, "CHECKPOINTS", tmp_path)
    assert specs.resolve_spec("mini-clap") == str(tmp_path / "mini-clap")
    assert "make mini" in str(specs.availability_problem("mini-clap"))
    (tmp_path / "mini-clap").mkdir()
    (tmp_path / "mini-clap" / "config.json").write_text("{}")
    assert specs.availability_problem("mini-clap") is None
    assert specs.resolve_spec("tiny-clap", "models") == "models/tiny-clap"


def test_the_codec_gate_scores_held_out_clips_with_a_judge_fitted_on_train_clips():
    rng = np.random.default_rng(0)
    t = np.arange(SR) / SR

    def clips(hz: float, n: int) -> list[np.ndarray]:
        return [
            (
                np.sin(2 * np.pi * hz * rng.uniform(0.98, 1.02) * t) + 0.1 * rng.standard_normal(SR)
            ).astype(np.float32)
            for _ in range(n)
        ]

    train = (clips(220, 6) + clips(1760, 6), ["low"] * 6 + ["high"] * 6)
    held = (clips(1760, 3) + clips(220, 3), ["high"] * 3 + ["low"] * 3)
    judge, accuracy = gates.codec_gate(train, held, SR)
    assert accuracy == 1.0 and judge.labels == ("high", "low")
    swapped = (held[0], held[1][::-1])  # wrong labels: the gate must notice
    assert gates.codec_gate(train, swapped, SR)[1] == 0.0
