"""Shared fixtures: tiny random-weight models built offline, once per session."""

from __future__ import annotations

import os

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
