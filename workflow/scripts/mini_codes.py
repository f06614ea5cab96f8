"""Encode every corpus track once with the trained codec (rule mini_codes)."""

from functools import partial
from pathlib import Path

import pandas as pd
import torch
from tqdm import tqdm
from transformers import EncodecModel

from musicsteer.logs import job_log
from musicsteer.mini.build import encode_corpus
from musicsteer.storage import atomic_path

with job_log(snakemake.log, snakemake.threads) as log:
    torch.set_num_threads(snakemake.threads)
    codec = EncodecModel.from_pretrained(Path(snakemake.input.codec).parent).eval()
    manifest = pd.read_csv(snakemake.input.manifest, sep="\t")
    codes = encode_corpus(
        codec,
        manifest,
        Path(snakemake.input.manifest).parent,
        partial(tqdm, desc="tracks", mininterval=30),
    )
    with atomic_path(snakemake.output[0]) as tmp:
        codes.save(tmp)
    log.info("codes %s, chroma %s", codes.codes.shape, codes.chroma.shape)
