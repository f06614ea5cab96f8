# Original and steered generations for each (source prompt, target genre) pair.


rule steer_pair:
    input:
        vector=steering_vector,
        model=model_input("musicgen"),
        prompts=config["steering"]["prompts"],
    output:
        samples="results/steering/{source}_to_{target}/samples.parquet",
    log:
        "logs/steer_pair/{source}_to_{target}.log",
    conda:
        ENV
    resources:
        gpu=1 if config["device"] == "cuda" else 0,
    params:
        model=model_path("musicgen"),
        device=config["device"],
        dtype=config["dtype"],
        alpha=config["steering"]["alpha"],
        relative=config["steering"]["relative_alpha"],
        site=config["steering"]["site"],
        cfg=config["steering"]["cfg"],
        seeds=config["steering"]["seeds"],
        max_new_tokens=config["steering"]["max_new_tokens"],
        guidance_scale=config["steering"]["guidance_scale"],
    script:
        "../scripts/steer_pair.py"
