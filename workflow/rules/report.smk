# Listening pages for the report: each steered sample beside its original, with
# the audio embedded as data URIs (the report shows .wav files only as downloads).


rule listen_pair:
    input:
        originals="results/steering/originals/{source}/samples.parquet",
        steered="results/steering/{source}_to_{target}/samples.parquet",
        scores="results/evaluation/{source}_to_{target}/scores.parquet",
    output:
        report(
            directory("results/report/listen/{source}_to_{target}"),
            patterns=["{page}.html"],
            caption="../report/listen.rst",
            category="Listen",
            subcategory="{source} to {target}",
            labels={"page": "{page}"},
        ),
    log:
        "logs/listen_pair/{source}_to_{target}.log",
    conda:
        ENV
    params:
        settings=REPORT_SETTINGS,
        max_seconds=config["report"]["max_seconds"],
    script:
        "../scripts/listen.py"


rule listen_instruments:
    input:
        steered="results/instrument_transfer/samples.parquet",
        scores="results/instrument_transfer/scores.parquet",
    output:
        report(
            directory("results/report/listen/instruments"),
            patterns=["{page}.html"],
            caption="../report/listen.rst",
            category="Listen",
            subcategory="melody to instruments",
            labels={"page": "{page}"},
        ),
    log:
        "logs/listen_instruments.log",
    conda:
        ENV
    params:
        settings=REPORT_SETTINGS,
        max_seconds=config["report"]["max_seconds"],
    script:
        "../scripts/listen.py"
