"""The demo DAG end to end, through the real snakemake CLI, in a temporary copy."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from musicsteer.activations import load_token_norms
from musicsteer.config import RESULT_FOLDERS
from tests.conftest import DEMO, LOGS, RESULTS, snakemake

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.workflow


def test_demo_produces_the_genre_fusion_table(demo_run):
    work, _ = demo_run
    table = pd.read_csv(work / f"{RESULTS}/tables/genre_fusion.csv")
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
    manifest = pd.read_parquet(work / f"{RESULTS}/data/genres/manifest.parquet")
    assert manifest.groupby("label").size().to_dict() == {
        g: 12 for g in ["folk", "hiphop", "pop", "rock"]
    }
    index = pd.read_parquet(work / f"{RESULTS}/activations/genres/index.parquet")
    assert index.clip_id.tolist() == manifest.clip_id.tolist()
    figures = [
        "genres/clustering",
        "genres/jaccard",
        "tasks/probe_accuracy_pair_rock_to_pop",
        "syntheory_notes/clustering",
        "tasks/probe_accuracy_pitch_class",
    ]
    for fig in figures:
        assert (work / f"{RESULTS}/figures/{fig}.png").stat().st_size > 10_000
        assert (work / f"{RESULTS}/figures/{fig}.pdf").exists()
    selection = pd.read_csv(work / f"{RESULTS}/probing/tasks/instrument/selection.tsv", sep="\t")
    assert set(selection.positive) == {"Flute", "Violin", "Xylophone"}
    vectors = sorted(p.name for p in (work / f"{RESULTS}/vectors/tasks/instrument").glob("*.npz"))
    assert len(vectors) == 3 * 3 * 2 and "resid_mse_Flute.npz" in vectors
    # α's unit for mean-pooled SynTheory vectors: per-position norms, recorded and used
    chords = work / f"{RESULTS}/activations/syntheory_chords"
    assert load_token_norms(chords, "resid") is not None
    assert "no token norms" not in (work / f"{LOGS}/probe_task/instrument.log").read_text()
    notes = pd.read_parquet(work / f"{RESULTS}/data/syntheory/notes/manifest.parquet")
    assert len(notes) == 4 * 12 * 2 and set(notes.program) == {0, 13, 40, 73}
    assert (work / f"{RESULTS}/tasks/syntheory/index.tsv").exists()
    pair = pd.read_parquet(work / f"{RESULTS}/tasks/genres/pair_rock_to_pop.parquet")
    assert pair.groupby("label").size().to_dict() == {"pop": 12, "rock": 12}
    clips = pd.read_parquet(work / f"{RESULTS}/data/genres/clips.parquet")
    assert clips.clip_id.tolist() == manifest.clip_id.tolist()


def test_demo_steering_grid_and_long_results(demo_run):
    work, _ = demo_run
    originals = pd.read_parquet(work / f"{RESULTS}/steering/originals/rock/samples.parquet")
    steered = pd.read_parquet(work / f"{RESULTS}/steering/rock_to_pop/samples.parquet")
    assert len(originals) == 3 * 2  # 3 rock prompts × 2 seeds
    # 2 sites × 3 methods × 2 layer choices × 2 α × 3 prompts × 2 seeds
    assert len(steered) == 2 * 3 * 2 * 2 * 3 * 2 and set(steered.alpha) == {0.1, 0.4}
    assert all((work / p).exists() for p in [*originals.path, *steered.path])
    assert steered.path.str.contains("pop_attn_bce_all_a0.4_p02_s0.wav").any()
    long = pd.read_parquet(work / f"{RESULTS}/tables/genre_fusion_long.parquet")
    assert {
        "source",
        "target",
        "site",
        "method",
        "layer",
        "alpha",
        "n",
        "mean",
        "ci_low",
        "ci_high",
        "metric",
    } <= set(long.columns)
    assert set(long.metric) == {"original", "steered", "gain", "preservation"}
    assert (
        len(
            long[(long.metric == "preservation") & (long.source == "rock") & (long.target == "pop")]
        )
        == 24
    )
    table = pd.read_csv(work / f"{RESULTS}/tables/genre_fusion.csv")
    chosen = pd.read_csv(work / f"{RESULTS}/tables/genre_fusion_alpha.tsv", sep="\t")
    head = chosen[(chosen.site == "resid") & (chosen.method == "mse") & (chosen.layers == "best")]
    steered_rows = table[table.kind == "steered"]
    assert steered_rows.alpha.tolist() == head.alpha.tolist() and head.reason.str.len().min() > 10
    instruments = pd.read_csv(work / f"{RESULTS}/tables/instrument_transfer.csv")
    assert instruments.Track.tolist() == [
        "Melody input",
        "Ground Truth",
        "GT Flute",
        "GT Violin",
        "GT Xylophone",
    ]
    scores = instruments[["Flute Score", "Violin Score", "Xylophone Score"]].to_numpy()
    np.testing.assert_allclose(scores.sum(1), 1.0, atol=3e-4)
    for fig in ("steering/alpha_sweep_rock_to_pop", "steering/alpha_sweep_instruments"):
        assert (work / f"{RESULTS}/figures/{fig}.png").stat().st_size > 10_000


def test_demo_scores_are_recomputable_with_the_cli(demo_run):
    work, _ = demo_run
    scores = pd.read_parquet(work / f"{RESULTS}/evaluation/rock_to_pop/scores.parquet")
    pair = scores[(scores.label_set == "pair") & (scores.kind == "steered")]
    pair = pair[pair.path.isin(pair.path.unique()[:2])]
    cli = str(Path(sys.executable).with_name("musicsteer"))
    for path, rows in pair.groupby("path"):
        done = subprocess.run(
            [
                cli,
                "score",
                path,
                "--labels",
                "rock",
                "pop",
                "--model",
                "tiny-clap",
                "--models-dir",
                "resources/models",
                "--json",
            ],
            cwd=work,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
        assert done.returncode == 0, done.stderr
        got = json.loads(done.stdout.strip().splitlines()[-1])["scores"]
        want = rows.set_index("label").probability
        assert got["rock"] == pytest.approx(want["rock"], abs=1e-4)
        assert got["pop"] == pytest.approx(want["pop"], abs=1e-4)


def test_heavy_jobs_declare_threads_and_leave_benchmarks(demo_run):
    """Every model job wrote a Snakemake benchmark (seconds, peak memory), and the demo's
    `threads: 1` reached the jobs: each says in its log how many threads it holds to."""
    work, _ = demo_run
    bench = work / f"{RESULTS}/benchmarks"
    for rule in ("extract_activations", "probe_task", "generate_baseline", "steer", "score"):
        tables = list((bench / rule).rglob("*.tsv"))
        assert tables, f"no benchmark for {rule}"
        first = pd.read_csv(tables[0], sep="\t")
        assert {"s", "max_rss"} <= set(first.columns) and (first.s > 0).all()
    for rule in ("extract_activations", "steer", "score"):
        logs = list((work / LOGS / rule).rglob("*.log"))
        assert logs and all("CPU threads: 1 " in log.read_text() for log in logs), rule


def test_second_run_has_nothing_to_do(demo_run):
    work, _ = demo_run
    again = snakemake(work, "--dry-run", *DEMO)
    assert again.returncode == 0
    assert "Nothing to be done" in again.stdout + again.stderr


def test_runs_of_other_configs_never_write_into_a_finished_run(demo_run, tmp_path):
    """Another run name plans every job again in its own folders (data in resources/ is
    shared): the finished run's results and logs are never an output."""
    work, _ = demo_run
    (tmp_path / "other.yaml").write_text("run: other\n")
    done = snakemake(work, "--dry-run", *DEMO, str(tmp_path / "other.yaml"))
    assert done.returncode == 0, done.stderr[-2000:]
    outputs = re.findall(r"^\s+(?:output|log): (.+)$", done.stdout, re.M)
    paths = [p for line in outputs for p in line.split(", ")]
    assert any(p.startswith("results/other/tables/") for p in paths)
    outside = [p for p in paths if not p.startswith(("results/other/", "logs/other/"))]
    assert outside == [], "outputs outside the run's folders"
    # a named run beside the paper's folders in results/ must not take one of their names
    folders = {p.name for p in (work / RESULTS).iterdir() if p.is_dir()}
    assert folders <= set(RESULT_FOLDERS), folders - set(RESULT_FOLDERS)


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
    (tmp_path / "bad.yaml").write_text("steering:\n  alphas: [strong]\n")
    done = snakemake(tmp_path, "--dry-run", *DEMO, "bad.yaml")
    assert (
        done.returncode != 0
        and "steering.alphas.0" in done.stderr
        and "Traceback" not in done.stderr
    )


