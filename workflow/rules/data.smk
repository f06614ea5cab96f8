# Models built offline, the rendered demo corpus, genre sources cut into clips and
# combined per genre, SynTheory, and the task sets every probe is trained on.


# Downloads need the network, which compute nodes of a cluster often lack.
localrules:
    download_source,


rule build_builtin_model:
    output:
        f"{MODELS_DIR}/{{name}}/musicsteer.json",
    log:
        "logs/build_builtin_model/{name}.log",
    wildcard_constraints:
        name="tiny-[a-z-]+",
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


rule download_source:
    output:
        "resources/downloads/{source}.json",
    log:
        "logs/download_source/{source}.log",
    conda:
        ENV
    params:
        dest=lambda wildcards: config["data"][wildcards.source],
        fma_subset=config["data"]["fma_subset"],
    script:
        "../scripts/download_source.py"


rule clip_source:
    input:
        source_input,
    output:
        manifest="results/data/sources/{source}/manifest.parquet",
        skipped="results/data/sources/{source}/skipped.tsv",
    log:
        "logs/clip_source/{source}.log",
    conda:
        ENV
    params:
        root=source_root,
        fma_subset=config["data"]["fma_subset"],
        genres=config["data"]["genres"],
        genre_map=config["data"]["genre_map"],
        clip_seconds=config["data"]["clip_seconds"],
        silence_db=config["data"]["silence_db"],
    script:
        "../scripts/clip_source.py"


rule combine_genres:
    input:
        manifests=expand(
            "results/data/sources/{source}/manifest.parquet", source=SOURCES
        ),
        skipped=expand("results/data/sources/{source}/skipped.tsv", source=SOURCES),
    output:
        manifest="results/data/genres/manifest.parquet",
        skipped="results/data/genres/skipped.tsv",
        counts="results/data/genres/counts.tsv",
    log:
        "logs/combine_genres.log",
    conda:
        ENV
    params:
        genres=config["data"]["genres"],
        per_class=config["data"]["max_clips_per_genre"],
        seed=config["seed"],
    script:
        "../scripts/combine_genres.py"


rule store_clips:
    input:
        manifest="results/data/{corpus}/manifest.parquet",
    output:
        clips="results/data/{corpus}/clips.parquet",
    log:
        "logs/store_clips/{corpus}.log",
    benchmark:
        "results/benchmarks/store_clips/{corpus}.tsv"
    conda:
        ENV
    params:
        sample_rate=config["data"]["sample_rate"],
        shard_size=config["data"]["shard_size"],
    script:
        "../scripts/store_clips.py"


# One job per genre task, with only that task's recipe as params: adding a pair builds
# its own task and leaves every other task, probe and steering job as it is.
rule genre_task:
    input:
        manifest="results/data/genres/manifest.parquet",
    output:
        task="results/tasks/genres/{genre_task}.parquet",
    log:
        "logs/genre_task/{genre_task}.log",
    conda:
        ENV
    params:
        spec=lambda wildcards: GENRE_TASKS[wildcards.genre_task],
        seed=config["seed"],
    script:
        "../scripts/genre_task.py"


rule genre_task_index:
    input:
        tasks=expand("results/tasks/genres/{task}.parquet", task=GENRE_TASKS),
    output:
        index="results/tasks/genres/index.tsv",
    log:
        "logs/genre_task_index.log",
    conda:
        ENV
    script:
        "../scripts/genre_task_index.py"


rule make_syntheory:
    output:
        manifest="results/data/syntheory/{concept}/manifest.parquet",
        skipped="results/data/syntheory/{concept}/skipped.tsv",
    log:
        "logs/make_syntheory/{concept}.log",
    benchmark:
        "results/benchmarks/make_syntheory/{concept}.tsv"
    conda:
        ENV
    # FluidSynth threads (full SynTheory: ~10 min on 2); raise with --set-threads make_syntheory=N
    threads: 2
    params:
        source=config["syntheory"]["source"],
        audio_dir="resources/syntheory",
        subset=syntheory_subset,
        soundfont=config["demo"]["soundfont"],
        silence_db=config["syntheory"]["silence_db"],
    script:
        "../scripts/make_syntheory.py"


rule syntheory_tasks:
    input:
        manifests=expand(
            "results/data/syntheory/{concept}/manifest.parquet",
            concept=SYNTHEORY_CONCEPTS,
        ),
    output:
        index="results/tasks/syntheory/index.tsv",
        tasks=expand("results/tasks/syntheory/{task}.parquet", task=SYNTHEORY_TASKS),
    log:
        "logs/syntheory_tasks.log",
    conda:
        ENV
    params:
        concepts=SYNTHEORY_CONCEPTS,
        root=config["syntheory"]["task_root"],
        quality=config["syntheory"]["task_quality"],
        key=config["syntheory"]["task_key"],
        instruments=config["syntheory"]["instruments"],
        instrument_chords=config["syntheory"]["instrument_chords"],
        seed=config["seed"],
    script:
        "../scripts/syntheory_tasks.py"
