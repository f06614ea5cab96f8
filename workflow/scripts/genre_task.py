"""One balanced genre task set: one-vs-rest, pairwise or multi-label (rule genre_task)."""

from musicsteer.logs import job_log
from musicsteer.storage import read_table, write_table
from musicsteer.tasks import build_genre_task

p = snakemake.params
with job_log(snakemake.log, snakemake.threads) as log:
    name = snakemake.wildcards.genre_task
    task = build_genre_task(read_table(snakemake.input.manifest), name, p.spec, p.seed)
    write_table(task, snakemake.output.task)
    log.info("%s (%s): %d clips", name, p.spec["kind"], len(task))
