"""Job logs and the thread budget every pipeline script applies (rule ``threads:``)."""

from __future__ import annotations

import json
import subprocess
import sys

from musicsteer.logs import job_log

PROBE = """
import json, os, torch
from threadpoolctl import threadpool_info
from musicsteer.logs import job_log
before = torch.get_num_threads()
with job_log(None, threads=1):
    pools = [p["num_threads"] for p in threadpool_info()]
    print(json.dumps({"before": before, "torch": torch.get_num_threads(), "pools": pools,
                      "omp": os.environ["OMP_NUM_THREADS"]}))
"""


def test_a_job_is_held_to_its_threads():
    """torch, every BLAS/OpenMP pool and the processes a job starts get ``threads``."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=120
    )
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["torch"] == 1 and seen["omp"] == "1"
    assert seen["pools"] and set(seen["pools"]) == {1}, seen


def test_job_log_writes_messages_and_stderr_to_the_log(tmp_path):
    log_file = tmp_path / "logs" / "job.log"
    with job_log([str(log_file)], threads=1) as log:
        log.info("hello from the job")
        print("progress bar text", file=sys.stderr)
    text = log_file.read_text()
    assert "hello from the job" in text and "progress bar text" in text
    assert "CPU threads: 1 " in text
