"""Shared fixtures: tiny random-weight models built offline, once per session."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach a hub

from musicsteer import models  # noqa: E402


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory):
    """Every built-in model saved with save_pretrained into one folder."""
    root = tmp_path_factory.mktemp("models")
    for name in models.BUILTIN_MODELS:
        models.build_builtin(name, root / name)
    return root


@pytest.fixture(scope="session", params=[False, True], ids=["musicgen", "melody"])
def tiny(request: pytest.FixtureRequest) -> models.MusicGen:
    """A tiny MusicGen and a tiny MusicGen-Melody (parametrised)."""
    return models.random_musicgen(melody=request.param, seed=0)


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


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    """The demo DAG run once per session in a temporary copy of the workflow."""
    work = tmp_path_factory.mktemp("demo")
    for item in ("workflow", "config", "profiles"):
        shutil.copytree(REPO / item, work / item)
    done = snakemake(work, "--configfile", "config/demo.yaml")
    assert done.returncode == 0, done.stderr[-4000:]
    return work, done
