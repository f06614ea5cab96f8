# Where concepts live: k-means indices per layer, probes per task, and the vectors.


rule cluster_dataset:
    input:
        index="results/activations/{dataset}/index.parquet",
    output:
        clustering="results/probing/{dataset}/clustering.parquet",
        jaccard="results/probing/{dataset}/jaccard.parquet",
    log:
        "logs/cluster_dataset/{dataset}.log",
    benchmark:
        "results/benchmarks/cluster_dataset/{dataset}.tsv"
    conda:
        ENV
    threads: THREADS
    params:
        sites=SITES,
        seed=config["seed"],
        n_init=config["probing"]["kmeans_n_init"],
    script:
        "../scripts/cluster_dataset.py"


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
    benchmark:
        "results/benchmarks/probe_task/{task}.tsv"
    conda:
        ENV
    threads: THREADS
    params:
        sites=SITES,
        probing=PROBE_SETTINGS,
    script:
        "../scripts/probe_task.py"
