"""The paper's genre-fusion table from every pair's scores (rule genre_fusion_table)."""

from pathlib import Path

from musicsteer.evaluation.stats import AlphaRule
from musicsteer.evaluation.tables import (
    FUSION_HEAD,
    fusion_cells,
    fusion_markdown,
    genre_fusion,
    table_html,
)
from musicsteer.logs import job_log
from musicsteer.storage import read_table, write_table

p, inp, out = snakemake.params, snakemake.input, snakemake.output
with job_log(snakemake.log, snakemake.threads) as log:
    pairs = [tuple(pair) for pair in p.pairs]
    scores = {pair: read_table(path) for pair, path in zip(pairs, inp.scores, strict=True)}
    table, long, selection = genre_fusion(
        scores, p.headline, AlphaRule(**p.rule), p.display, p.select_seeds
    )
    Path(out.csv).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out.csv, index=False, float_format="%.4f")
    Path(out.markdown).write_text(fusion_markdown(table))
    Path(out.html).write_text(table_html(p.title, FUSION_HEAD, fusion_cells(table), table))
    write_table(long, out.long)
    selection.to_csv(out.selection, sep="\t", index=False)
    log.info("genre fusion table:\n%s", fusion_markdown(table))
    log.info("alpha choices:\n%s", selection.to_string(index=False))
