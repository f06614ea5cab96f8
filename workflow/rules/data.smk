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
        manifest=in_run("data/sources/{source}/manifest.parquet"),
        skipped=in_run("data/sources/{source}/skipped.tsv"),
    log:
        run_log("clip_source/{source}.log"),
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
            in_run("data/sources/{source}/manifest.parquet"), source=SOURCES
        ),
        skipped=expand(in_run("data/sources/{source}/skipped.tsv"), source=SOURCES),
    output:
        manifest=in_run("data/genres/manifest.parquet"),
        skipped=in_run("data/genres/skipped.tsv"),
        counts=in_run("data/genres/counts.tsv"),
    log:
        run_log("combine_genres.log"),
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
        manifest=in_run("data/{corpus}/manifest.parquet"),
    output:
        clips=in_run("data/{corpus}/clips.parquet"),
    log:
        run_log("store_clips/{corpus}.log"),
    benchmark:
        in_run("benchmarks/store_clips/{corpus}.tsv")
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
        manifest=in_run("data/genres/manifest.parquet"),
    output:
        task=in_run("tasks/genres/{genre_task}.parquet"),
    log:
        run_log("genre_task/{genre_task}.log"),
    conda:
        ENV
    params:
        spec=lambda wildcards: GENRE_TASKS[wildcards.genre_task],
        seed=config["seed"],
    script:
        "../scripts/genre_task.py"


rule genre_task_index:
    input:
        tasks=expand(in_run("tasks/genres/{task}.parquet"), task=GENRE_TASKS),
    output:
        index=in_run("tasks/genres/index.tsv"),
    log:
        run_log("genre_task_index.log"),
    conda:
        ENV
    script:
        "../scripts/genre_task_index.py"


rule make_syntheory:
    output:
        manifest=in_run("data/syntheory/{concept}/manifest.parquet"),
        skipped=in_run("data/syntheory/{concept}/skipped.tsv"),
    log:
        run_log("make_syntheory/{concept}.log"),
    benchmark:
        in_run("benchmarks/make_syntheory/{concept}.tsv")
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
            in_run("data/syntheory/{concept}/manifest.parquet"),
            concept=SYNTHEORY_CONCEPTS,
        ),
    output:
        index=in_run("tasks/syntheory/index.tsv"),
        tasks=expand(in_run("tasks/syntheory/{task}.parquet"), task=SYNTHEORY_TASKS),
    log:
        run_log("syntheory_tasks.log"),
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
