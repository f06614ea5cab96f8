"""k-means ARI/NMI per layer and site; Jaccard matrix at the best-ARI layer (rule cluster_dataset)."""

from pathlib import Path

import pandas as pd

from musicsteer.activations import load_site
from musicsteer.data import write_table
from musicsteer.logs import job_log
from musicsteer.probing import clustering_scores, jaccard_matrix

p = snakemake.params
folder = Path(snakemake.input.index).parent
with job_log(snakemake.log) as log:
    index = pd.read_parquet(snakemake.input.index)
    labels = index.label.to_numpy()
    acts = {site: load_site(folder, site, index_table=index) for site in p.sites}
    scores = pd.concat(
        [clustering_scores(acts[s], labels, p.seed, p.n_init).assign(site=s) for s in p.sites]
    )
    best = scores.sort_values(["ari", "site", "index"], ascending=[False, False, True]).iloc[0]
    jaccard = jaccard_matrix(acts[best.site][:, int(best["index"])], labels, p.seed, p.n_init)
    jaccard = jaccard.rename_axis("label").reset_index()
    jaccard["site"], jaccard["index"] = best.site, int(best["index"])
    write_table(scores, snakemake.output.clustering)
    write_table(jaccard, snakemake.output.jaccard)
    log.info("best ARI %.3f at %s layer %d", best.ari, best.site, int(best["index"]))
