"""CLAP scores of a pair's originals and steered samples, and its α sweep (rule score_pair)."""

from functools import partial

import pandas as pd
from tqdm import tqdm

from musicsteer.data import write_table
from musicsteer.evaluation import ClapScorer, score_samples, sweep_table
from musicsteer.logs import job_log
from musicsteer.models import load_clap

p, w = snakemake.params, snakemake.wildcards
with job_log(snakemake.log) as log:
    model, processor = load_clap(p.model, device=p.device)
    scorer = ClapScorer(model, processor, p.template)
    samples = pd.concat(
        [pd.read_parquet(snakemake.input.originals), pd.read_parquet(snakemake.input.steered)],
        ignore_index=True,
    )
    samples["target"] = samples.target.fillna(w.target) if "target" in samples else w.target
    label_sets = {"pair": [w.source, w.target], "all": list(p.genres)}
    scores = score_samples(
        scorer,
        samples,
        label_sets,
        p.display,
        p.batch_size,
        partial(tqdm, desc="CLAP batches", mininterval=10),
    )
    write_table(scores, snakemake.output.scores)
    write_table(sweep_table(scores, p.n_boot, seed=p.seed), snakemake.output.sweep)
    log.info("scored %d samples with %s", len(samples), p.model)
