"""Target gain, source score and preservation against α (rules figure_alpha_sweep, figure_instrument_sweep)."""

import pandas as pd

from musicsteer.figures import plot_alpha_sweep
from musicsteer.logs import job_log

w = snakemake.wildcards
source = w.get("source")
with job_log(snakemake.log):
    title = f"{source} → {w.target}" if source else "melody → instruments"
    plot_alpha_sweep(
        pd.read_parquet(snakemake.input.sweep),
        snakemake.output[0],
        source,
        snakemake.params.label_set,
        title,
    )
