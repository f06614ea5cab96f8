"""Render the mini models' training corpus, split by track (rule mini_corpus)."""

from pathlib import Path

from musicsteer.logs import job_log
from musicsteer.mini.corpus import render_training_corpus
from musicsteer.storage import write_table

p = snakemake.params
with job_log(snakemake.log, snakemake.threads) as log:
    manifest = render_training_corpus(
        Path(snakemake.output.manifest).parent,
        p.genres,
        p.tracks_per_genre,
        p.track_seconds,
        seed=p.seed,
        held_out=p.held_out,
    )
    write_table(manifest, snakemake.output.manifest)
    log.info("rendered %d tracks: %s", len(manifest), manifest.groupby("split").size().to_dict())
