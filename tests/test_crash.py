"""What a crash leaves behind: SIGKILL of the whole run at several moments, then files
damaged in place. Each rerun finishes with outputs byte-identical to an uninterrupted
run, or names the damaged file."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from musicsteer import activations as act
from musicsteer.corpora import clipstore
from musicsteer.steering.vector import SteeringVector
from musicsteer.storage import CorruptFileError, read_table
from tests.conftest import DEMO, LOGS, REPO, RESULTS, SNAKEMAKE, snakemake
from tests.corpora.syntheory_helpers import needs_soundfont

# the clip store and the genre activations: rendering, decoding and a model pass
TARGET = f"{RESULTS}/activations/genres/index.parquet"
# when to kill: the first rendered track, the stored clips, the extraction job running
MOMENTS = (
    "resources/demo/gtzan/genres_original/*/*.wav",
    f"{RESULTS}/data/genres/clips/*.npy",
    f"{LOGS}/extract_activations/genres.log",
)


def _checksums(work: Path) -> dict[str, str]:
    folders = [
        work / f"{RESULTS}/data",
        work / f"{RESULTS}/activations/genres",
        work / "resources/demo",
    ]
    return {
        str(p.relative_to(work)): hashlib.sha1(p.read_bytes()).hexdigest()
        for folder in folders
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _kill_when(work: Path, pattern: str, timeout: float = 600) -> bool:
    """Start the run, SIGKILL its process group once ``pattern`` exists; False if it finished.

    Each start first runs ``--unlock``, as a user must after a kill: the lock remains.
    """
    snakemake(work, "--unlock", TARGET, *DEMO)
    with open(work / "killed.log", "a") as log:
        run = subprocess.Popen(
            [SNAKEMAKE, "--cores", "2", TARGET, *DEMO],
            cwd=work,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    while run.poll() is None and time.monotonic() < deadline:
        if any(work.glob(pattern)):
            time.sleep(1.0)  # into the work that follows
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
            return True
        time.sleep(0.2)
    if run.poll() is None:
        os.killpg(run.pid, signal.SIGKILL)
    return False


def _fresh_workdir(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    for item in ("workflow", "config", "profiles"):
        shutil.copytree(REPO / item, work / item)
    return work


@pytest.mark.workflow
@needs_soundfont
def test_sigkill_at_three_moments_then_a_rerun_equals_an_uninterrupted_run(demo_run, tmp_path):
    """The demo run of the session is the uninterrupted run (same config, same code)."""
    uninterrupted, _ = demo_run
    work = _fresh_workdir(tmp_path)
    killed = [moment for moment in MOMENTS if _kill_when(work, moment)]
    assert killed == list(MOMENTS), (killed, (work / "killed.log").read_text()[-3000:])
    snakemake(work, "--unlock", TARGET, *DEMO)  # a killed run leaves its lock
    done = snakemake(work, TARGET, *DEMO)
    assert done.returncode == 0, done.stderr[-4000:]
    want = _checksums(uninterrupted)
    got = _checksums(work)
    assert got == {k: v for k, v in want.items() if k in got} and got, sorted(
        set(want.items()) ^ set(got.items())
    )[:10]
    assert {k for k in want if k.startswith(f"{RESULTS}/activations/genres/")} <= set(got)


def _noise(row, rate: int) -> np.ndarray:
    seed = int(hashlib.sha1(row.clip_id.encode()).hexdigest()[:8], 16)
    return np.random.default_rng(seed).normal(0, 0.1, int(rate * 0.5)).astype(np.float32)


def test_truncated_shards_are_rebuilt_not_reused(tiny, tmp_path):
    """Clip, codes and activation shards cut short in place: the next run rebuilds them."""
    manifest = pd.DataFrame(
        {"clip_id": ["a", "b", "c"], "label": ["x", "y", "x"], "source": "-", "offset_s": 0.0}
    ).assign(duration_s=0.5)
    clips, acts = tmp_path / "clips", tmp_path / "acts"
    settings = act.ExtractSettings(model="tiny", batch_size=2, shard_size=2)

    def run() -> dict[Path, bytes]:
        stored = clipstore.write_clip_shards(manifest, clips, loader=_noise, progress=False)
        act.extract_manifest(tiny, stored, acts, settings, False, clips)
        return {p: p.read_bytes() for p in sorted([*clips.rglob("*.npy"), *acts.rglob("*.npy")])}

    intact = run()
    assert any("codes-" in str(p) for p in intact) and any("shards" in str(p) for p in intact)
    for path, data in intact.items():  # what a writer that is not atomic leaves behind
        path.write_bytes(data[: len(data) // 2])
    assert run() == intact


def test_damaged_tables_and_vectors_are_reported_by_path(tmp_path):
    table = tmp_path / "samples.parquet"
    pd.DataFrame({"a": [1, 2, 3]}).to_parquet(table)
    table.write_bytes(table.read_bytes()[:-20])
    with pytest.raises(CorruptFileError, match=f"{table}: not a readable table"):
        read_table(table)
    vector = tmp_path / "pop.npz"
    SteeringVector(np.ones((3, 4), np.float32), layer=1, site="resid", model="m").save(vector)
    vector.write_bytes(vector.read_bytes()[:100])
    with pytest.raises(CorruptFileError, match=f"{vector}: not a readable steering vector"):
        SteeringVector.load(vector)
