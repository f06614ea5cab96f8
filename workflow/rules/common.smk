# Config validation, pre-flight checks and the helpers that every rule file uses.
import os
import sys
from pathlib import Path

# Jobs import musicsteer from this checkout (also inside --sdm conda envs and SLURM jobs,
# which inherit the environment), so scripts and package never disagree.
_SRC = str(Path(workflow.basedir).parent / "src")
_PATHS = [_SRC, dict(os.environ).get("PYTHONPATH", "")]
os.environ.update(PYTHONPATH=os.pathsep.join(p for p in _PATHS if p))

from musicsteer.config import ConfigError, preflight, run_folders, validate_config
from musicsteer.corpora.genres import SOURCES as GENRE_SOURCES
from musicsteer.corpora.syntheory import subset_for
from musicsteer.models.specs import TINY_MODELS, resolve_spec
from musicsteer.steering.grid import VARIANT_KEYS, steering_parts
from musicsteer.steering.routes import INSTRUMENTS, config_routes, pair_route_name
from musicsteer.tasks import genre_task_specs, syntheory_task_names


def _stop(message):
    """Stop before any job runs, with a message instead of a traceback."""
    sys.stderr.write(f"\nmusicsteer: cannot run this config.\n{message}\n\n")
    sys.exit(1)


try:
    validate_config(config, workflow.source_path("../schemas/config.schema.yaml"))
except ConfigError as err:
    _stop(str(err))

# Each config's run has its own folders (config `run`): the paper's results/ and logs/, the
# demo's results/demo/ and logs/demo/, so one run never overwrites another's outputs.
RESULTS, LOGS = run_folders(config["run"])


def in_run(path):
    """A path in this run's results folder."""
    return f"{RESULTS}/{path}"


def run_log(path):
    """A path in this run's log folder (data shared by every run logs to logs/)."""
    return f"{LOGS}/{path}"


def only_mini_targets():
    """Training the mini models needs none of the pipeline's data or models."""
    targets = set(workflow.dag_settings.targets)
    mini = lambda t: t.startswith(("mini_", config["mini"]["dir"]))
    return bool(targets) and all(mini(t) for t in targets)


def check_inputs_exist():
    """Data folders and models must be there before the first job (not needed to lint or dry-run)."""
    if only_mini_targets():
        return
    errors, notices = preflight(config, check_device=workflow.local_exec)
    if errors:
        _stop("\n".join(f"  - {p}" for p in errors + notices))
    for notice in notices:  # e.g. Hub models not cached yet: jobs will download them
        print(f"musicsteer: note: {notice}", file=sys.stderr)


onstart:
    check_inputs_exist()


def dry_run_requested():
    """Whether the command line asks for a dry run (the executor is not known at parse time)."""
    flags = ("-n", "--dry-run", "--dryrun", "--just-print")
    short = [a for a in sys.argv[1:] if a.startswith("-") and not a.startswith("--")]
    return any(a in flags for a in sys.argv[1:]) or any("n" in a[1:] for a in short)


if dry_run_requested():
    print(
        "musicsteer: config checked; data, models and the device are checked when a "
        "real run starts",
        file=sys.stderr,
    )


PAIRS = [(p["source"], p["target"]) for p in config["steering"]["pairs"]]
SITES = config["activations"]["sites"]
METHODS = config["probing"]["methods"]
MODELS_DIR = config["models"]["dir"]
ENV = "../envs/musicsteer.yaml"
GPU = 1 if config["device"] == "cuda" else 0
# CPU threads of each model job; the scripts hold torch and BLAS to snakemake.threads.
THREADS = config["threads"]
STEER = config["steering"]
EVAL = config["evaluation"]
TRANSFER = config["instrument_transfer"]
# The sweep: every site × method × layer choice × α (targets come from the wildcards).
STEER_GRID = {k: STEER[k] for k in ("sites", "methods", "alphas", "layers")}
# One steering job per route × each split key's values (steering.split), every α of it
# in shared batches: a pair's grid spreads over the GPUs, and a new method, layer choice
# or pair runs only its own jobs.
STEER_PARTS = steering_parts(STEER_GRID, STEER["split"])
# How every baseline and steered sample is generated (musicsteer.steering.jobs).
GENERATION = {
    k: STEER[k]
    for k in (
        "seeds",
        "max_new_tokens",
        "batch_size",
        "guidance_scale",
        "top_k",
        "top_p",
        "temperature",
    )
}
INTERVENTION = {k: STEER[k] for k in ("alpha_scale", "cfg", "skip_prefix")}
# Every steering route (a genre pair, or instrument transfer) and the baselines they share.
ROUTES = config_routes(config)
PAIR_ROUTES = [pair_route_name(s, t) for s, t in PAIRS]
BASELINES = {}
for _route in ROUTES.values():
    BASELINES.setdefault(_route.baseline, _route)
MELODY = in_run("instrument_transfer/melody.wav")
# How every task is probed and its layers chosen (musicsteer.probing.fit.ProbeSettings).
PROBE_SETTINGS = {
    "methods": METHODS,
    **{
        k: config["probing"][k]
        for k in (
            "folds",
            "layer_rule",
            "fixed_layer",
            "scaling",
            "l2",
            "min_class_clips",
        )
    },
    "model": config["models"]["musicgen"],
    "seed": config["seed"],
}
# What the tables report: one site, method and layer choice, α picked by ALPHA_RULE.
HEADLINE = dict(
    zip(VARIANT_KEYS, (STEER["site"], STEER["method"], STEER["layers"][0]), strict=True)
)
# Which steering settings the listening pages hold (None = every setting).
REPORT_SETTINGS = None if config["report"]["audio"] == "all" else [HEADLINE]
ALPHA_RULE = {
    "rule": EVAL["alpha_rule"],
    "min_preservation": EVAL["min_preservation"],
    "source_floor": EVAL["source_floor"],
    "alpha": EVAL["alpha"],
}


