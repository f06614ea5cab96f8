"""Combine the sources' clips, up to N per genre with a fixed seed (rule combine_genres)."""

import pandas as pd

from musicsteer.corpora.genres import combine_manifests
from musicsteer.logs import job_log
from musicsteer.storage import read_table, write_table

p, out = snakemake.params, snakemake.output
with job_log(snakemake.log, snakemake.threads) as log:
    manifests = [read_table(path) for path in snakemake.input.manifests]
    combined = combine_manifests(manifests, p.per_class, p.seed)
    combined = combined[combined.label.isin(p.genres)].reset_index(drop=True)
    missing = sorted(set(p.genres) - set(combined.label))
    if missing:
        raise SystemExit(f"no clips for genres {missing} in any source; check data.* paths")
    skipped = pd.concat([pd.read_csv(path, sep="\t") for path in snakemake.input.skipped])
    counts = combined.groupby(["label", "dataset"]).size().rename("clips").reset_index()
    write_table(combined, out.manifest)
    write_table(skipped, out.skipped)
    write_table(counts, out.counts)
    log.info("clips per genre and source:\n%s", counts.to_string(index=False))
