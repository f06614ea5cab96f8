"""ARI/NMI per layer and the Jaccard heatmap at the best layer (rule figure_clustering)."""

from musicsteer.logs import job_log
from musicsteer.report.figures import plot_clustering, plot_jaccard
from musicsteer.storage import read_table

with job_log(snakemake.log, snakemake.threads):
    plot_clustering(
        read_table(snakemake.input.clustering),
        snakemake.output.clustering,
        title="k-means vs genre labels",
    )
    jaccard = read_table(snakemake.input.jaccard)
    site, layer = jaccard.site.iloc[0], int(jaccard["layer"].iloc[0])
    matrix = jaccard.drop(columns=["site", "layer"]).set_index("label")
    plot_jaccard(matrix, snakemake.output.jaccard, title=f"Jaccard, {site} layer {layer}")
