# Zero-shot CLAP scores of original vs steered audio, the α sweep with bootstrap CIs,
# the α choice, and the paper's genre-fusion and instrument-transfer tables. The tables
# pick α on the samples of evaluation.select_seeds and report the other seeds.


rule score_pair:
    input:
        originals="results/steering/originals/{source}/samples.parquet",
        steered="results/steering/{source}_to_{target}/samples.parquet",
        model=model_input("clap"),
    output:
        scores="results/evaluation/{source}_to_{target}/scores.parquet",
        sweep="results/evaluation/{source}_to_{target}/sweep.parquet",
    log:
        "logs/score_pair/{source}_to_{target}.log",
    conda:
        ENV
    resources:
        gpu=GPU,
    params:
        model=model_path("clap"),
        device=config["device"],
        template=EVAL["template"],
        display=EVAL["display_names"],
        genres=config["data"]["genres"],
        batch_size=EVAL["batch_size"],
        n_boot=EVAL["bootstrap"],
        seed=config["seed"],
    script:
        "../scripts/score_pair.py"


rule genre_fusion_table:
    input:
        scores=pair_paths("results/evaluation/{pair}/scores.parquet"),
    output:
        csv=report(
            "results/tables/genre_fusion.csv",
            caption="../report/genre_fusion.rst",
            category="Genre fusion",
        ),
        markdown="results/tables/genre_fusion.md",
        long="results/tables/genre_fusion_long.parquet",
        selection="results/tables/genre_fusion_alpha.tsv",
    log:
        "logs/genre_fusion_table.log",
    conda:
        ENV
    params:
        pairs=PAIRS,
        display=EVAL["display_names"],
        headline=HEADLINE,
        rule=ALPHA_RULE,
        select_seeds=EVAL["select_seeds"],
        n_boot=EVAL["bootstrap"],
        seed=config["seed"],
    script:
        "../scripts/genre_fusion_table.py"


rule score_instruments:
    input:
        samples="results/instrument_transfer/samples.parquet",
        model=model_input("clap"),
    output:
        scores="results/instrument_transfer/scores.parquet",
        sweep="results/instrument_transfer/sweep.parquet",
    log:
        "logs/score_instruments.log",
    conda:
        ENV
    resources:
        gpu=GPU,
    params:
        model=model_path("clap"),
        device=config["device"],
        template=TRANSFER["template"],
        batch_size=EVAL["batch_size"],
        n_boot=EVAL["bootstrap"],
        seed=config["seed"],
    script:
        "../scripts/score_instruments.py"


rule instrument_transfer_table:
    input:
        scores="results/instrument_transfer/scores.parquet",
    output:
        csv=report(
            "results/tables/instrument_transfer.csv",
            caption="../report/instrument_transfer.rst",
            category="Instrument transfer",
        ),
        markdown="results/tables/instrument_transfer.md",
        long="results/tables/instrument_transfer_long.parquet",
        selection="results/tables/instrument_transfer_alpha.tsv",
    log:
        "logs/instrument_transfer_table.log",
    conda:
        ENV
    params:
        headline=HEADLINE,
        rule=ALPHA_RULE,
        select_seeds=EVAL["select_seeds"],
        n_boot=EVAL["bootstrap"],
        seed=config["seed"],
    script:
        "../scripts/instrument_transfer_table.py"
