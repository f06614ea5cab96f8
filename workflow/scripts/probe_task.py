"""Probe one task per layer, site and method; pick layers; save one vector per class (rule probe_task)."""

import re
from pathlib import Path

from musicsteer.activations import load_task_activations
from musicsteer.logs import job_log
from musicsteer.probing.fit import ProbeSettings, fit_task
from musicsteer.probing.selection import summary_table
from musicsteer.storage import read_table, write_table

p, w, out = snakemake.params, snakemake.wildcards, snakemake.output
with job_log(snakemake.log, snakemake.threads) as log:
    task = read_table(snakemake.input.task)
    acts, norms = load_task_activations(Path(snakemake.input.index).parent, p.sites, task)
    if any(n is None for n in norms.values()):
        log.warning("no token norms recorded: alpha units use the pooled activations' norms")
    clustering = read_table(snakemake.input.clustering)
    fit = fit_task(acts, task, w.task, clustering, ProbeSettings(**p.probing), norms)
    vectors = Path(out.vectors)
    vectors.mkdir(parents=True, exist_ok=True)
    for vec in fit.vectors:
        name = re.sub(r"[^A-Za-z0-9_-]+", "-", vec.positive)
        vec.save(vectors / f"{vec.site}_{vec.method}_{name}.npz")
    write_table(fit.probes, out.probes)
    write_table(summary_table(fit.probes, clustering), out.summary)
    write_table(fit.selection, out.selection)
    log.info("%s: layers chosen\n%s", w.task, fit.selection.to_string(index=False))
