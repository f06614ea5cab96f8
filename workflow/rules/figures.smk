# Figures: clustering indices per layer, Jaccard matrix, probe accuracy per layer.


rule figure_clustering:
    input:
        clustering="results/probing/genres/clustering.parquet",
        jaccard="results/probing/genres/jaccard.parquet",
    output:
        clustering="results/figures/clustering.png",
        jaccard="results/figures/jaccard.png",
    log:
        "logs/figure_clustering.log",
    conda:
        ENV
    script:
        "../scripts/figure_clustering.py"


rule figure_probes:
    input:
        probes="results/probing/pairs/{source}_to_{target}/probes.parquet",
    output:
        "results/figures/probe_accuracy_{source}_to_{target}.png",
    log:
        "logs/figure_probes/{source}_to_{target}.log",
    conda:
        ENV
    script:
        "../scripts/figure_probes.py"
