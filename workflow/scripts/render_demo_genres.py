"""Render the offline demo genre corpus in GTZAN layout (rule render_demo_genres)."""

from musicsteer.logs import job_log
from musicsteer.render.genres import render_genre_corpus
from musicsteer.storage import write_table

p = snakemake.params
with job_log(snakemake.log, snakemake.threads) as log:
    table = render_genre_corpus(
        p.root, p.genres, p.tracks, seconds=p.seconds, seed=p.seed, soundfont=p.soundfont
    )
    write_table(table, snakemake.output[0])
    log.info("rendered %d tracks of %s into %s", len(table), ", ".join(p.genres), p.root)
