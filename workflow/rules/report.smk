# Listening pages for the report: each steered sample beside its original, with
# the audio embedded as data URIs (the report shows .wav files only as downloads).


rule listen:
    input:
        originals=route_baseline,
        steered=in_run("steering/{route}/samples.parquet"),
        scores=in_run("evaluation/{route}/scores.parquet"),
        selection=route_selection,
    output:
        report(
            directory(in_run("report/listen/{route}")),
            patterns=["{page}.html"],
            caption="../report/listen.rst",
            category="Listen",
            subcategory="{route}",
            labels={"page": "{page}"},
        ),
    log:
        run_log("listen/{route}.log"),
    conda:
        ENV
    params:
        route=lambda wildcards: ROUTES[wildcards.route].as_params(),
        settings=REPORT_SETTINGS,
        max_seconds=config["report"]["max_seconds"],
    script:
        "../scripts/listen.py"
