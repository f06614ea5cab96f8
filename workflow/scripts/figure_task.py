"""Probe accuracy per layer for one task (rule figure_task)."""

from musicsteer.logs import job_log
from musicsteer.report.figures import plot_task_accuracy
from musicsteer.storage import read_table

with job_log(snakemake.log, snakemake.threads):
    probes = read_table(snakemake.input.probes)
    plot_task_accuracy(probes, snakemake.output[0], title=snakemake.wildcards.task)