def model_input(key):
    """The build marker of a tiny built-in model, so the rule that builds it runs first."""
    spec = config["models"][key]
    return [f"{MODELS_DIR}/{spec}/musicsteer.json"] if spec in TINY_MODELS else []


def model_path(key):
    """Load path of a model: a tiny built-in's folder from the rule's input, a mini
    built-in's shipped folder, else the spec (a folder or Hub ID)."""
    spec = config["models"][key]
    if spec in TINY_MODELS:
        return lambda wildcards, input: str(Path(input.model[0]).parent)
    return resolve_spec(spec, MODELS_DIR)


SOURCES = [s for s in GENRE_SOURCES if config["data"][s]]
SYNTHEORY_CONCEPTS = (
    config["syntheory"]["concepts"] if config["syntheory"]["source"] != "none" else []
)


# Each genre task's recipe: a task's job reruns only when its own recipe changes.
GENRE_TASKS = genre_task_specs(config["data"]["genres"], PAIRS)
_syn = config["syntheory"]
SYNTHEORY_TASKS = syntheory_task_names(
    SYNTHEORY_CONCEPTS,
    _syn["task_root"],
    _syn["task_quality"],
    _syn["task_key"],
    _syn["instrument_chords"],
)
PROBED_TASKS = list(GENRE_TASKS) + list(SYNTHEORY_TASKS)


wildcard_constraints:
    source="|".join(GENRE_SOURCES),
    concept="notes|chords|chord_progressions",
    corpus="genres|syntheory/notes|syntheory/chords|syntheory/chord_progressions",
    dataset="genres|syntheory_notes|syntheory_chords|syntheory_chord_progressions",
    task="[A-Za-z0-9_-]+",
    genre_task="|".join(GENRE_TASKS),
    route="|".join(ROUTES),
    part="|".join(STEER_PARTS),
    baseline="|".join(BASELINES),
    name="[A-Za-z0-9-]+",


def task_dataset(task):
    """Which activations a task is probed on."""
    return f"syntheory_{SYNTHEORY_TASKS[task]}" if task in SYNTHEORY_TASKS else "genres"


def task_activations(wildcards):
    return in_run(f"activations/{task_dataset(wildcards.task)}/index.parquet")


def task_clustering(wildcards):
    return in_run(f"probing/{task_dataset(wildcards.task)}/clustering.parquet")


def task_table(wildcards):
    folder = "syntheory" if wildcards.task in SYNTHEORY_TASKS else "genres"
    return in_run(f"tasks/{folder}/{wildcards.task}.parquet")


DATASETS = ["genres"] + [f"syntheory_{c}" for c in SYNTHEORY_CONCEPTS]


def dataset_clips(wildcards):
    """The stored clips of a dataset: the combined genres or one SynTheory concept."""
    if wildcards.dataset == "genres":
        return in_run("data/genres/clips.parquet")
    return in_run(
        f"data/syntheory/{wildcards.dataset.removeprefix('syntheory_')}/clips.parquet"
    )


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


def generation_inputs(route):
    """What generating a route's samples reads: the model, and its prompts or melody."""
    inputs = {"model": model_input("musicgen")}
    if route.melody:
        inputs["melody"] = MELODY
    if not route.prompts:
        inputs["prompts"] = config["steering"]["prompts"]
    return inputs


def baseline_inputs(wildcards):
    return generation_inputs(BASELINES[wildcards.baseline])


def route_inputs(wildcards):
    """A route's generation inputs and the folder of its task's per-class vectors."""
    route = ROUTES[wildcards.route]
    return generation_inputs(route) | {"vectors": in_run(f"vectors/tasks/{route.task}")}


def route_parts(wildcards):
    """The samples tables of a route's steering jobs, one per part of the grid."""
    return expand(
        in_run("steering/{route}/{part}/samples.parquet"),
        route=wildcards.route,
        part=STEER_PARTS,
    )


def route_baseline(wildcards):
    """The unsteered samples a route is compared with."""
    return in_run(
        f"steering/originals/{ROUTES[wildcards.route].baseline}/samples.parquet"
    )


def route_selection(wildcards):
    """The α choices of a route's table (the listening pages mark the chosen α)."""
    table = "instrument_transfer" if wildcards.route == INSTRUMENTS else "genre_fusion"
    return in_run(f"tables/{table}_alpha.tsv")


def figure_targets():
    return [
        *expand(
            in_run("figures/{dataset}/{kind}.png"),
            dataset=DATASETS,
            kind=["clustering", "jaccard"],
        ),
        *expand(in_run("figures/tasks/probe_accuracy_{task}.png"), task=PROBED_TASKS),
        *expand(in_run("figures/steering/alpha_sweep_{route}.png"), route=ROUTES),
    ]


def table_targets():
    """The paper's tables: genre fusion, and instrument transfer when enabled."""
    tables = [in_run("tables/genre_fusion.csv")]
    if TRANSFER["enabled"]:
        tables.append(in_run("tables/instrument_transfer.csv"))
    return tables


def report_targets():
    """The listening pages (audio players) of the report."""
    return expand(in_run("report/listen/{route}"), route=ROUTES)


def data_targets():
    """Task tables: what the data stage hands to the probes."""
    targets = [in_run("tasks/genres/index.tsv")]
    return targets + (
        [in_run("tasks/syntheory/index.tsv")] if SYNTHEORY_CONCEPTS else []
    )


def mini_training(part):
    """A training section of the mini models' recipe (config mini) with its seed."""
    return {**config["mini"][part], "seed": config["mini"]["seed"]}
