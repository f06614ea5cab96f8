# Config validation, pre-flight checks and the helpers that every rule file uses.
import sys
from pathlib import Path

from musicsteer.config import ConfigError, preflight, validate_config
from musicsteer.models import BUILTIN_MODELS


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
    source="[A-Za-z0-9-]+",
    target="[A-Za-z0-9-]+",
    name="[A-Za-z0-9-]+",


PAIRS = [(p["source"], p["target"]) for p in config["steering"]["pairs"]]
SITES = config["activations"]["sites"]
METHODS = config["probing"]["methods"]
MODELS_DIR = config["models"]["dir"]
ENV = "../envs/musicsteer.yaml"


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


def gtzan_path():
    """The GTZAN root: the rendered corpus's folder (from the input) or the configured path."""
    if config["demo"]["render"]:
        return lambda wildcards, input: str(Path(input[0]).parent)
    return config["data"]["gtzan"]


def gtzan_input():
    """The rendered demo corpus when the config asks for it; real data is not a DAG file."""
    return (
        [f"{config['data']['gtzan']}/rendered.tsv"] if config["demo"]["render"] else []
    )


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


def steering_vector(wildcards):
    site, method = config["steering"]["site"], config["steering"]["method"]
    return (
        f"results/vectors/{wildcards.source}_to_{wildcards.target}/{site}_{method}.npz"
    )


def figure_targets():
    return [
        "results/figures/clustering.png",
        "results/figures/jaccard.png",
        *pair_paths("results/figures/probe_accuracy_{pair}.png"),
    ]


def demo_targets():
    return (
        ["resources/demo/syntheory/manifest.parquet"]
        if config["demo"]["render"]
        else []
    )
