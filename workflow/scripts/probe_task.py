"""Probe one task per layer, site and method; pick layers; save one vector per class (rule probe_task)."""

import re
from pathlib import Path

import pandas as pd

from musicsteer.activations import load_site, load_token_norms
from musicsteer.data import write_table
from musicsteer.logs import job_log
from musicsteer.probing import build_task_vectors, layer_selection, probe_task, summary_table

p, w, out = snakemake.params, snakemake.wildcards, snakemake.output
folder = Path(snakemake.input.index).parent
with job_log(snakemake.log) as log:
    index = pd.read_parquet(snakemake.input.index)
    task = pd.read_parquet(snakemake.input.task)
    rows = index.reset_index().set_index("clip_id").loc[task.clip_id, "index"].to_numpy()
    acts = {s: load_site(folder, s, index_table=index)[rows] for s in p.sites}
    # each clip's mean per-position norm: the unit of alpha (None before they were recorded)
    norms = {s: load_token_norms(folder, s, index) for s in p.sites}
    norms = {s: None if n is None else n[rows] for s, n in norms.items()}
    if any(n is None for n in norms.values()):
        log.warning("no token norms recorded: alpha units use the pooled activations' norms")
    probes = probe_task(acts, task, p.methods, p.folds, p.seed, p.l2, p.scaling, w.task)
    clustering = pd.read_parquet(snakemake.input.clustering)
    n_layers = acts["attn"].shape[1] if "attn" in acts else acts["resid"].shape[1] - 1
    selections, vectors = [], Path(out.vectors)
    vectors.mkdir(parents=True, exist_ok=True)
    for site in p.sites:
        for method in p.methods:
            chosen = layer_selection(
                probes,
                p.layer_rule,
                site,
                method,
                p.fixed_layer,
                n_layers - 1,
                clustering[clustering.site == site],
                p.min_class_clips,
                w.task,
            )
            selections.append(chosen)
            layers = dict(zip(chosen.positive, chosen.layer, strict=True))
            for vec in build_task_vectors(
                acts,
                task,
                method,
                site,
                layers,
                w.task,
                p.model,
                probes,
                p.seed,
                p.l2,
                p.scaling,
                norms[site],
            ):
                name = re.sub(r"[^A-Za-z0-9_-]+", "-", vec.positive)
                vec.save(vectors / f"{site}_{method}_{name}.npz")
    selection = pd.concat(selections, ignore_index=True)
    write_table(probes, out.probes)
    write_table(summary_table(probes, clustering), out.summary)
    write_table(selection, out.selection)
    log.info("%s: layers chosen\n%s", w.task, selection.to_string(index=False))
