"""Shared fixtures: tiny random-weight models built offline, once per session."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach a hub


import numpy as np
import pyarrow.parquet as pq
import soundfile as sf

from musicsteer import audio
from musicsteer.models import loading
from musicsteer.models import tiny as models_tiny
from tests.corpora.sources import SR, _mp3_bytes, _music_genres_table, _tone, _wav_bytes, _write


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory):
    """Every tiny built-in model saved with save_pretrained into one folder."""
    root = tmp_path_factory.mktemp("models")
    for name in loading.TINY_MODELS:
        models_tiny.build_builtin(name, root / name)
    return root


@pytest.fixture(scope="session", params=[False, True], ids=["musicgen", "melody"])
def tiny(request: pytest.FixtureRequest) -> loading.MusicGen:
    """A tiny MusicGen and a tiny MusicGen-Melody (parametrised)."""
    return models_tiny.random_musicgen(melody=request.param, seed=0)


REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def snakemake(workdir: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [SNAKEMAKE, "--cores", "2", *args],
        cwd=workdir,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=1200,
    )


# The demo config as the DAG tests run it: with the random tiny models (wiring.yaml).
DEMO = ("--configfile", "config/demo.yaml", str(REPO / "tests/configs/wiring.yaml"))
# Its run's folders (wiring.yaml names the run).
RESULTS, LOGS = "results/wiring", "logs/wiring"


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    """The demo DAG run once per session in a temporary copy of the workflow."""
    work = tmp_path_factory.mktemp("demo")
    for item in ("workflow", "config", "profiles"):
        shutil.copytree(REPO / item, work / item)
    done = snakemake(work, *DEMO)
    assert done.returncode == 0, done.stderr[-4000:]
    return work, done


# --- GTZAN -------------------------------------------------------------------------


@pytest.fixture()
def gtzan(tmp_path: Path) -> Path:
    """GTZAN layout with every kind of bad file next to good ones."""
    root = tmp_path / "gtzan" / "genres_original"
    rock, jazz = root / "rock", root / "jazz"
    audio.write_wav(rock / "rock.00000.wav", _tone(30.0), SR)
    audio.write_wav(rock / "rock.00001.wav", _tone(29.9, 330.0), SR)
    audio.write_wav(rock / "rock.00002.wav", _tone(5.0), SR)
    _write(rock / "rock.00003.wav", b"")
    _write(rock / "rock.00004.mp3", _mp3_bytes(_tone(20.0, 440.0)))
    full = _wav_bytes(_tone(30.0, 550.0))
    _write(rock / "rock.00005.wav", full[: len(full) // 2])  # truncated: ~15 s of data
    _write(jazz / "jazz.00054.wav", b"RIFF\x00\x00\x00\x00WAVEjunk")  # GTZAN's real corrupt file
    audio.write_wav(jazz / "jazz.00000.wav", np.zeros(SR * 12, np.float32), SR)
    sf.write(jazz / "jazz.00001.wav", _tone(20.0, 330.0, 44_100, channels=2), 44_100)
    gap = np.concatenate([_tone(10.0), np.zeros(SR * 10, np.float32), _tone(5.0)])
    audio.write_wav(jazz / "jazz.00002.wav", gap, SR)
    audio.write_wav(jazz / "jazz.00003.wav", _tone(11.0, 200.0, 8_000), 8_000)
    sf.write(jazz / "jazz.00004.wav", np.zeros((0, 1), np.float32), SR)  # header, no frames
    _write(jazz / "notes.txt", b"not audio")
    return tmp_path / "gtzan"


@pytest.fixture()
def music_genres(tmp_path: Path) -> Path:
    """Two Hub-shaped Parquet files (small row groups, so rows span several)."""
    root = tmp_path / "music_genres" / "data"
    root.mkdir(parents=True)
    test_rows = [
        (_wav_bytes(_tone(10.0, 300.0)), 9, 3, "Pop"),
        (_wav_bytes(np.zeros(SR * 10, np.float32)), 16, 1, "Rock"),
    ]
    train_rows = [
        (_wav_bytes(_tone(20.0)), 11, 1, "Rock"),
        (_mp3_bytes(_tone(30.0, 330.0, 44_100, 2), 44_100), 12, 2, "Hip-Hop"),
        (b"garbage bytes, not audio" * 10, 13, 1, "Rock"),
        (None, 14, 3, "Pop"),
        (_wav_bytes(_tone(10.0)), 15, 0, None),
        (_wav_bytes(_tone(10.0)), 9, 3, "Pop"),  # repeats song 9 of the test file
    ]
    pq.write_table(
        _music_genres_table(test_rows), root / "test-00000-of-00001.parquet", row_group_size=1
    )
    pq.write_table(
        _music_genres_table(train_rows), root / "train-00000-of-00001.parquet", row_group_size=2
    )
    return tmp_path / "music_genres"


def pytest_terminal_summary(terminalreporter) -> None:
    """How many broken configs were rejected naming the key (tests/test_config_fuzz.py)."""
    outcomes = {
        kind: sum(
            "test_a_broken_config_is_rejected" in r.nodeid
            for r in terminalreporter.stats.get(kind, [])
        )
        for kind in ("passed", "failed")
    }
    if any(outcomes.values()):
        terminalreporter.write_line(
            f"broken configs: {sum(outcomes.values())} tried, {outcomes['passed']} rejected "
            f"naming the key, {outcomes['failed']} not"
        )
