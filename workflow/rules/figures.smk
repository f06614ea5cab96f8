# Figures: clustering indices per layer, Jaccard matrix, probe accuracy per layer.


rule figure_clustering:
    input:
        clustering=in_run("probing/{dataset}/clustering.parquet"),
        jaccard=in_run("probing/{dataset}/jaccard.parquet"),
    output:
        clustering=report(
            in_run("figures/{dataset}/clustering.png"),
            caption="../report/clustering.rst",
            category="Where concepts live",
        ),
        jaccard=report(
            in_run("figures/{dataset}/jaccard.png"),
            caption="../report/jaccard.rst",
            category="Where concepts live",
        ),
    log:
        run_log("figure_clustering/{dataset}.log"),
    conda:
        ENV
    script:
        "../scripts/figure_clustering.py"


rule figure_task:
    input:
        probes=in_run("probing/tasks/{task}/probes.parquet"),
    output:
        report(
            in_run("figures/tasks/probe_accuracy_{task}.png"),
            caption="../report/probes.rst",
            category="Probes",
            subcategory="{task}",
        ),
    log:
        run_log("figure_task/{task}.log"),
    conda:
        ENV
    script:
        "../scripts/figure_task.py"


rule figure_alpha_sweep:
    input:
        sweep=in_run("evaluation/{route}/sweep.parquet"),
    output:
        report(
            in_run("figures/steering/alpha_sweep_{route}.png"),
            caption="../report/alpha_sweep.rst",
            category="Steering strength",
            subcategory="{route}",
        ),
    log:
        run_log("figure_alpha_sweep/{route}.log"),
    conda:
        ENV
    params:
        route=lambda wildcards: ROUTES[wildcards.route].as_params(),
        headline=HEADLINE,
    script:
        "../scripts/figure_alpha_sweep.py"
