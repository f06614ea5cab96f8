"""Decode every clip once into 32-kHz int16 shards (rule store_clips)."""

from pathlib import Path

from musicsteer.corpora.clipstore import write_clip_shards
from musicsteer.logs import job_log
from musicsteer.storage import read_table, write_table

p = snakemake.params
with job_log(snakemake.log, snakemake.threads) as log:
    manifest = read_table(snakemake.input.manifest)
    folder = Path(snakemake.output.clips).with_suffix("")
    stored = write_clip_shards(manifest, folder, p.sample_rate, p.shard_size)
    write_table(stored, snakemake.output.clips)
    log.info("%d clips in %d shards under %s", len(stored), stored.clip_shard.nunique(), folder)
