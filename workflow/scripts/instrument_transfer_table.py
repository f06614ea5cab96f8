"""The paper's instrument-transfer table (rule instrument_transfer_table)."""

from pathlib import Path

from musicsteer.evaluation.stats import AlphaRule
from musicsteer.evaluation.tables import (
    instrument_cells,
    instrument_head,
    instrument_markdown,
    instrument_transfer,
    table_html,
)
from musicsteer.logs import job_log
from musicsteer.storage import read_table, write_table

p, inp, out = snakemake.params, snakemake.input, snakemake.output
with job_log(snakemake.log, snakemake.threads) as log:
    scores = read_table(inp.scores)
    table, long, selection = instrument_transfer(
        scores, p.headline, AlphaRule(**p.rule), p.select_seeds
    )
    instruments = [c.removesuffix(" Score") for c in table.columns if c.endswith(" Score")]
    Path(out.csv).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out.csv, index=False, float_format="%.4f")
    Path(out.markdown).write_text(instrument_markdown(table, instruments))
    head, cells = instrument_head(instruments), instrument_cells(table, instruments)
    Path(out.html).write_text(table_html(p.title, head, cells, table))
    write_table(long, out.long)
    selection.to_csv(out.selection, sep="\t", index=False)
    log.info("instrument transfer table:\n%s", instrument_markdown(table, instruments))
