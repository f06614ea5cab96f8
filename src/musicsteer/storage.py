"""The one home for writing files: every writer goes through a temporary file + rename,
so a killed job never leaves a half-written shard, table or WAV behind."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd


def _file_mode() -> int:
    """What ``open()`` would give a new file: 0o666 less the umask (mkstemp gives 0o600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_FILE_MODE = _file_mode()  # read once, at import: umask() is process-wide


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed onto ``path`` on success.

    The folder is created; on an exception the temporary file is removed and ``path``
    keeps its old content (or stays absent).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    try:
        os.chmod(tmp, _FILE_MODE)  # collaborators on a shared file system can read it
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_npy_atomic(path: str | Path, array: np.ndarray) -> Path:
    """Write ``.npy`` atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, array)
    return Path(path)


def write_table(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a DataFrame as Parquet (or TSV for ``.tsv``) atomically."""
    with atomic_path(path) as tmp:
        if Path(path).suffix == ".tsv":
            df.to_csv(tmp, sep="\t", index=False)
        else:
            df.to_parquet(tmp, index=False)
    return Path(path)


def share_folder(folder: str | Path) -> None:
    """Give every file in ``folder`` the shared mode (``save_pretrained`` writes some 0600)."""
    for path in Path(folder).iterdir():
        if path.is_file():
            os.chmod(path, _FILE_MODE)


class CorruptFileError(ValueError):
    """A stored file that cannot be read back (truncated by a crash, or damaged)."""


def read_table(path: str | Path) -> pd.DataFrame:
    """A table :func:`write_table` wrote (Parquet, or TSV for ``.tsv``); an unreadable one
    raises :class:`CorruptFileError` naming its path."""
    try:
        if Path(path).suffix == ".tsv":
            return pd.read_csv(path, sep="\t")
        return pd.read_parquet(path)
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as err:  # pyarrow's ArrowInvalid is a ValueError
        raise CorruptFileError(
            f"{path}: not a readable table ({err}); delete it and rerun to rebuild it"
        ) from err


def npy_intact(path: str | Path) -> bool:
    """Whether an ``.npy`` file exists and holds as many bytes as its header promises."""
    try:
        np.load(path, mmap_mode="r")
    except (OSError, ValueError):
        return False
    return True
