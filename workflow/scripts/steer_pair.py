"""Generate original and steered audio for one pair (rule steer_pair)."""

from pathlib import Path

import pandas as pd

from musicsteer.data import write_table
from musicsteer.logs import job_log
from musicsteer.models import load_musicgen
from musicsteer.steering import SteeringVector, generate_pair_samples

p, w = snakemake.params, snakemake.wildcards
with job_log(snakemake.log) as log:
    mg = load_musicgen(p.model, device=p.device, dtype=p.dtype)
    vector = SteeringVector.load(snakemake.input.vector)
    prompts = pd.read_csv(snakemake.input.prompts, sep="\t")
    prompts = prompts[prompts.genre == w.source].prompt.tolist()
    if not prompts:
        raise SystemExit(f"{snakemake.input.prompts} has no prompt for genre {w.source!r}")
    samples = generate_pair_samples(
        mg, vector, prompts, p.seeds, Path(snakemake.output.samples).parent,
        alpha=p.alpha, relative=p.relative, site=p.site, cfg=p.cfg,
        max_new_tokens=p.max_new_tokens, guidance_scale=p.guidance_scale,
    )  # fmt: skip
    samples["source"], samples["target"] = w.source, w.target
    write_table(samples, snakemake.output.samples)
    log.info("%d samples (%d prompts × %d seeds × 2)", len(samples), len(prompts), len(p.seeds))
