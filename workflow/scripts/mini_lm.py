"""Train a mini MusicGen or MusicGen-Melody decoder on the cached codes (rule mini_lm)."""

import json
import time
from functools import partial
from pathlib import Path

import torch
from tqdm import tqdm
from transformers import EncodecModel

from musicsteer.logs import job_log
from musicsteer.mini.build import (
    Codes,
    mini_musicgen,
    prompts_by_genre,
    save_half,
    train_lm_on_codes,
    training_summary,
)
from musicsteer.mini.lm import LMTraining

p, inp, out = snakemake.params, snakemake.input, snakemake.output
with job_log(snakemake.log, snakemake.threads) as log:
    torch.set_num_threads(snakemake.threads)
    codec = EncodecModel.from_pretrained(Path(inp.codec).parent).eval()
    codes = Codes.load(inp.codes)
    settings = LMTraining(**p.training)
    mg = mini_musicgen(codec, p.melody, tuple(p.shape), p.chroma_length, settings.seed)
    start = time.perf_counter()
    history = train_lm_on_codes(
        mg,
        codes,
        settings,
        prompts_by_genre(inp.prompts, sorted(set(codes.genres))),
        partial(tqdm, desc=f"{snakemake.wildcards.model} steps", mininterval=30),
    )
    summary = training_summary(history, time.perf_counter() - start, settings)
    model_dir = Path(out.model).parent
    save_half(mg.model, model_dir)
    mg.tokenizer.save_pretrained(model_dir)
    history.save(out.history)
    log.info("loss by step: %s", history.curve())
    Path(out.summary).write_text(json.dumps(summary, indent=2) + "\n")
    log.info("LM: loss %.3f → %.3f", summary["first_loss"], summary["final_loss"])
