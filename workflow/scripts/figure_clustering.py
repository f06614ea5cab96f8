"""ARI/NMI per layer and the Jaccard heatmap at the best layer (rule figure_clustering)."""

import pandas as pd

from musicsteer.figures import plot_clustering, plot_jaccard
from musicsteer.logs import job_log

with job_log(snakemake.log):
    plot_clustering(
        pd.read_parquet(snakemake.input.clustering),
        snakemake.output.clustering,
        title="k-means vs genre labels",
    )
    jaccard = pd.read_parquet(snakemake.input.jaccard)
    site, layer = jaccard.site.iloc[0], int(jaccard["index"].iloc[0])
    matrix = jaccard.drop(columns=["site", "index"]).set_index("label")
    plot_jaccard(matrix, snakemake.output.jaccard, title=f"Jaccard, {site} layer {layer}")
