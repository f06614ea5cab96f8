# Zero-shot CLAP scores of original vs steered audio → the paper's genre-fusion table.


rule score_pair:
    input:
        samples="results/steering/{source}_to_{target}/samples.parquet",
        model=model_input("clap"),
    output:
        scores="results/evaluation/{source}_to_{target}/scores.parquet",
    log:
        "logs/score_pair/{source}_to_{target}.log",
    conda:
        ENV
    resources:
        gpu=1 if config["device"] == "cuda" else 0,
    params:
        model=model_path("clap"),
        device=config["device"],
        template=config["evaluation"]["template"],
        display=config["evaluation"]["display_names"],
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
    log:
        "logs/genre_fusion_table.log",
    conda:
        ENV
    params:
        pairs=PAIRS,
        display=config["evaluation"]["display_names"],
    script:
        "../scripts/genre_fusion_table.py"
