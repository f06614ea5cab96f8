"""Logging for pipeline jobs: messages and tqdm progress go to the rule's log file."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path


@contextlib.contextmanager
def job_log(paths: Sequence[str] | str | None) -> Iterator[logging.Logger]:
    """Send ``logging`` and stderr (tqdm's stream) to the job's log file for the block.

    With no log path everything stays on the terminal.
    """
    path = paths if isinstance(paths, str) else (paths[0] if paths else None)
    logger = logging.getLogger("musicsteer")
    if path is None:
        logging.basicConfig(level=logging.INFO)
        yield logger
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", buffering=1) as stream, contextlib.redirect_stderr(stream):
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        try:
            yield logger
        except BaseException:
            logger.exception("job failed")
            raise
        finally:
            root.removeHandler(handler)
            sys.stderr.flush()
