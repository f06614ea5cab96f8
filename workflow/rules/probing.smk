# Where concepts live: k-means indices per layer, probes per task, and the vectors.


rule cluster_dataset:
    input:
        index=in_run("activations/{dataset}/index.parquet"),
    output:
        clustering=in_run("probing/{dataset}/clustering.parquet"),
        jaccard=in_run("probing/{dataset}/jaccard.parquet"),
    log:
        run_log("cluster_dataset/{dataset}.log"),
    benchmark:
        in_run("benchmarks/cluster_dataset/{dataset}.tsv")
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
        probes=in_run("probing/tasks/{task}/probes.parquet"),
        summary=in_run("probing/tasks/{task}/summary.tsv"),
        selection=in_run("probing/tasks/{task}/selection.tsv"),
        vectors=directory(in_run("vectors/tasks/{task}")),
    log:
        run_log("probe_task/{task}.log"),
    benchmark:
        in_run("benchmarks/probe_task/{task}.tsv")
    conda:
        ENV
    threads: THREADS
    params:
        sites=SITES,
        probing=PROBE_SETTINGS,
    script:
        "../scripts/probe_task.py"
