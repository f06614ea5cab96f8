"""One samples table for a route from its steering jobs' tables (rule merge_steered)."""

from musicsteer.logs import job_log
from musicsteer.steering.grid import merge_samples
from musicsteer.storage import write_table

with job_log(snakemake.log, snakemake.threads) as log:
    samples = merge_samples(snakemake.input.parts)
    write_table(samples, snakemake.output.samples)
    log.info("%d steered samples from %d jobs", len(samples), len(snakemake.input.parts))
