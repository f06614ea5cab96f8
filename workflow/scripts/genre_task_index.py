"""The index of the genre task sets: task, kind, classes, n (rule genre_task_index)."""

from musicsteer.logs import job_log
from musicsteer.storage import write_table
from musicsteer.tasks import index_of_task_files

with job_log(snakemake.log, snakemake.threads) as log:
    index = index_of_task_files(snakemake.input.tasks)
    write_table(index, snakemake.output.index)
    log.info("%d task sets: %s", len(index), ", ".join(index["task"]))
