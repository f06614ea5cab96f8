# Figures: clustering indices per layer, Jaccard matrix, probe accuracy per layer.


rule figure_clustering:
    input:
        clustering="results/probing/{dataset}/clustering.parquet",
        jaccard="results/probing/{dataset}/jaccard.parquet",
    output:
        clustering=report(
            "results/figures/{dataset}/clustering.png",
            caption="../report/clustering.rst",
            category="Where concepts live",
        ),
        jaccard=report(
            "results/figures/{dataset}/jaccard.png",
            caption="../report/jaccard.rst",
            category="Where concepts live",
        ),
    log:
        "logs/figure_clustering/{dataset}.log",
    conda:
        ENV
    script:
        "../scripts/figure_clustering.py"


rule figure_probes:
    input:
        probes="results/probing/pairs/{source}_to_{target}/probes.parquet",
    output:
        report(
            "results/figures/probe_accuracy_{source}_to_{target}.png",
            caption="../report/probes.rst",
            category="Probes",
            subcategory="{source} to {target}",
        ),
    log:
        "logs/figure_probes/{source}_to_{target}.log",
    conda:
        ENV
    script:
        "../scripts/figure_probes.py"


rule figure_task:
    input:
        probes="results/probing/tasks/{task}/probes.parquet",
    output:
        report(
            "results/figures/tasks/probe_accuracy_{task}.png",
            caption="../report/probes.rst",
            category="Probes",
            subcategory="{task}",
        ),
    log:
        "logs/figure_task/{task}.log",
    conda:
        ENV
    script:
        "../scripts/figure_task.py"


rule figure_alpha_sweep:
    input:
        sweep="results/evaluation/{source}_to_{target}/sweep.parquet",
    output:
        report(
            "results/figures/steering/alpha_sweep_{source}_to_{target}.png",
            caption="../report/alpha_sweep.rst",
            category="Steering strength",
            subcategory="{source} to {target}",
        ),
    log:
        "logs/figure_alpha_sweep/{source}_to_{target}.log",
    conda:
        ENV
    params:
        label_set="pair",
    script:
        "../scripts/figure_alpha_sweep.py"


rule figure_instrument_sweep:
    input:
        sweep="results/instrument_transfer/sweep.parquet",
    output:
        report(
            "results/figures/steering/alpha_sweep_instruments.png",
            caption="../report/alpha_sweep.rst",
            category="Steering strength",
            subcategory="instruments",
        ),
    log:
        "logs/figure_instrument_sweep.log",
    conda:
        ENV
    params:
        label_set="all",
    script:
        "../scripts/figure_alpha_sweep.py"
