"""SynTheory task sets: pitch class, chord quality, progression, instrument (rule syntheory_tasks)."""

from pathlib import Path

from musicsteer.logs import job_log
from musicsteer.storage import read_table
from musicsteer.tasks import syntheory_tasks, write_tasks

p = snakemake.params
with job_log(snakemake.log, snakemake.threads) as log:
    manifests = {
        c: read_table(f) for c, f in zip(p.concepts, snakemake.input.manifests, strict=True)
    }
    tasks = syntheory_tasks(
        manifests, p.root, p.quality, p.key, p.instruments, p.seed, p.instrument_chords
    )
    paths = write_tasks(tasks, Path(snakemake.output.index).parent)
    log.info("%d SynTheory task sets: %s", len(paths), ", ".join(sorted(tasks)))
