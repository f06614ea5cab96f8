"""Measure the mini models' quality gates and write their manifest (rule mini_models)."""

import json
from pathlib import Path

import torch
from transformers import EncodecModel

from musicsteer.logs import job_log
from musicsteer.mini.build import Codes, prompts_by_genre
from musicsteer.mini.gates import clap_gate, codec_gate, decoded_split, failed, lm_gate
from musicsteer.mini.release import manifest, plot_training
from musicsteer.models.loading import load_clap, load_musicgen

p, inp, out = snakemake.params, snakemake.input, snakemake.output
with job_log(snakemake.log, snakemake.threads) as log:
    torch.set_num_threads(snakemake.threads)
    torch.manual_seed(p.seed)
    codec = EncodecModel.from_pretrained(Path(inp.codec).parent).eval()
    codes = Codes.load(inp.codes)
    genres = sorted(set(codes.genres))
    rate = int(codec.config.sampling_rate)
    heldout = decoded_split(codec, codes, "heldout", p.clip_frames)
    gates = {}
    judge, gates["codec"] = codec_gate(
        decoded_split(codec, codes, "train", p.clip_frames), heldout, rate
    )
    log.info("codec gate: %.3f", gates["codec"])
    prompts = prompts_by_genre(inp.prompts, genres)
    gates["lm"] = {}
    for path in inp.lms:
        mg = load_musicgen(str(Path(path).parent))
        name = Path(path).parent.name
        gates["lm"][name] = lm_gate(mg, judge, prompts, p.seeds, p.clip_frames)
        log.info("LM gate %s: %s", name, gates["lm"][name])
    gates["clap"] = clap_gate(*load_clap(str(Path(inp.clap).parent)), heldout, rate)
    log.info("CLAP gate: %.3f", gates["clap"])
    gates["failed"] = failed(gates)
    summaries = {Path(s).parent.name: json.loads(Path(s).read_text()) for s in inp.summaries}
    plot_training({Path(h).parent.name: h for h in inp.histories}, out.figure)
    record = manifest(p.recipe, summaries, gates, [Path(m).parent for m in [*inp.lms, inp.clap]])
    Path(out.manifest).write_text(json.dumps(record, indent=2) + "\n")
    log.info("gates failed: %s", gates["failed"] or "none")
