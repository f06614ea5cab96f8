"""Logging for pipeline jobs: messages and tqdm progress go to the rule's log file."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

# What OpenMP and the BLAS libraries read when a process (or a child it starts) begins.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def use_threads(n: int) -> int:
    """Hold this process to ``n`` CPU threads: torch's intra-op pool, the BLAS/OpenMP
    pools of numpy and scikit-learn, and the processes it starts; returns ``n`` (at least 1).

    A job that Snakemake scheduled with ``threads: n`` must not use more: left alone,
    torch and BLAS each take every core, and jobs running side by side fight over them.
    """
    n = max(1, int(n))
    os.environ.update(dict.fromkeys(THREAD_VARIABLES, str(n)))
    torch = sys.modules.get("torch")  # imported later, it reads OMP_NUM_THREADS itself
    if torch is not None:
        torch.set_num_threads(n)
    from threadpoolctl import threadpool_limits

    threadpool_limits(n)
    return n


@contextlib.contextmanager
def job_log(
    paths: Sequence[str] | str | None, threads: int | None = None
) -> Iterator[logging.Logger]:
    """Send ``logging`` and stderr (tqdm's stream) to the job's log file for the block.

    With no log path everything stays on the terminal. ``threads`` (the rule's
    ``snakemake.threads``) caps the job's CPU threads (:func:`use_threads`).
    """
    threads = None if threads is None else use_threads(threads)
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
        if threads is not None:
            logger.info("CPU threads: %d (torch, BLAS, OpenMP)", threads)
        try:
            yield logger
        except BaseException:
            logger.exception("job failed")
            raise
        finally:
            root.removeHandler(handler)
            sys.stderr.flush()
