"""Fetch one genre source into its configured folder (rule download_source, a local job)."""

import json
from pathlib import Path

from musicsteer.corpora.download import download_source
from musicsteer.logs import job_log

p, w = snakemake.params, snakemake.wildcards
with job_log(snakemake.log, snakemake.threads) as log:
    record = download_source(w.source, Path(p.dest), fma_subset=p.fma_subset)
    Path(snakemake.output[0]).write_text(json.dumps(record, indent=2, default=str) + "\n")
    log.info("%s is in %s", w.source, p.dest)
