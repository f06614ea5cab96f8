import numpy as np
import pytest
import soundfile as sf

from musicsteer import audio
from musicsteer.corpora import genres

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
    tracks = genres.gtzan_tracks(gtzan)
    manifest, skipped = genres.build_manifest(tracks, progress=False)
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
    tracks = genres.gtzan_tracks(gtzan, ["rock"])
    a, _ = genres.build_manifest(tracks, max_clips_per_label=3, seed=1, progress=False)
    b, _ = genres.build_manifest(tracks, max_clips_per_label=3, seed=1, progress=False)
    assert len(a) == 3 and a.equals(b)
    with pytest.raises(FileNotFoundError, match="folk"):
        genres.gtzan_tracks(gtzan, ["rock", "folk"])
