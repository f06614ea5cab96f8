"""Balanced genre task sets: one-vs-rest, pairwise, multi-label (rule genre_tasks)."""

from pathlib import Path

from musicsteer.logs import job_log
from musicsteer.storage import read_table
from musicsteer.tasks import build_genre_tasks, write_tasks

p = snakemake.params
with job_log(snakemake.log) as log:
    manifest = read_table(snakemake.input.manifest)
    tasks = build_genre_tasks(manifest, [tuple(x) for x in p.pairs], p.genres, p.seed)
    paths = write_tasks(tasks, Path(snakemake.output.index).parent)
    log.info("%d task sets: %s", len(paths), ", ".join(sorted(tasks)))
