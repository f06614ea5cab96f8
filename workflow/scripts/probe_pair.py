"""Probe target-vs-source per layer, pick the layer, save the vectors (rule probe_pair)."""

from pathlib import Path

import pandas as pd

from musicsteer.activations import load_site, load_token_norms
from musicsteer.data import write_table
from musicsteer.logs import job_log
from musicsteer.probing import build_task_vectors, layer_selection, probe_task

p, w = snakemake.params, snakemake.wildcards
folder = Path(snakemake.input.index).parent
name = f"pair_{w.source}_to_{w.target}"
with job_log(snakemake.log) as log:
    index = pd.read_parquet(snakemake.input.index)
    task = pd.read_parquet(snakemake.input.task)  # balanced: target y=1, source y=0
    rows = index.reset_index().set_index("clip_id").loc[task.clip_id, "index"].to_numpy()
    acts = {s: load_site(folder, s, index_table=index)[rows] for s in p.sites}
    # each clip's mean per-position norm: the unit of alpha (None before they were recorded)
    norms = {s: load_token_norms(folder, s, index) for s in p.sites}
    norms = {s: None if n is None else n[rows] for s, n in norms.items()}
    # Folds are group-disjoint by track (the task's group column).
    table = probe_task(acts, task, p.methods, p.folds, p.seed, p.l2, p.scaling, name)
    clustering = pd.read_parquet(snakemake.input.clustering)
    n_layers = acts["attn"].shape[1] if "attn" in acts else acts["resid"].shape[1] - 1
    selection = []
    for site in p.sites:
        for method in p.methods:
            chosen = layer_selection(
                table,
                p.layer_rule,
                site,
                method,
                p.fixed_layer,
                n_layers - 1,
                clustering[clustering.site == site],
                p.min_class_clips,
                name,
            )
            (vec,) = build_task_vectors(
                acts,
                task,
                method,
                site,
                int(chosen.layer.iloc[0]),
                f"{w.target}_vs_{w.source}",
                p.model,
                table,
                p.seed,
                p.l2,
                p.scaling,
                norms[site],
            )
            vec.save(snakemake.output[f"{site}_{method}"])
            selection.append(chosen)
            log.info("%s/%s: %s", site, method, chosen.evidence.iloc[0])
    write_table(table, snakemake.output.probes)
    write_table(pd.concat(selection, ignore_index=True), snakemake.output.selection)
