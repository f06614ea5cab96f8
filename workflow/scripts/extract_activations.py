"""Record every clip's activations into float16/float32 shards (rule extract_activations)."""

from pathlib import Path

from musicsteer.activations import ExtractSettings, extract_manifest
from musicsteer.logs import job_log
from musicsteer.models.loading import load_musicgen
from musicsteer.storage import read_table, write_table

p = snakemake.params
with job_log(snakemake.log, snakemake.threads) as log:
    mg = load_musicgen(p.model, device=p.device, dtype=p.dtype)
    settings = ExtractSettings(
        model=p.model,
        sites=tuple(p.sites),
        position=p.position,
        text=p.text,
        melody_conditioning=p.melody_conditioning,
        batch_size=p.batch_size,
        shard_size=p.shard_size,
        store_dtype=p.store_dtype,
    )
    clips = read_table(snakemake.input.clips)
    clips_dir = Path(snakemake.input.clips).with_suffix("")
    index = extract_manifest(
        mg,
        clips,
        Path(snakemake.output.index).parent,
        settings,
        clips_dir=clips_dir,
        dataset=p.dataset,
    )
    write_table(index, snakemake.output.index)
    log.info("recorded %d clips × %s from %s", len(index), ", ".join(p.sites), p.model)
