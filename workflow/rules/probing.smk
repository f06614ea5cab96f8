# Where concepts live: k-means indices per layer, probes per task, and the vectors.


rule cluster_dataset:
    input:
        index="results/activations/{dataset}/index.parquet",
    output:
        clustering="results/probing/{dataset}/clustering.parquet",
        jaccard="results/probing/{dataset}/jaccard.parquet",
    log:
        "logs/cluster_dataset/{dataset}.log",
    conda:
        ENV
    params:
        sites=SITES,
        seed=config["seed"],
        n_init=config["probing"]["kmeans_n_init"],
    script:
        "../scripts/cluster_dataset.py"


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
        scaling=config["probing"]["scaling"],
        l2=config["probing"]["l2"],
        min_class_clips=config["probing"]["min_class_clips"],
        model=config["models"]["musicgen"],
        seed=config["seed"],
    script:
        "../scripts/probe_pair.py"


rule probe_task:
    input:
        index=task_activations,
        task=task_table,
        clustering=task_clustering,
    output:
        probes="results/probing/tasks/{task}/probes.parquet",
        summary="results/probing/tasks/{task}/summary.tsv",
        selection="results/probing/tasks/{task}/selection.tsv",
        vectors=directory("results/vectors/tasks/{task}"),
    log:
        "logs/probe_task/{task}.log",
    conda:
        ENV
    params:
        sites=SITES,
        methods=METHODS,
        folds=config["probing"]["folds"],
        layer_rule=config["probing"]["layer_rule"],
        fixed_layer=config["probing"]["fixed_layer"],
        scaling=config["probing"]["scaling"],
        l2=config["probing"]["l2"],
        min_class_clips=config["probing"]["min_class_clips"],
        model=config["models"]["musicgen"],
        seed=config["seed"],
    script:
        "../scripts/probe_task.py"
