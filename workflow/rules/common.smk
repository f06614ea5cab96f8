# Config validation, pre-flight checks and the helpers that every rule file uses.
import os
import sys
from pathlib import Path

# Jobs import musicsteer from this checkout (also inside --sdm conda envs and SLURM jobs,
# which inherit the environment), so scripts and package never disagree.
_SRC = str(Path(workflow.basedir).parent / "src")
_PATHS = [_SRC, dict(os.environ).get("PYTHONPATH", "")]
os.environ.update(PYTHONPATH=os.pathsep.join(p for p in _PATHS if p))

from musicsteer.config import ConfigError, preflight, validate_config
from musicsteer.models import BUILTIN_MODELS
from musicsteer.syntheory import subset_for
from musicsteer.tasks import (
    instrument_scope,
    instrument_task_name,
    syntheory_task_names,
)


def _stop(message):
    """Stop before any job runs, with a message instead of a traceback."""
    sys.stderr.write(f"\nmusicsteer: cannot run this config.\n{message}\n\n")
    sys.exit(1)


try:
    validate_config(config, workflow.source_path("../schemas/config.schema.yaml"))
except ConfigError as err:
    _stop(str(err))


def check_inputs_exist():
    """Data folders and models must be there before the first job (not needed to lint or dry-run)."""
    errors, notices = preflight(config)
    if errors:
        _stop("\n".join(f"  - {p}" for p in errors + notices))


onstart:
    check_inputs_exist()


wildcard_constraints:
    source="[A-Za-z0-9-]+|music_genres",
    concept="notes|chords|chord_progressions",
    corpus="genres|syntheory/notes|syntheory/chords|syntheory/chord_progressions",
    dataset="genres|syntheory_notes|syntheory_chords|syntheory_chord_progressions",
    task="[A-Za-z0-9_#-]+",
    target="[A-Za-z0-9-]+",
    name="[A-Za-z0-9-]+",


PAIRS = [(p["source"], p["target"]) for p in config["steering"]["pairs"]]
SITES = config["activations"]["sites"]
METHODS = config["probing"]["methods"]
MODELS_DIR = config["models"]["dir"]
ENV = "../envs/musicsteer.yaml"
GPU = 1 if config["device"] == "cuda" else 0
STEER = config["steering"]
EVAL = config["evaluation"]
TRANSFER = config["instrument_transfer"]
# The sweep: every site × method × layer choice × α (targets come from the wildcards).
STEER_GRID = {k: STEER[k] for k in ("sites", "methods", "alphas", "layers")}
# What the tables report: one site, method and layer choice, α picked by ALPHA_RULE.
HEADLINE = {
    "site": STEER["site"],
    "method": STEER["method"],
    "layers": STEER["layers"][0],
}
# Which steering settings the listening pages hold (None = every setting).
REPORT_SETTINGS = None if config["report"]["audio"] == "all" else [HEADLINE]
ALPHA_RULE = {
    "rule": EVAL["alpha_rule"],
    "min_preservation": EVAL["min_preservation"],
    "source_floor": EVAL["source_floor"],
    "alpha": EVAL["alpha"],
}


def model_input(key):
    """The build marker of a built-in model, so the rule that builds it runs first."""
    spec = config["models"][key]
    return [f"{MODELS_DIR}/{spec}/musicsteer.json"] if spec in BUILTIN_MODELS else []


def model_path(key):
    """Load path of a model: a built-in's folder derived from the rule's input, else the spec."""
    spec = config["models"][key]
    if spec in BUILTIN_MODELS:
        return lambda wildcards, input: str(Path(input.model[0]).parent)
    return spec


SOURCES = [s for s in ("gtzan", "fma", "music_genres") if config["data"][s]]
SYNTHEORY_CONCEPTS = (
    config["syntheory"]["concepts"] if config["syntheory"]["source"] != "none" else []
)


GENRE_TASKS = (
    [f"ovr_{g}" for g in config["data"]["genres"]]
    + [f"pair_{s}_to_{t}" for s, t in PAIRS]
    + ["multilabel"]
)
_syn = config["syntheory"]
SYNTHEORY_TASKS = syntheory_task_names(
    SYNTHEORY_CONCEPTS,
    _syn["task_root"],
    _syn["task_quality"],
    _syn["task_key"],
    _syn["instrument_chords"],
)
INSTRUMENT_TASK = instrument_task_name(
    *instrument_scope(
        _syn["instrument_chords"], _syn["task_root"], _syn["task_quality"]
    )
)
PROBED_TASKS = [t for t in GENRE_TASKS if not t.startswith("pair_")] + list(
    SYNTHEORY_TASKS
)


