# Teacher-forced activations of every clip: every layer, both sites, float16 (or float32) shards.


rule extract_activations:
    input:
        clips=dataset_clips,
        model=model_input("musicgen"),
    output:
        index=in_run("activations/{dataset}/index.parquet"),
    log:
        run_log("extract_activations/{dataset}.log"),
    benchmark:
        in_run("benchmarks/extract_activations/{dataset}.tsv")
    conda:
        ENV
    threads: THREADS
    resources:
        gpu=1 if config["device"] == "cuda" else 0,
    params:
        model=model_path("musicgen"),
        device=config["device"],
        dtype=config["dtype"],
        sites=SITES,
        position=dataset_position,
        text=config["activations"]["text"],
        melody_conditioning=config["activations"]["melody_conditioning"],
        store_dtype=config["activations"]["store_dtype"],
        dataset=lambda wildcards: wildcards.dataset,
        batch_size=config["activations"]["batch_size"],
        shard_size=config["activations"]["shard_size"],
    script:
        "../scripts/extract_activations.py"
