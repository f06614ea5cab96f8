# One route per steering job (musicsteer.steering.routes): a genre pair steers its source
# genre's prompts towards the target, instrument transfer a melody-conditioned prompt
# towards each instrument. Each route's steered WAVs share prompt, seed and batch with
# its baseline, which routes on the same prompts share.


rule generate_baseline:
    input:
        unpack(baseline_inputs),
    output:
        samples=in_run("steering/originals/{baseline}/samples.parquet"),
    log:
        run_log("generate_baseline/{baseline}.log"),
    benchmark:
        in_run("benchmarks/generate_baseline/{baseline}.tsv")
    conda:
        ENV
    threads: THREADS
    resources:
        gpu=GPU,
    params:
        route=lambda wildcards: BASELINES[wildcards.baseline].as_params(),
        generation=GENERATION,
        model=model_path("musicgen"),
        device=config["device"],
        dtype=config["dtype"],
    script:
        "../scripts/generate_baseline.py"


rule steer:
    input:
        unpack(route_inputs),
    output:
        samples=in_run("steering/{route}/{part}/samples.parquet"),
    log:
        run_log("steer/{route}/{part}.log"),
    benchmark:
        in_run("benchmarks/steer/{route}/{part}.tsv")
    conda:
        ENV
    threads: THREADS
    resources:
        gpu=GPU,
    params:
        route=lambda wildcards: ROUTES[wildcards.route].as_params(),
        grid=lambda wildcards: STEER_PARTS[wildcards.part],
        intervention=INTERVENTION,
        generation=GENERATION,
        model=model_path("musicgen"),
        device=config["device"],
        dtype=config["dtype"],
    script:
        "../scripts/steer.py"


rule merge_steered:
    input:
        parts=route_parts,
    output:
        samples=in_run("steering/{route}/samples.parquet"),
    log:
        run_log("merge_steered/{route}.log"),
    conda:
        ENV
    script:
        "../scripts/merge_steered.py"


rule render_melody:
    output:
        melody=MELODY,
    log:
        run_log("render_melody.log"),
    conda:
        ENV
    params:
        melody=TRANSFER["melody"],
        program=TRANSFER["program"],
        tempo=TRANSFER["tempo"],
        soundfont=config["demo"]["soundfont"],
    script:
        "../scripts/render_melody.py"
