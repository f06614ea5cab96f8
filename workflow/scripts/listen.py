"""Listening pages: each route's samples with their CLAP scores (rule listen)."""

from pathlib import Path

import pandas as pd

from musicsteer.logs import job_log
from musicsteer.report.pages import chosen_alphas, listening_pages
from musicsteer.steering.routes import Route
from musicsteer.storage import read_table

inp, p = snakemake.input, snakemake.params
with job_log(snakemake.log, snakemake.threads) as log:
    route = Route(**p.route)
    samples = pd.concat([read_table(inp.originals), read_table(inp.steered)])
    intro = (
        "Each row: one prompt and seed. The original and every steered sample share "
        "prompt, seed and batch; under each player, the zero-shot CLAP scores."
    )
    pages = listening_pages(
        samples.reset_index(drop=True),
        read_table(inp.scores),
        route.title,
        intro,
        route.headline_labels,
        p.settings,
        p.max_seconds,
        chosen=chosen_alphas(read_table(inp.selection), route.label_sets.get("pair", [None])[0]),
    )
    folder = Path(snakemake.output[0])
    folder.mkdir(parents=True, exist_ok=True)
    for i, page in enumerate(pages, start=1):
        (folder / f"page_{i:02d}.html").write_text(page)
    log.info("%s: %d pages, largest %.2f MB", folder, len(pages), max(map(len, pages)) / 1e6)
