"""Train the mini codec (EncodecModel) on the corpus' train tracks (rule mini_codec)."""

import json
import time
from functools import partial
from pathlib import Path

import pandas as pd
import torch
from tqdm import tqdm

from musicsteer.logs import job_log
from musicsteer.mini.build import train_codec_on_corpus, training_summary
from musicsteer.mini.codec import CodecTraining
from musicsteer.storage import share_folder

p, out = snakemake.params, snakemake.output
with job_log(snakemake.log, snakemake.threads) as log:
    torch.set_num_threads(snakemake.threads)
    manifest = pd.read_csv(snakemake.input.manifest, sep="\t")
    settings = CodecTraining(**p.training)
    start = time.perf_counter()
    codec, history = train_codec_on_corpus(
        manifest,
        Path(snakemake.input.manifest).parent,
        p.clip_seconds,
        settings,
        partial(tqdm, desc="codec steps", mininterval=30),
    )
    summary = training_summary(history, time.perf_counter() - start, settings)
    codec.save_pretrained(Path(out.model).parent)
    share_folder(Path(out.model).parent)
    history.save(out.history)
    log.info("loss by step: %s", history.curve())
    Path(out.summary).write_text(json.dumps(summary, indent=2) + "\n")
    log.info("codec: loss %.3f → %.3f", summary["first_loss"], summary["final_loss"])
