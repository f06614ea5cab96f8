"""Assemble the paper's genre-fusion table from every pair's scores (rule genre_fusion_table)."""

from pathlib import Path

import pandas as pd

from musicsteer.data import write_table
from musicsteer.evaluation import fusion_markdown, fusion_table
from musicsteer.logs import job_log

p, out = snakemake.params, snakemake.output
with job_log(snakemake.log) as log:
    scores = pd.concat([pd.read_parquet(path) for path in snakemake.input.scores])
    table = fusion_table(scores, [tuple(pair) for pair in p.pairs], p.display)
    Path(out.csv).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out.csv, index=False, float_format="%.4f")
    Path(out.markdown).write_text(fusion_markdown(table))
    write_table(scores, out.long)
    log.info("genre fusion table:\n%s", fusion_markdown(table))
