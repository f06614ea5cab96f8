"""Cut one genre source into clips; write its manifest and skipped table (rule clip_source)."""

import pandas as pd

from musicsteer.corpora.genres import build_manifest, source_tracks
from musicsteer.logs import job_log
from musicsteer.storage import write_table

p, w = snakemake.params, snakemake.wildcards
with job_log(snakemake.log, snakemake.threads) as log:
    tracks, unlisted = source_tracks(w.source, p.root, p.genres, p.genre_map, p.fma_subset)
    manifest, skipped = build_manifest(tracks, p.clip_seconds, p.silence_db)
    skipped = pd.concat([unlisted, skipped], ignore_index=True)
    write_table(manifest, snakemake.output.manifest)
    write_table(skipped, snakemake.output.skipped)
    counts = manifest.label.value_counts().sort_index().to_dict()
    log.info("%s: %d clips from %d tracks: %s", w.source, len(manifest), len(tracks), counts)
    log.info(
        "%d files or clips skipped, by name and reason, in %s",
        len(skipped),
        snakemake.output.skipped,
    )
