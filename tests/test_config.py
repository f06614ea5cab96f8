from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from musicsteer import audio, config, data, evaluation, models

SR = 22_050


def _tone(seconds: float, freq: float = 220.0, sr: int = SR, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (level * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture()
def gtzan(tmp_path):
    """A GTZAN-layout folder with one good, one short, one corrupt, one silent, one stereo file."""
    root = tmp_path / "genres_original"
    audio.write_wav(root / "rock" / "rock.00000.wav", _tone(30.0), SR)
    audio.write_wav(root / "rock" / "rock.00001.wav", _tone(29.9), SR)
    audio.write_wav(root / "rock" / "rock.00002.wav", _tone(4.0), SR)
    (root / "jazz").mkdir(parents=True)
    (root / "jazz" / "jazz.00054.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    audio.write_wav(root / "jazz" / "jazz.00000.wav", np.zeros(SR * 12, np.float32), SR)
    stereo = np.stack([_tone(20.0, sr=44_100), _tone(20.0, 330.0, sr=44_100)], axis=1)
    sf.write(root / "jazz" / "jazz.00001.wav", stereo, 44_100)
    return tmp_path


def test_gtzan_clips_counts_and_skips(gtzan):
    tracks = data.gtzan_tracks(gtzan)
    manifest, skipped = data.build_manifest(tracks, progress=False)
    assert manifest.groupby("label").size().to_dict() == {"jazz": 2, "rock": 5}
    assert manifest.clip_id.is_unique
    reasons = dict(
        zip(skipped.source.map(lambda p: p.rsplit("/", 1)[1]), skipped.reason, strict=True)
    )
    assert set(reasons) == {"jazz.00054.wav", "rock.00002.wav", "jazz.00000.wav"}
    assert reasons["jazz.00054.wav"].startswith("unreadable")
    assert reasons["rock.00002.wav"].startswith("too short")
    assert "silent" in reasons["jazz.00000.wav"]
    clip = manifest[manifest.track == "jazz.00001"].iloc[1]
    wave = audio.load(clip.source, 32_000, clip.offset_s, clip.duration_s)
    assert wave.shape == (320_000,)


def test_manifest_cap_is_seeded(gtzan):
    tracks = data.gtzan_tracks(gtzan, ["rock"])
    a, _ = data.build_manifest(tracks, max_clips_per_label=3, seed=1, progress=False)
    b, _ = data.build_manifest(tracks, max_clips_per_label=3, seed=1, progress=False)
    assert len(a) == 3 and a.equals(b)
    with pytest.raises(FileNotFoundError, match="folk"):
        data.gtzan_tracks(gtzan, ["rock", "folk"])


def test_clip_offsets_whole_clips_only():
    assert data.clip_offsets(30.0, 10.0) == [0.0, 10.0, 20.0]
    assert data.clip_offsets(29.9, 10.0) == [0.0, 10.0]
    assert data.clip_offsets(9.99, 10.0) == []


def _demo_config() -> dict:
    import yaml

    cfg = yaml.safe_load(Path("config/config.yaml").read_text())
    cfg.update(yaml.safe_load(Path("config/demo.yaml").read_text()))
    return cfg


def test_config_defaults_and_errors_name_the_key():
    schema = "workflow/schemas/config.schema.yaml"
    cfg = config.validate_config({}, schema)
    assert cfg["steering"]["alphas"] == [0.05, 0.1, 0.2, 0.3, 0.5]
    assert cfg["steering"]["sites"] == cfg["activations"]["sites"] == ["resid", "attn"]
    assert cfg["steering"]["methods"] == cfg["probing"]["methods"]
    with pytest.raises(config.ConfigError, match=r"steering\.alphas\.0"):
        config.validate_config({"steering": {"alphas": ["big"]}}, schema)
    with pytest.raises(config.ConfigError, match=r"steering\.layers\.0"):
        config.validate_config({"steering": {"layers": ["first"]}}, schema)
    with pytest.raises(config.ConfigError, match=r"evaluation\.alpha\b"):
        config.validate_config({"evaluation": {"alpha_rule": "fixed", "alpha": 3.0}}, schema)
    with pytest.raises(config.ConfigError, match=r"steering\.sites: 'attn'"):
        config.validate_config(
            {"activations": {"sites": ["resid"]}, "steering": {"sites": ["resid", "attn"]}}, schema
        )
    with pytest.raises(
        config.ConfigError, match=r"instrument_transfer\.melody: cannot read note 'H4'"
    ):
        config.validate_config({"instrument_transfer": {"melody": "C4 H4"}}, schema)
    with pytest.raises(config.ConfigError, match=r"instrument_transfer\.enabled: .*tiny-musicgen"):
        config.validate_config({"models": {"musicgen": "tiny-musicgen"}}, schema)
    with pytest.raises(config.ConfigError, match=r"probing\.layer_rul\b"):
        config.validate_config({"probing": {"layer_rul": "ari"}}, schema)
    with pytest.raises(config.ConfigError, match=r"steering\.pairs\[0\]\.target"):
        config.validate_config({"steering": {"pairs": [{"source": "rock", "target": "x"}]}}, schema)


def test_schema_documents_every_key():
    import yaml

    def walk(node, path):
        for key, sub in node.get("properties", {}).items():
            assert "description" in sub, f"{path}{key} has no description"
            if path.count(".") < 1:  # top-level keys and their children carry defaults
                assert "default" in sub, f"{path}{key} has no default"
            walk(sub, f"{path}{key}.")

    walk(yaml.safe_load(Path("workflow/schemas/config.schema.yaml").read_text()), "")


def test_preflight_names_missing_data_and_models(tmp_path, monkeypatch):
    cfg = config.validate_config(_demo_config(), "workflow/schemas/config.schema.yaml")
    assert config.preflight(cfg) == ([], [])
    cfg["demo"]["render"] = False
    cfg["data"]["gtzan"] = str(tmp_path / "nothing")
    cfg["models"]["musicgen"] = "facebook/musicgen-melody"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    errors, _ = config.preflight(cfg)
    assert any(e.startswith("data.gtzan") for e in errors)
    assert any(e.startswith("models.musicgen") and "hf download" in e for e in errors)


def test_clap_probabilities_match_the_model_forward(models_dir):
    model, processor = models.load_clap("tiny-clap", models_dir)
    scorer = evaluation.ClapScorer(model, processor)
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


def test_config_readme_documents_every_key_of_the_schema():
    generated = config.schema_markdown("workflow/schemas/config.schema.yaml")
    assert Path("config/README.md").read_text() == generated
