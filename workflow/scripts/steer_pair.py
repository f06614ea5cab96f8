"""Steered generations of one pair over the whole grid (rule steer_pair)."""

from functools import partial
from pathlib import Path

from tqdm import tqdm

from musicsteer.data import write_table
from musicsteer.logs import job_log
from musicsteer.models import load_musicgen
from musicsteer.steering import SteeringVector, generate_steered, genre_prompts, setting_grid

p, w, g = snakemake.params, snakemake.wildcards, snakemake.params.grid
with job_log(snakemake.log) as log:
    mg = load_musicgen(p.model, device=p.device, dtype=p.dtype)
    prompts = genre_prompts(snakemake.input.prompts, w.source)
    vectors = {
        (w.target, site, method): SteeringVector.load(snakemake.input[f"{site}_{method}"])
        for site in g["sites"]
        for method in g["methods"]
    }
    settings = setting_grid([w.target], g["sites"], g["methods"], g["alphas"], g["layers"])
    samples = generate_steered(
        mg,
        vectors,
        settings,
        prompts,
        p.seeds,
        Path(snakemake.output.samples).parent,
        p.max_new_tokens,
        p.guidance_scale,
        p.cfg,
        p.alpha_scale,
        skip_prefix=p.skip_prefix,
        progress=partial(tqdm, desc="settings", mininterval=10),
        top_k=p.top_k,
        top_p=p.top_p,
        temperature=p.temperature,
    )
    samples["source"] = w.source
    write_table(samples, snakemake.output.samples)
    log.info(
        "%d steered samples: %d settings × %d prompts × %d seeds",
        len(samples),
        len(settings),
        len(prompts),
        len(p.seeds),
    )
