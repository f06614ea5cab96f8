"""Build a built-in tiny random-weight model (rule build_builtin_model)."""

from pathlib import Path

from musicsteer.logs import job_log
from musicsteer.models.tiny import build_builtin

with job_log(snakemake.log, snakemake.threads) as log:
    out = build_builtin(
        snakemake.wildcards.name, Path(snakemake.output[0]).parent, snakemake.params.seed
    )
    log.info("built %s in %s", snakemake.wildcards.name, out)