def test_a_sharp_task_root_names_the_files_the_package_writes(tmp_path):
    """The DAG takes task names from the package: F# → ``Fs``, as the task tables are named."""
    for item in ("workflow", "config", "profiles"):
        shutil.copytree(REPO / item, tmp_path / item)
    (tmp_path / "sharp.yaml").write_text(
        'syntheory:\n  task_root: "F#"\n  task_quality: minor\n  instrument_chords: task_root\n'
    )
    done = snakemake(tmp_path, "--dry-run", *DEMO, "sharp.yaml")
    assert done.returncode == 0, done.stderr[-2000:]
    planned = done.stdout + done.stderr
    for name in ("chord_quality_Fs", "instrument_Fs_minor"):
        assert f"{RESULTS}/tasks/syntheory/{name}.parquet" in planned
    assert "F#" not in "".join(line for line in planned.splitlines() if f"{RESULTS}/" in line)


SHARP = REPO / "tests/configs/sharp.yaml"


@pytest.fixture(scope="module")
def sharp_run(demo_run, tmp_path_factory):
    """The second test config, run on a copy of the finished demo (its clips and
    activations are reused; what the config changes reruns)."""
    demo, _ = demo_run
    work = tmp_path_factory.mktemp("sharp")
    shutil.copytree(demo, work, dirs_exist_ok=True, symlinks=True)
    targets = [f"{RESULTS}/tables/genre_fusion.csv", f"{SHARP_TASK}/selection.tsv"]
    done = snakemake(work, *targets, *DEMO, str(SHARP))
    assert done.returncode == 0, done.stderr[-4000:]
    return work


SHARP_TASK = f"{RESULTS}/probing/tasks/chord_quality_Fs"


def test_sharp_root_ari_layers_and_no_transfer_run_end_to_end(sharp_run):
    selection = pd.read_csv(sharp_run / SHARP_TASK / "selection.tsv", sep="\t")
    assert set(selection.positive) == {"major", "minor", "augmented", "diminished"}
    assert selection.evidence.str.startswith("highest KMeans ARI").all()
    pair = pd.read_csv(
        sharp_run / f"{RESULTS}/probing/tasks/pair_rock_to_pop/selection.tsv", sep="\t"
    )
    assert pair.evidence.str.startswith("highest KMeans ARI").all()
    table = pd.read_csv(sharp_run / f"{RESULTS}/tables/genre_fusion.csv")
    assert table.Track.tolist() == ["Rock", "Rock Pop"]
    assert table[table.kind == "steered"].alpha.tolist() == [0.4]
    planned = snakemake(sharp_run, "-n", *DEMO, str(SHARP))
    assert planned.returncode == 0, planned.stderr[-2000:]
    assert "render_melody" not in planned.stdout  # instrument transfer is off
    assert "instrument_transfer_table" not in planned.stdout
