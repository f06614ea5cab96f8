"""Crash-safe array files: a killed job never leaves a half-written shard behind."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np


def save_npy_atomic(path: str | Path, array: np.ndarray) -> Path:
    """Write ``.npy`` via a temporary file in the same folder + rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npy.tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, array)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
