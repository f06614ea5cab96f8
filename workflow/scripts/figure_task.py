"""Probe accuracy per layer for one task (rule figure_task)."""

import pandas as pd

from musicsteer.figures import plot_probe_accuracy
from musicsteer.logs import job_log

w = snakemake.wildcards
with job_log(snakemake.log):
    probes = pd.read_parquet(snakemake.input.probes)
    classes = [c for c in probes.positive.unique() if c != "__all__"]
    if "__all__" in set(probes.positive):  # multi-class: argmax accuracy, chance 1/k
        shown, chance = probes[probes.positive == "__all__"], 1 / len(classes)
    else:  # binary, or per-class probes averaged over classes
        keys = ["site", "index", "method"]
        shown, chance = probes.groupby(keys, as_index=False).accuracy.mean(), 0.5
    plot_probe_accuracy(shown, snakemake.output[0], chance=chance, title=w.task)
