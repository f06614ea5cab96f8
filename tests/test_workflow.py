"""The demo DAG end to end, through the real snakemake CLI, in a temporary copy."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
pytestmark = pytest.mark.workflow


def snakemake(workdir: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [SNAKEMAKE, "--cores", "2", *args], cwd=workdir, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=1200,
    )  # fmt: skip


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    work = tmp_path_factory.mktemp("demo")
    for item in ("workflow", "config", "profiles"):
        shutil.copytree(REPO / item, work / item)
    done = snakemake(work, "--configfile", "config/demo.yaml")
    assert done.returncode == 0, done.stderr[-4000:]
    return work, done


def test_demo_produces_the_genre_fusion_table(demo_run):
    work, _ = demo_run
    table = pd.read_csv(work / "results/tables/genre_fusion.csv")
    assert list(table.columns[:5]) == [
        "Track",
        "Genre 1",
        "Genre 1 Score",
        "Genre 2",
        "Genre 2 Score",
    ]
    pairs = [
        ("rock", "pop"),
        ("folk", "hiphop"),
        ("hiphop", "folk"),
        ("rock", "folk"),
        ("folk", "rock"),
    ]
    assert list(zip(table.source, table.target, strict=True)) == [
        p for p in pairs for _ in range(2)
    ]
    scores = table[["Genre 1 Score", "Genre 2 Score"]].to_numpy()
    assert ((scores >= 0) & (scores <= 1)).all()
    np.testing.assert_allclose(scores.sum(1), 1.0, atol=2e-4)  # 4-decimal CSV
    assert table.Track.iloc[3] == "Folk Hip-Hop"


def test_demo_wrote_every_stage(demo_run):
    work, _ = demo_run
    manifest = pd.read_parquet(work / "results/data/genres/manifest.parquet")
    assert manifest.groupby("label").size().to_dict() == {
        g: 12 for g in ["folk", "hiphop", "pop", "rock"]
    }
    index = pd.read_parquet(work / "results/activations/genres/index.parquet")
    assert index.clip_id.tolist() == manifest.clip_id.tolist()
    figures = ["genres/clustering", "genres/jaccard", "probe_accuracy_rock_to_pop",
               "syntheory_notes/clustering", "tasks/probe_accuracy_pitch_class"]  # fmt: skip
    for fig in figures:
        assert (work / f"results/figures/{fig}.png").stat().st_size > 10_000
        assert (work / f"results/figures/{fig}.pdf").exists()
    selection = pd.read_csv(
        work / "results/probing/tasks/instrument_C_major/selection.tsv", sep="\t"
    )
    assert set(selection.positive) == {"Flute", "Violin", "Xylophone"}
    vectors = sorted(
        p.name for p in (work / "results/vectors/tasks/instrument_C_major").glob("*.npz")
    )
    assert len(vectors) == 3 * 3 * 2 and "resid_mse_Flute.npz" in vectors
    samples = pd.read_parquet(work / "results/steering/rock_to_pop/samples.parquet")
    assert sorted(samples.kind.unique()) == ["original", "steered"]
    assert all((work / p).exists() for p in samples.path)
    notes = pd.read_parquet(work / "results/data/syntheory/notes/manifest.parquet")
    assert len(notes) == 4 * 12 and set(notes.program) == {0, 13, 40, 73}
    assert (work / "results/tasks/syntheory/index.tsv").exists()
    pair = pd.read_parquet(work / "results/tasks/genres/pair_rock_to_pop.parquet")
    assert pair.groupby("label").size().to_dict() == {"pop": 12, "rock": 12}
    clips = pd.read_parquet(work / "results/data/genres/clips.parquet")
    assert clips.clip_id.tolist() == manifest.clip_id.tolist()


def test_second_run_has_nothing_to_do(demo_run):
    work, _ = demo_run
    again = snakemake(work, "--configfile", "config/demo.yaml", "--dry-run")
    assert again.returncode == 0
    assert "Nothing to be done" in again.stdout + again.stderr


def test_paper_config_without_data_stops_before_any_job(tmp_path):
    for item in ("workflow", "config", "profiles"):
        shutil.copytree(REPO / item, tmp_path / item)
    done = snakemake(tmp_path, "results/tables/genre_fusion.csv", env={"HF_HUB_OFFLINE": "1"})
    assert done.returncode != 0
    assert "data.gtzan: no folder at resources/data/gtzan" in done.stderr
    assert "data.fma: no folder" in done.stderr and "FMA (fma_metadata/tracks.csv" in done.stderr
    assert "models.musicgen" in done.stderr and "hf download" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "results").exists()


def test_invalid_config_is_rejected_naming_the_key(tmp_path):
    for item in ("workflow", "config", "profiles"):
        shutil.copytree(REPO / item, tmp_path / item)
    (tmp_path / "bad.yaml").write_text("steering:\n  alpha: strong\n")
    done = snakemake(tmp_path, "--configfile", "config/demo.yaml", "bad.yaml", "--dry-run")
    assert (
        done.returncode != 0 and "steering.alpha" in done.stderr and "Traceback" not in done.stderr
    )
