"""Unsteered baseline generations of one source genre's prompts (rule generate_originals)."""

from pathlib import Path

from musicsteer.data import write_table
from musicsteer.logs import job_log
from musicsteer.models import load_musicgen
from musicsteer.steering import generate_originals, genre_prompts

p, w = snakemake.params, snakemake.wildcards
with job_log(snakemake.log) as log:
    mg = load_musicgen(p.model, device=p.device, dtype=p.dtype)
    prompts = genre_prompts(snakemake.input.prompts, w.source)
    samples = generate_originals(
        mg,
        prompts,
        p.seeds,
        Path(snakemake.output.samples).parent,
        p.max_new_tokens,
        p.guidance_scale,
        top_k=p.top_k,
        top_p=p.top_p,
        temperature=p.temperature,
    )
    samples["source"] = w.source
    write_table(samples, snakemake.output.samples)
    log.info("%d originals (%d prompts × %d seeds)", len(samples), len(prompts), len(p.seeds))
