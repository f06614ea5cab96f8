"""Cut genre tracks into clips and write the manifest (rule clip_genres)."""

from musicsteer.data import build_manifest, gtzan_tracks, write_table
from musicsteer.logs import job_log

p = snakemake.params
with job_log(snakemake.log) as log:
    tracks = gtzan_tracks(p.gtzan, p.genres)
    manifest, skipped = build_manifest(tracks, p.clip_seconds, p.silence_db, p.max_clips, p.seed)
    write_table(manifest, snakemake.output.manifest)
    write_table(skipped, snakemake.output.skipped)
    counts = manifest.label.value_counts().sort_index().to_dict()
    log.info("%d clips from %d tracks: %s", len(manifest), len(tracks), counts)
    log.info("%d files or clips skipped (see %s)", len(skipped), snakemake.output.skipped)
    if manifest.empty:
        raise SystemExit(f"no usable clips under {p.gtzan}; see {snakemake.output.skipped}")
