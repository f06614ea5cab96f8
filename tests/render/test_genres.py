"""FluidSynth rendering and the synthetic genre corpus (real rendering, no mocks)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from musicsteer.render import genres
from musicsteer.render.synth import DEFAULT_SOUNDFONT

pytestmark = pytest.mark.skipif(
    not DEFAULT_SOUNDFONT.is_file(), reason="apt-get install fluidsynth timgm6mb-soundfont"
)


GENRES = ("rock", "pop", "folk", "hiphop", "jazz", "classical")


def test_unknown_genre() -> None:
    with pytest.raises(ValueError, match=r"polka.*known genres: rock, pop, folk"):
        genres.render_genre_corpus("/nonexistent", ["rock", "polka"], 1)


def test_genres_listed() -> None:
    assert set(GENRES) <= set(genres.GENRES)


def test_tracks_vary_within_genre() -> None:
    plans = [genres.plan_track("pop", genres.track_seed(0, "pop", i), 30.0) for i in range(6)]
    assert len({(p.score.tempo, p.key_pc) for p in plans}) == 6
    assert all(110 <= p.score.tempo <= 125 for p in plans)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory):
    """Two 6-second tracks per genre at 16 kHz."""
    root = tmp_path_factory.mktemp("genres")
    df = genres.render_genre_corpus(root, GENRES, 2, seconds=6.0, sample_rate=16000, seed=3)
    return root, df


def test_corpus_layout(corpus) -> None:
    root, df = corpus
    assert len(df) == 12 and list(df.genre.unique()) == list(GENRES)
    for genre in GENRES:
        names = sorted(p.name for p in (root / "genres_original" / genre).iterdir())
        assert names == [f"{genre}.00000.wav", f"{genre}.00001.wav"]
    for rel in df.path:
        info = sf.info(root / rel)
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        assert info.frames == 6 * 16000
        x, _ = sf.read(root / rel)
        assert 20 * np.log10(np.abs(x).max()) == pytest.approx(-1.0, abs=0.05)
    assert {"seed", "tempo", "key", "program_chords", "drum_kit"} <= set(df.columns)
    assert (df[df.genre == "classical"].drum_kit == -1).all()


def test_corpus_deterministic(corpus, tmp_path: Path) -> None:
    root, df = corpus
    again = genres.render_genre_corpus(
        tmp_path, ["jazz"], 2, seconds=6.0, sample_rate=16000, seed=3
    )
    for rel in again.path:
        assert (tmp_path / rel).read_bytes() == (root / rel).read_bytes()


def _spectrum(path: Path) -> np.ndarray:
    """Mean log-magnitude spectrum in 1/3-octave-ish bands, frames of 2048."""
    x, _ = sf.read(path)
    frames = x[: len(x) // 2048 * 2048].reshape(-1, 2048) * np.hanning(2048)
    mag = np.abs(np.fft.rfft(frames, axis=1)).mean(axis=0)
    edges = np.unique(np.geomspace(2, 1024, 25).astype(int))
    return np.log10([mag[a:b].mean() + 1e-9 for a, b in zip(edges[:-1], edges[1:], strict=False)])


def _onset_strength(path: Path) -> float:
    """Spectral-flux peakiness: percussive music scores high, sustained strings low."""
    x, _ = sf.read(path)
    frames = x[: len(x) // 512 * 512].reshape(-1, 512)
    mag = np.abs(np.fft.rfft(frames * np.hanning(512), axis=1))
    flux = np.maximum(np.diff(mag, axis=0), 0).sum(axis=1)
    return float(flux.std() / (flux.mean() + 1e-12))


def test_genres_differ(corpus) -> None:
    root, df = corpus
    paths = {g: [root / p for p in df[df.genre == g].path] for g in GENRES}
    rock = np.mean([_spectrum(p) for p in paths["rock"]], axis=0)
    classical = np.mean([_spectrum(p) for p in paths["classical"]], axis=0)
    assert np.abs(rock - classical).mean() > 0.2
    assert min(_onset_strength(p) for p in paths["hiphop"]) > max(
        _onset_strength(p) for p in paths["classical"]
    )
