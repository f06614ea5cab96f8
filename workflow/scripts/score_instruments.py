"""CLAP instrument scores of the melody, its generations and their steered versions (rule score_instruments)."""

from functools import partial

import pandas as pd
from tqdm import tqdm

from musicsteer.data import write_table
from musicsteer.evaluation import ClapScorer, score_samples, sweep_table
from musicsteer.logs import job_log
from musicsteer.models import load_clap

p = snakemake.params
with job_log(snakemake.log) as log:
    model, processor = load_clap(p.model, device=p.device)
    scorer = ClapScorer(model, processor, p.template)
    samples = pd.read_parquet(snakemake.input.samples)
    instruments = list(dict.fromkeys(samples.target.dropna()))
    display = {name: name.lower() for name in instruments}
    scores = score_samples(
        scorer,
        samples,
        {"all": instruments},
        display,
        p.batch_size,
        partial(tqdm, desc="CLAP batches", mininterval=10),
    )
    write_table(scores, snakemake.output.scores)
    write_table(sweep_table(scores, p.n_boot, seed=p.seed), snakemake.output.sweep)
    log.info("scored %d samples against %s", len(samples), ", ".join(instruments))
