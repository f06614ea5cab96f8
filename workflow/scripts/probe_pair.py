"""Probe target-vs-source per layer, pick the layer, save the vectors (rule probe_pair)."""

from pathlib import Path

import pandas as pd

from musicsteer.activations import load_site
from musicsteer.data import write_table
from musicsteer.logs import job_log
from musicsteer.probing import build_vector, probe_table, select_layer

p, w = snakemake.params, snakemake.wildcards
folder = Path(snakemake.input.index).parent
with job_log(snakemake.log) as log:
    index = pd.read_parquet(snakemake.input.index)
    task = pd.read_parquet(snakemake.input.task)  # balanced: target y=1, source y=0
    rows = index.reset_index().set_index("clip_id").loc[task.clip_id, "index"].to_numpy()
    y = task.y.to_numpy()
    acts = {s: load_site(folder, s, index_table=index)[rows] for s in p.sites}
    table = probe_table(acts, y, p.methods, p.folds, p.seed)
    clustering = pd.read_parquet(snakemake.input.clustering)
    selection = []
    for site in p.sites:
        n_layers = acts["attn"].shape[1] if "attn" in acts else acts["resid"].shape[1] - 1
        for method in p.methods:
            evidence = clustering if p.layer_rule == "ari" else table
            layer = select_layer(evidence, p.layer_rule, site, method, p.fixed_layer, n_layers - 1)
            acc = table[(table.site == site) & (table.method == method)].sort_values("index")
            vec = build_vector(
                acts[site], y, method, site, layer, f"{w.target}_vs_{w.source}", w.target,
                w.source, p.model, accuracy=acc.accuracy.tolist(),
            )  # fmt: skip
            vec.save(snakemake.output[f"{site}_{method}"])
            chosen = float(acc.accuracy.iloc[layer])
            selection.append({"site": site, "method": method, "layer": layer,
                              "accuracy": chosen, "rule": p.layer_rule})  # fmt: skip
            log.info("%s/%s: layer %d, held-out accuracy %.3f", site, method, layer, chosen)
    write_table(table, snakemake.output.probes)
    write_table(pd.DataFrame(selection), snakemake.output.selection)
