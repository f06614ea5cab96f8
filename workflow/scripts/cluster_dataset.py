"""k-means ARI/NMI per layer and site; Jaccard matrix at the best-ARI layer (rule cluster_dataset)."""

from pathlib import Path

import pandas as pd

from musicsteer.activations import load_site
from musicsteer.logs import job_log
from musicsteer.probing.clustering import clustering_scores, jaccard_matrix
from musicsteer.storage import read_table, write_table

p = snakemake.params
folder = Path(snakemake.input.index).parent
with job_log(snakemake.log, snakemake.threads) as log:
    index = read_table(snakemake.input.index)
    labels = index.label.to_numpy()
    acts = {site: load_site(folder, site, index_table=index) for site in p.sites}
    scores = pd.concat(
        [clustering_scores(acts[s], labels, p.seed, p.n_init).assign(site=s) for s in p.sites]
    )
    best = scores.sort_values(["ari", "site", "layer"], ascending=[False, False, True]).iloc[0]
    jaccard = jaccard_matrix(acts[best.site][:, int(best["layer"])], labels, p.seed, p.n_init)
    jaccard = jaccard.rename_axis("label").reset_index()
    jaccard["site"], jaccard["layer"] = best.site, int(best["layer"])
    write_table(scores, snakemake.output.clustering)
    write_table(jaccard, snakemake.output.jaccard)
    log.info("best ARI %.3f at %s layer %d", best.ari, best.site, int(best["layer"]))