def task_dataset(task):
    """Which activations a task is probed on."""
    return f"syntheory_{SYNTHEORY_TASKS[task]}" if task in SYNTHEORY_TASKS else "genres"


def task_activations(wildcards):
    return f"results/activations/{task_dataset(wildcards.task)}/index.parquet"


def task_clustering(wildcards):
    return f"results/probing/{task_dataset(wildcards.task)}/clustering.parquet"


def task_table(wildcards):
    folder = "syntheory" if wildcards.task in SYNTHEORY_TASKS else "genres"
    return f"results/tasks/{folder}/{wildcards.task}.parquet"


DATASETS = ["genres"] + [f"syntheory_{c}" for c in SYNTHEORY_CONCEPTS]


def dataset_clips(wildcards):
    """The stored clips of a dataset: the combined genres or one SynTheory concept."""
    if wildcards.dataset == "genres":
        return "results/data/genres/clips.parquet"
    return f"results/data/syntheory/{wildcards.dataset.removeprefix('syntheory_')}/clips.parquet"


def dataset_position(wildcards):
    """Last audio token for genre clips (the paper), mean over time for SynTheory."""
    key = "position" if wildcards.dataset == "genres" else "syntheory_position"
    return config["activations"][key]


def source_input(wildcards):
    """What a source's clipping waits for: the rendered demo corpus or a download."""
    if wildcards.source == "gtzan" and config["demo"]["render"]:
        return [f"{config['data']['gtzan']}/rendered.tsv"]
    if config["data"]["download"]:
        return [f"resources/downloads/{wildcards.source}.json"]
    return []


def source_root(wildcards, input):
    """The folder a source is read from (the rendered corpus's folder for the demo)."""
    rendered = [f for f in input if f.endswith("rendered.tsv")]
    return (
        str(Path(rendered[0]).parent) if rendered else config["data"][wildcards.source]
    )


def syntheory_subset(wildcards):
    """The configured subset of one SynTheory concept (None = the full spec)."""
    options = {
        k: config["syntheory"][k] for k in ("programs", "octaves", "roots", "keys")
    }
    return subset_for(wildcards.concept, options)


def pair_name(source, target):
    return f"{source}_to_{target}"


def pair_paths(pattern):
    return [pattern.format(pair=pair_name(s, t)) for s, t in PAIRS]


def vector_outputs(wildcards=None):
    return {
        f"{site}_{method}": f"results/vectors/{{source}}_to_{{target}}/{site}_{method}.npz"
        for site in SITES
        for method in METHODS
    }


def pair_vectors(wildcards):
    """The vectors of a pair that the steering grid uses, keyed ``<site>_<method>``."""
    folder = f"results/vectors/{wildcards.source}_to_{wildcards.target}"
    return {
        f"{site}_{method}": f"{folder}/{site}_{method}.npz"
        for site in STEER["sites"]
        for method in STEER["methods"]
    }


def figure_targets():
    return [
        *expand(
            "results/figures/{dataset}/{kind}.png",
            dataset=DATASETS,
            kind=["clustering", "jaccard"],
        ),
        *pair_paths("results/figures/probe_accuracy_{pair}.png"),
        *expand("results/figures/tasks/probe_accuracy_{task}.png", task=PROBED_TASKS),
        *pair_paths("results/figures/steering/alpha_sweep_{pair}.png"),
        *(
            ["results/figures/steering/alpha_sweep_instruments.png"]
            if TRANSFER["enabled"]
            else []
        ),
    ]


def table_targets():
    """The paper's tables: genre fusion, and instrument transfer when enabled."""
    tables = ["results/tables/genre_fusion.csv"]
    if TRANSFER["enabled"]:
        tables.append("results/tables/instrument_transfer.csv")
    return tables


def report_targets():
    """The listening pages (audio players) of the report."""
    pages = pair_paths("results/report/listen/{pair}")
    if TRANSFER["enabled"]:
        pages.append("results/report/listen/instruments")
    return pages


def data_targets():
    """Task tables: what the data stage hands to the probes."""
    targets = ["results/tasks/genres/index.tsv"]
    return targets + (
        ["results/tasks/syntheory/index.tsv"] if SYNTHEORY_CONCEPTS else []
    )
