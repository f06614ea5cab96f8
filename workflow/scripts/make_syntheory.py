"""Render (or fetch) one SynTheory concept; silent clips go to the skipped table (rule make_syntheory)."""

from pathlib import Path

from musicsteer.corpora.syntheory import CLIP_SECONDS, select_items
from musicsteer.corpora.syntheory_hub import load_hub_syntheory
from musicsteer.corpora.syntheory_render import render_items, split_silent
from musicsteer.logs import job_log
from musicsteer.storage import write_table

p, w = snakemake.params, snakemake.wildcards
with job_log(snakemake.log, snakemake.threads) as log:
    if p.source == "hub":
        manifest = load_hub_syntheory(w.concept, p.audio_dir)
    else:
        items = select_items(w.concept, **p.subset)
        log.info("rendering %d %s clips on %d threads", len(items), w.concept, snakemake.threads)
        manifest = render_items(
            items,
            p.audio_dir,
            soundfont=p.soundfont,
            threads=snakemake.threads,
            silence_db=p.silence_db,
        )
    kept, skipped = split_silent(manifest, p.silence_db)
    # the clip store reads windows of source files, like genre clips
    kept = kept.assign(
        source=[str(Path(p.audio_dir) / path) for path in kept.path],
        offset_s=0.0,
        duration_s=CLIP_SECONDS,
    )
    write_table(kept, snakemake.output.manifest)
    write_table(skipped, snakemake.output.skipped)
    log.info("%s: %d clips kept, %d silent skipped", w.concept, len(kept), len(skipped))
