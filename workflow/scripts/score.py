"""Zero-shot CLAP scores of one route's baseline and steered samples, and its α sweep (rule score)."""

from functools import partial

from tqdm import tqdm

from musicsteer.evaluation.clap import ClapScorer
from musicsteer.evaluation.jobs import score_route
from musicsteer.evaluation.stats import sweep_table
from musicsteer.logs import job_log
from musicsteer.models.loading import load_clap
from musicsteer.steering.routes import Route
from musicsteer.storage import read_table, write_table

p, inp, out = snakemake.params, snakemake.input, snakemake.output
with job_log(snakemake.log, snakemake.threads) as log:
    route = Route(**p.route)
    model, processor = load_clap(p.model, device=p.device)
    scores = score_route(
        ClapScorer(model, processor, route.template),
        route,
        read_table(inp.originals),
        read_table(inp.steered),
        p.batch_size,
        partial(tqdm, desc="CLAP batches", mininterval=10),
    )
    write_table(scores, out.scores)
    write_table(sweep_table(scores), out.sweep)
    log.info("scored %s against %s with %s", route.name, dict(route.label_sets), p.model)
