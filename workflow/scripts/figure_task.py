"""Probe accuracy per layer for one task (rule figure_task)."""

import pandas as pd

from musicsteer.logs import job_log
from musicsteer.report.figures import plot_task_accuracy

with job_log(snakemake.log):
    probes = pd.read_parquet(snakemake.input.probes)
    plot_task_accuracy(probes, snakemake.output[0], title=snakemake.wildcards.task)
