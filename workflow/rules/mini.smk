# musicsteer-mini: train small models of the real classes on rendered music
# (snakemake mini_models, or make mini, which also installs them as the mini-* built-ins).


MINI = config["mini"]
MINI_DIR = MINI["dir"]
MINI_CLIP_FRAMES = int(round(MINI["clip_seconds"] * 50))  # the codec's 50 Hz frames


rule mini_corpus:
    output:
        manifest=f"{MINI_DIR}/corpus/manifest.tsv",
    log:
        "logs/mini/corpus.log",
    conda:
        ENV
    params:
        genres=MINI["genres"],
        tracks_per_genre=MINI["tracks_per_genre"],
        track_seconds=MINI["track_seconds"],
        held_out=MINI["held_out"],
        seed=MINI["seed"],
    script:
        "../scripts/mini_corpus.py"


rule mini_codec:
    input:
        manifest=rules.mini_corpus.output.manifest,
    output:
        model=f"{MINI_DIR}/codec/model.safetensors",
        summary=f"{MINI_DIR}/train/codec/summary.json",
        history=f"{MINI_DIR}/train/codec/history.csv",
    log:
        "logs/mini/codec.log",
    conda:
        ENV
    threads: MINI["threads"]
    params:
        training=mini_training("codec"),
        clip_seconds=MINI["clip_seconds"],
    script:
        "../scripts/mini_codec.py"


rule mini_codes:
    input:
        manifest=rules.mini_corpus.output.manifest,
        codec=rules.mini_codec.output.model,
    output:
        f"{MINI_DIR}/codes.npz",
    log:
        "logs/mini/codes.log",
    conda:
        ENV
    threads: MINI["threads"]
    script:
        "../scripts/mini_codes.py"


rule mini_lm:
    input:
        codec=rules.mini_codec.output.model,
        codes=rules.mini_codes.output[0],
        prompts=config["steering"]["prompts"],
    output:
        model=f"{MINI_DIR}/models/{{model}}/model.safetensors",
        summary=f"{MINI_DIR}/train/{{model}}/summary.json",
        history=f"{MINI_DIR}/train/{{model}}/history.csv",
    log:
        "logs/mini/{model}.log",
    wildcard_constraints:
        model="mini-musicgen(-melody)?",
    conda:
        ENV
    threads: MINI["threads"]
    params:
        training=mini_training("lm"),
        melody=lambda wildcards: wildcards.model.endswith("-melody"),
        shape=[MINI["decoder"][k] for k in ("layers", "hidden", "heads", "ffn")],
        chroma_length=MINI["decoder"]["chroma_length"],
    script:
        "../scripts/mini_lm.py"


rule mini_clap:
    input:
        codec=rules.mini_codec.output.model,
        codes=rules.mini_codes.output[0],
    output:
        model=f"{MINI_DIR}/models/mini-clap/model.safetensors",
        summary=f"{MINI_DIR}/train/mini-clap/summary.json",
        history=f"{MINI_DIR}/train/mini-clap/history.csv",
    log:
        "logs/mini/mini-clap.log",
    conda:
        ENV
    threads: MINI["threads"]
    params:
        training=mini_training("clap"),
        clip_frames=MINI_CLIP_FRAMES,
    script:
        "../scripts/mini_clap.py"


rule mini_models:
    input:
        codec=rules.mini_codec.output.model,
        codes=rules.mini_codes.output[0],
        prompts=config["steering"]["prompts"],
        lms=expand(rules.mini_lm.output.model, model=MINI["models"]),
        clap=rules.mini_clap.output.model,
        summaries=expand(
            f"{MINI_DIR}/train/{{run}}/summary.json",
            run=["codec", *MINI["models"], "mini-clap"],
        ),
        histories=expand(
            f"{MINI_DIR}/train/{{run}}/history.csv",
            run=["codec", *MINI["models"], "mini-clap"],
        ),
    output:
        manifest=f"{MINI_DIR}/models/manifest.json",
        figure=f"{MINI_DIR}/training.png",
    log:
        "logs/mini/gates.log",
    conda:
        ENV
    threads: MINI["threads"]
    params:
        recipe=MINI,
        seeds=MINI["gate_seeds"],
        clip_frames=MINI_CLIP_FRAMES,
        seed=MINI["seed"],
    script:
        "../scripts/mini_gates.py"
