"""Probe accuracy per layer, site and method for one pair (rule figure_probes)."""

import pandas as pd

from musicsteer.figures import plot_probe_accuracy
from musicsteer.logs import job_log

w = snakemake.wildcards
with job_log(snakemake.log):
    plot_probe_accuracy(
        pd.read_parquet(snakemake.input.probes),
        snakemake.output[0],
        title=f"{w.target} vs {w.source}",
    )
