# Models built offline, the rendered demo corpus, and clips cut from genre audio.


rule build_builtin_model:
    output:
        f"{MODELS_DIR}/{{name}}/musicsteer.json",
    log:
        "logs/build_builtin_model/{name}.log",
    conda:
        ENV
    params:
        seed=config["seed"],
    script:
        "../scripts/build_model.py"


rule render_demo_genres:
    output:
        f"{config['data']['gtzan']}/rendered.tsv",
    log:
        "logs/render_demo_genres.log",
    conda:
        ENV
    params:
        root=lambda wildcards, output: Path(output[0]).parent,
        genres=config["demo"]["genres"],
        tracks=config["demo"]["tracks_per_genre"],
        seconds=config["demo"]["track_seconds"],
        soundfont=config["demo"]["soundfont"],
        seed=config["seed"],
    script:
        "../scripts/render_demo_genres.py"


rule render_demo_syntheory:
    output:
        "resources/demo/syntheory/manifest.parquet",
    log:
        "logs/render_demo_syntheory.log",
    conda:
        ENV
    threads: 2
    params:
        programs=config["demo"]["syntheory_programs"],
        soundfont=config["demo"]["soundfont"],
    script:
        "../scripts/render_demo_syntheory.py"


rule clip_genres:
    input:
        gtzan_input(),
    output:
        manifest="results/data/genres/manifest.parquet",
        skipped="results/data/genres/skipped.tsv",
    log:
        "logs/clip_genres.log",
    conda:
        ENV
    params:
        gtzan=gtzan_path(),
        genres=config["data"]["genres"],
        clip_seconds=config["data"]["clip_seconds"],
        silence_db=config["data"]["silence_db"],
        max_clips=config["data"]["max_clips_per_genre"],
        seed=config["seed"],
    script:
        "../scripts/clip_genres.py"
