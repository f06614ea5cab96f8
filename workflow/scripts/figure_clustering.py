"""ARI/NMI per layer and the Jaccard heatmap at the best layer (rule figure_clustering)."""

import pandas as pd

from musicsteer.logs import job_log
from musicsteer.report.figures import plot_clustering, plot_jaccard

with job_log(snakemake.log):
    plot_clustering(
        pd.read_parquet(snakemake.input.clustering),
        snakemake.output.clustering,
        title="k-means vs genre labels",
    )
    jaccard = pd.read_parquet(snakemake.input.jaccard)
    site, layer = jaccard.site.iloc[0], int(jaccard["layer"].iloc[0])
    matrix = jaccard.drop(columns=["site", "layer"]).set_index("label")
    plot_jaccard(matrix, snakemake.output.jaccard, title=f"Jaccard, {site} layer {layer}")
