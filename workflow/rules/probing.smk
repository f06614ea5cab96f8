# Where concepts live: k-means indices per layer, probes per pair, and the vectors.


rule cluster_genres:
    input:
        index="results/activations/genres/index.parquet",
    output:
        clustering="results/probing/genres/clustering.parquet",
        jaccard="results/probing/genres/jaccard.parquet",
    log:
        "logs/cluster_genres.log",
    conda:
        ENV
    params:
        sites=SITES,
        seed=config["seed"],
        n_init=config["probing"]["kmeans_n_init"],
    script:
        "../scripts/cluster_genres.py"


rule probe_pair:
    input:
        index="results/activations/genres/index.parquet",
        task="results/tasks/genres/pair_{source}_to_{target}.parquet",
        clustering="results/probing/genres/clustering.parquet",
    output:
        **vector_outputs(),
        probes="results/probing/pairs/{source}_to_{target}/probes.parquet",
        selection="results/probing/pairs/{source}_to_{target}/selection.tsv",
    log:
        "logs/probe_pair/{source}_to_{target}.log",
    conda:
        ENV
    params:
        sites=SITES,
        methods=METHODS,
        folds=config["probing"]["folds"],
        layer_rule=config["probing"]["layer_rule"],
        fixed_layer=config["probing"]["fixed_layer"],
        model=config["models"]["musicgen"],
        seed=config["seed"],
    script:
        "../scripts/probe_pair.py"
