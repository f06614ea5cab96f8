"""A listening page: steered samples beside their originals (rules listen_pair, listen_instruments)."""

from pathlib import Path

import pandas as pd

from musicsteer.logs import job_log
from musicsteer.report import listening_pages

inp, p, w = snakemake.input, snakemake.params, snakemake.wildcards
with job_log(snakemake.log) as log:
    tables = [pd.read_parquet(inp[k]) for k in ("originals", "steered") if hasattr(inp, k)]
    samples = pd.concat(tables, ignore_index=True)
    scores = pd.read_parquet(inp.scores)
    if hasattr(w, "source"):
        title, label_set = f"{w.source} → {w.target}", "pair"
    else:
        title, label_set = "melody → instruments", "all"
    intro = (
        "Each row: one prompt and seed. The original and every steered sample share "
        "prompt, seed and batch; under each player, the zero-shot CLAP scores."
    )
    pages = listening_pages(samples, scores, title, intro, label_set, p.settings, p.max_seconds)
    folder = Path(snakemake.output[0])
    folder.mkdir(parents=True, exist_ok=True)
    for i, page in enumerate(pages, start=1):
        (folder / f"page_{i:02d}.html").write_text(page)
    log.info("%s: %d pages, largest %.2f MB", folder, len(pages), max(map(len, pages)) / 1e6)
