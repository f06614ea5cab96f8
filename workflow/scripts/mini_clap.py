"""Train the mini CLAP on decoded training clips (rule mini_clap)."""

import json
import time
from functools import partial
from pathlib import Path

import torch
from tqdm import tqdm
from transformers import EncodecModel

from musicsteer.logs import job_log
from musicsteer.mini.build import Codes, save_half, train_clap_on_decoded, training_summary
from musicsteer.mini.clap import ClapTraining

p, inp, out = snakemake.params, snakemake.input, snakemake.output
with job_log(snakemake.log, snakemake.threads) as log:
    torch.set_num_threads(snakemake.threads)
    codec = EncodecModel.from_pretrained(Path(inp.codec).parent).eval()
    settings = ClapTraining(**p.training)
    start = time.perf_counter()
    model, processor, history = train_clap_on_decoded(
        codec,
        Codes.load(inp.codes),
        p.clip_frames,
        settings,
        partial(tqdm, desc="CLAP steps", mininterval=30),
    )
    summary = training_summary(history, time.perf_counter() - start, settings)
    model_dir = Path(out.model).parent
    save_half(model, model_dir)
    processor.save_pretrained(model_dir)
    history.save(out.history)
    log.info("loss by step: %s", history.curve())
    Path(out.summary).write_text(json.dumps(summary, indent=2) + "\n")
    log.info("CLAP: loss %.3f → %.3f", summary["first_loss"], summary["final_loss"])
