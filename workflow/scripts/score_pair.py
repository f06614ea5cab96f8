"""CLAP zero-shot probabilities over {source, target} for every sample (rule score_pair)."""

import pandas as pd

from musicsteer.data import write_table
from musicsteer.evaluation import ClapScorer, score_samples
from musicsteer.logs import job_log
from musicsteer.models import load_clap

p, w = snakemake.params, snakemake.wildcards
with job_log(snakemake.log) as log:
    model, processor = load_clap(p.model, device=p.device)
    scorer = ClapScorer(model, processor, p.template)
    samples = pd.read_parquet(snakemake.input.samples)
    scores = score_samples(scorer, samples, [w.source, w.target], p.display)
    write_table(scores, snakemake.output.scores)
    log.info("scored %d samples with %s", len(samples), p.model)
