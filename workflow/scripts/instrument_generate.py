"""Melody-conditioned generations, unsteered and steered towards each instrument (rule instrument_generate)."""

from functools import partial
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from musicsteer.audio import load
from musicsteer.data import write_table
from musicsteer.logs import job_log
from musicsteer.models import load_musicgen
from musicsteer.steering import (
    generate_originals,
    generate_steered,
    load_task_vectors,
    prompt_table,
    setting_grid,
)

p, g, out = snakemake.params, snakemake.params.grid, Path(snakemake.output.samples).parent
with job_log(snakemake.log) as log:
    mg = load_musicgen(p.model, device=p.device, dtype=p.dtype)
    if not mg.is_melody:
        raise SystemExit(
            f"{p.model} is not MusicGen-Melody: instrument transfer needs a melody model"
        )
    melody = load(snakemake.input.melody, mg.sample_rate)
    prompts = prompt_table(p.prompts)
    vectors = load_task_vectors(snakemake.input.vectors, g["sites"], g["methods"], p.instruments)
    targets = list(dict.fromkeys(key[0] for key in vectors))
    settings = setting_grid(targets, g["sites"], g["methods"], g["alphas"], g["layers"])
    common = dict(
        max_new_tokens=p.max_new_tokens,
        guidance_scale=p.guidance_scale,
        melody=melody,
        top_k=p.top_k,
        top_p=p.top_p,
        temperature=p.temperature,
    )
    originals = generate_originals(mg, prompts, p.seeds, out, **common)
    steered = generate_steered(
        mg,
        vectors,
        settings,
        prompts,
        p.seeds,
        out,
        cfg=p.cfg,
        alpha_scale=p.alpha_scale,
        skip_prefix=p.skip_prefix,
        progress=partial(tqdm, desc="settings", mininterval=10),
        **common,
    )
    melody_row = pd.DataFrame([{"path": snakemake.input.melody, "kind": "input"}])
    write_table(
        pd.concat([melody_row, originals, steered], ignore_index=True), snakemake.output.samples
    )
    log.info("%d originals, %d steered (%s)", len(originals), len(steered), ", ".join(targets))
