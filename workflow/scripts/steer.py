"""Steered samples of one route's grid (rule steer)."""

from functools import partial
from pathlib import Path

from tqdm import tqdm

from musicsteer.logs import job_log
from musicsteer.models.loading import load_musicgen
from musicsteer.steering.jobs import Generation, Intervention, run_grid
from musicsteer.steering.routes import Route
from musicsteer.storage import write_table

p, inp, out = snakemake.params, snakemake.input, snakemake.output
with job_log(snakemake.log, snakemake.threads) as log:
    mg = load_musicgen(p.model, device=p.device, dtype=p.dtype)
    samples = run_grid(
        mg,
        Route(**p.route),
        inp.vectors,
        p.grid,
        Intervention(**p.intervention),
        Generation(**p.generation),
        Path(out.samples).parent,
        inp.get("prompts"),
        inp.get("melody"),
        progress=partial(tqdm, desc="batches", mininterval=10),
    )
    write_table(samples, out.samples)
    log.info("%d steered samples of %s", len(samples), p.route["name"])
