# Zero-shot CLAP scores of original vs steered audio, the α sweep with CIs (prompts as clusters),
# the α choice, and the paper's genre-fusion and instrument-transfer tables. The tables
# pick α on the samples of evaluation.select_seeds and report the other seeds.


rule score:
    input:
        originals=route_baseline,
        steered=in_run("steering/{route}/samples.parquet"),
        model=model_input("clap"),
    output:
        scores=in_run("evaluation/{route}/scores.parquet"),
        sweep=in_run("evaluation/{route}/sweep.parquet"),
    log:
        run_log("score/{route}.log"),
    benchmark:
        in_run("benchmarks/score/{route}.tsv")
    conda:
        ENV
    threads: THREADS
    resources:
        gpu=GPU,
    params:
        route=lambda wildcards: ROUTES[wildcards.route].as_params(),
        model=model_path("clap"),
        device=config["device"],
        batch_size=EVAL["batch_size"],
    script:
        "../scripts/score.py"


rule genre_fusion_table:
    input:
        scores=expand(in_run("evaluation/{route}/scores.parquet"), route=PAIR_ROUTES),
    output:
        csv=report(
            in_run("tables/genre_fusion.csv"),
            caption="../report/genre_fusion.rst",
            category="Genre fusion",
            labels={"table": "CSV (download)"},
        ),
        html=report(
            in_run("tables/genre_fusion.html"),
            caption="../report/genre_fusion.rst",
            category="Genre fusion",
            labels={"table": "HTML (view here)"},
        ),
        markdown=in_run("tables/genre_fusion.md"),
        long=in_run("tables/genre_fusion_long.parquet"),
        selection=in_run("tables/genre_fusion_alpha.tsv"),
    log:
        run_log("genre_fusion_table.log"),
    conda:
        ENV
    params:
        title="Genre fusion: CLAP probabilities of the source and target genre, original vs steered",
        pairs=PAIRS,
        display=EVAL["display_names"],
        headline=HEADLINE,
        rule=ALPHA_RULE,
        select_seeds=EVAL["select_seeds"],
    script:
        "../scripts/genre_fusion_table.py"


rule instrument_transfer_table:
    input:
        scores=in_run(f"evaluation/{INSTRUMENTS}/scores.parquet"),
    output:
        csv=report(
            in_run("tables/instrument_transfer.csv"),
            caption="../report/instrument_transfer.rst",
            category="Instrument transfer",
            labels={"table": "CSV (download)"},
        ),
        html=report(
            in_run("tables/instrument_transfer.html"),
            caption="../report/instrument_transfer.rst",
            category="Instrument transfer",
            labels={"table": "HTML (view here)"},
        ),
        markdown=in_run("tables/instrument_transfer.md"),
        long=in_run("tables/instrument_transfer_long.parquet"),
        selection=in_run("tables/instrument_transfer_alpha.tsv"),
    log:
        run_log("instrument_transfer_table.log"),
    conda:
        ENV
    params:
        title="Instrument transfer: CLAP probabilities of each instrument, melody input, unsteered and steered",
        headline=HEADLINE,
        rule=ALPHA_RULE,
        select_seeds=EVAL["select_seeds"],
    script:
        "../scripts/instrument_transfer_table.py"
