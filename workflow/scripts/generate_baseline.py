"""Unsteered samples of one baseline's prompts (rule generate_baseline)."""

from pathlib import Path

from musicsteer.logs import job_log
from musicsteer.models.loading import load_musicgen
from musicsteer.steering.jobs import Generation, run_baseline
from musicsteer.steering.routes import Route
from musicsteer.storage import write_table

p, inp, out = snakemake.params, snakemake.input, snakemake.output
with job_log(snakemake.log, snakemake.threads) as log:
    mg = load_musicgen(p.model, device=p.device, dtype=p.dtype)
    route, generation = Route(**p.route), Generation(**p.generation)
    folder = Path(out.samples).parent
    samples = run_baseline(mg, route, generation, folder, inp.get("prompts"), inp.get("melody"))
    write_table(samples, out.samples)
    log.info("%d originals × %d seeds", (samples.kind == "original").sum(), len(generation.seeds))
