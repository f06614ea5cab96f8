# Unsteered baselines per source genre, and the steering grid per (source, target) pair
# and per target instrument. Steered WAVs share prompt, seed and batch with a baseline.


rule generate_originals:
    input:
        model=model_input("musicgen"),
        prompts=config["steering"]["prompts"],
    output:
        samples="results/steering/originals/{source}/samples.parquet",
    log:
        "logs/generate_originals/{source}.log",
    conda:
        ENV
    resources:
        gpu=GPU,
    params:
        model=model_path("musicgen"),
        device=config["device"],
        dtype=config["dtype"],
        seeds=STEER["seeds"],
        max_new_tokens=STEER["max_new_tokens"],
        guidance_scale=STEER["guidance_scale"],
        top_k=STEER["top_k"],
        top_p=STEER["top_p"],
        temperature=STEER["temperature"],
    script:
        "../scripts/generate_originals.py"


rule steer_pair:
    input:
        unpack(pair_vectors),
        model=model_input("musicgen"),
        prompts=config["steering"]["prompts"],
        originals="results/steering/originals/{source}/samples.parquet",
    output:
        samples="results/steering/{source}_to_{target}/samples.parquet",
    log:
        "logs/steer_pair/{source}_to_{target}.log",
    conda:
        ENV
    resources:
        gpu=GPU,
    params:
        model=model_path("musicgen"),
        device=config["device"],
        dtype=config["dtype"],
        grid=STEER_GRID,
        alpha_scale=STEER["alpha_scale"],
        cfg=STEER["cfg"],
        skip_prefix=STEER["skip_prefix"],
        seeds=STEER["seeds"],
        max_new_tokens=STEER["max_new_tokens"],
        guidance_scale=STEER["guidance_scale"],
        top_k=STEER["top_k"],
        top_p=STEER["top_p"],
        temperature=STEER["temperature"],
    script:
        "../scripts/steer_pair.py"


rule render_melody:
    output:
        melody="results/instrument_transfer/melody.wav",
    log:
        "logs/render_melody.log",
    conda:
        ENV
    params:
        melody=TRANSFER["melody"],
        program=TRANSFER["program"],
        tempo=TRANSFER["tempo"],
        soundfont=config["demo"]["soundfont"],
    script:
        "../scripts/render_melody.py"


rule instrument_generate:
    input:
        melody="results/instrument_transfer/melody.wav",
        vectors=f"results/vectors/tasks/{INSTRUMENT_TASK}",
        model=model_input("musicgen"),
    output:
        samples="results/instrument_transfer/samples.parquet",
    log:
        "logs/instrument_generate.log",
    conda:
        ENV
    resources:
        gpu=GPU,
    params:
        model=model_path("musicgen"),
        device=config["device"],
        dtype=config["dtype"],
        instruments=config["syntheory"]["instruments"],
        prompts=TRANSFER["prompts"],
        grid=STEER_GRID,
        alpha_scale=STEER["alpha_scale"],
        cfg=STEER["cfg"],
        skip_prefix=STEER["skip_prefix"],
        seeds=STEER["seeds"],
        max_new_tokens=STEER["max_new_tokens"],
        guidance_scale=STEER["guidance_scale"],
        top_k=STEER["top_k"],
        top_p=STEER["top_p"],
        temperature=STEER["temperature"],
    script:
        "../scripts/instrument_generate.py"
