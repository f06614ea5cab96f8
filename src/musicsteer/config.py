"""Config validation (schema defaults, errors that name the key) and pre-flight checks."""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from musicsteer.audio import is_audio_path
from musicsteer.corpora.genres import SOURCES
from musicsteer.models.specs import (
    BUILTIN_MODELS,
    availability_problem,
    decoder_layer_count,
    looks_like_path,
)


class ConfigError(ValueError):
    """A config that cannot run, with every problem named by key."""


def _with_defaults(validator_cls: type[Any]) -> type[Any]:
    """A validator that fills ``default`` values before validating nested objects."""
    validate_properties = validator_cls.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema) -> Iterator:
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = _copy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_cls, {"properties": set_defaults})


def _copy(value: Any) -> Any:
    return yaml.safe_load(yaml.safe_dump(value))


def _key(error: jsonschema.ValidationError) -> str:
    path = ".".join(str(p) for p in error.absolute_path)
    if error.validator == "additionalProperties":
        extra = error.message.split("'")[1] if "'" in error.message else "?"
        return f"{path}.{extra}" if path else extra
    return path or "(top level)"


# α in units of the mean ‖h‖ (alpha_scale: norm) at most this: 2 turns a typical h by 63°;
# more is a stale absolute α (or a typo)
MAX_NORM_ALPHA = 2.0


def validate_config(config: dict, schema_path: str | Path) -> dict:
    """Fill defaults into ``config`` in place and validate it; :class:`ConfigError` names keys."""
    schema = _unique_lists(yaml.safe_load(Path(schema_path).read_text()))
    validator = _with_defaults(jsonschema.Draft202012Validator)(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    lines = [f"  {_key(e)}: {e.message}" for e in errors]
    lines += [f"  {key}: {value!r} is not a finite number" for key, value in _non_finite(config)]
    if lines:
        raise ConfigError("invalid config:\n" + "\n".join(lines))
    _resolve_defaults(config)
    _check_consistency(config)
    return config


def _unique_lists(schema: Any) -> Any:
    """Every list of the config holds each item once (a repeated genre, seed, α or layer
    choice would duplicate jobs or samples), unless its schema says ``uniqueItems: false``."""
    if isinstance(schema, dict):
        kind = schema.get("type")
        if (kind == "array" or (isinstance(kind, list) and "array" in kind)) and (
            "uniqueItems" not in schema
        ):
            schema["uniqueItems"] = True
        for value in schema.values():
            _unique_lists(value)
    elif isinstance(schema, list):
        for value in schema:
            _unique_lists(value)
    return schema


def _non_finite(value: Any, key: str = "") -> Iterator[tuple[str, float]]:
    """Every NaN or infinite number in a config (YAML's .nan / .inf), by dotted key.

    JSON Schema treats them as numbers: ``.inf`` passes ``minimum`` and ``exclusiveMinimum``.
    """
    if isinstance(value, float) and not math.isfinite(value):
        yield key, value
    elif isinstance(value, dict):
        for name, item in value.items():
            yield from _non_finite(item, f"{key}.{name}" if key else str(name))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _non_finite(item, f"{key}[{i}]")


def _resolve_defaults(config: dict) -> None:
    """Defaults that depend on other keys (null = follow that key)."""
    steering = config["steering"]
    if steering["sites"] is None:
        steering["sites"] = list(config["activations"]["sites"])
    if steering["methods"] is None:
        steering["methods"] = list(config["probing"]["methods"])
    steering["layers"] = [str(x) for x in steering["layers"]]
    evaluation = config["evaluation"]
    if evaluation["select_seeds"] is None:  # the first seed picks α, the rest report
        seeds = steering["seeds"]
        evaluation["select_seeds"] = seeds[:1] if len(seeds) > 1 else []


def _check_consistency(config: dict) -> None:
    genres = set(config["data"]["genres"])
    problems = []
    for i, pair in enumerate(config["steering"]["pairs"]):
        for role in ("source", "target"):
            if pair[role] not in genres:
                problems.append(
                    f"  steering.pairs[{i}].{role}: {pair[role]!r} is not in data.genres"
                )
        if pair["source"] == pair["target"]:
            problems.append(f"  steering.pairs[{i}]: source and target are both {pair['source']!r}")
    if config["probing"]["layer_rule"] == "fixed" and config["probing"]["fixed_layer"] is None:
        problems.append("  probing.fixed_layer: required when probing.layer_rule is 'fixed'")
    if not any(config["data"][s] for s in ("gtzan", "fma", "music_genres")):
        problems.append("  data: set at least one of data.gtzan, data.fma, data.music_genres")
    problems += _steering_problems(config) + _instrument_problems(config)
    problems += _evaluation_problems(config)
    problems += _melody_conditioning_problems(config)
    problems += _model_problems(config) + _layer_problems(config) + _name_problems(config)
    problems += _run_problems(config)
    if problems:
        raise ConfigError("invalid config:\n" + "\n".join(problems))


def _model_problems(config: dict) -> list[str]:
    """Model specs that cannot name anything: a misspelt built-in, a missing folder."""
    problems = []
    for key in ("musicgen", "clap"):
        spec = config["models"][key]
        if spec.startswith(("tiny-", "mini-")) and spec not in BUILTIN_MODELS:
            problems.append(
                f"  models.{key}: {spec!r} is not a built-in model ({', '.join(BUILTIN_MODELS)})"
            )
        elif looks_like_path(spec) and not Path(spec).expanduser().exists():
            problems.append(f"  models.{key}: model folder {spec!r} does not exist")
    return problems


def _layer_problems(config: dict) -> list[str]:
    """Layer indices past the model (its layer count read from its config.json)."""
    spec, models_dir = config["models"]["musicgen"], config["models"]["dir"]
    n_layers = decoder_layer_count(spec, models_dir)
    if n_layers is None:  # a Hub model not cached here: the pre-flight says so
        return []
    model = f"{spec!r} has decoder layers 0..{n_layers - 1}"
    problems = []
    for i, choice in enumerate(config["steering"]["layers"]):
        if choice in ("best", "all"):
            continue
        indices = [int(x) for x in choice.split(",")]
        past = [x for x in indices if x >= n_layers]
        if past:
            problems.append(f"  steering.layers[{i}]: layer {past[0]} is out of range: {model}")
        if len(set(indices)) < len(indices):
            problems.append(f"  steering.layers[{i}]: {choice!r} names a layer twice")
    if len(set(config["steering"]["layers"])) < len(config["steering"]["layers"]):
        problems.append("  steering.layers: a layer choice is listed twice")
    fixed = config["probing"]["fixed_layer"]
    top = n_layers if "attn" not in config["activations"]["sites"] else n_layers - 1
    if fixed is not None and fixed > top:
        problems.append(
            f"  probing.fixed_layer: {fixed} is out of range: {model} (resid indices "
            f"0..{n_layers}, attn 0..{n_layers - 1})"
        )
    return problems


# The folders a run writes in results/ (and the example's): a named run's folder sits
# beside them when the unnamed run also lives in results/, so it must not take their names.
RESULT_FOLDERS = (
    "activations",
    "benchmarks",
    "data",
    "evaluation",
    "example",
    "figures",
    "instrument_transfer",
    "probing",
    "report",
    "steering",
    "tables",
    "tasks",
    "vectors",
)


def run_folders(run: str | None) -> tuple[str, str]:
    """The results and log folders of a run: ``results/<run>``, ``logs/<run>`` (unnamed: the
    paper's ``results``, ``logs``)."""
    return (f"results/{run}", f"logs/{run}") if run else ("results", "logs")


def _run_problems(config: dict) -> list[str]:
    """A run name that would put its outputs inside another run's folders."""
    run = config["run"]
    if run in RESULT_FOLDERS:
        return [f"  run: {run!r} is a folder every run writes; use another name"]
    return []


def _name_problems(config: dict) -> list[str]:
    """GM programs and demo genres that nothing could render."""
    from musicsteer.corpora.syntheory import gm_program, resolve_program
    from musicsteer.render.genres import STYLES

    problems = []
    syntheory = config["syntheory"]
    for key in ("programs", "instruments"):
        values = syntheory[key] if isinstance(syntheory[key], list) else []
        for i, value in enumerate(values):
            try:
                resolve_program(value)
            except ValueError as err:
                problems.append(f"  syntheory.{key}[{i}]: {str(err).split('; valid')[0]}")
    try:
        gm_program(config["instrument_transfer"]["program"])
    except ValueError as err:
        problems.append(f"  instrument_transfer.program: {str(err).split('; valid')[0]}")
    if config["demo"]["render"]:
        for i, genre in enumerate(config["demo"]["genres"]):
            if genre not in STYLES:
                problems.append(
                    f"  demo.genres[{i}]: no arrangement for {genre!r} (rendered genres: "
                    f"{', '.join(sorted(STYLES))})"
                )
    return problems


def _melody_conditioning_problems(config: dict) -> list[str]:
    """Chroma conditioning on a tonal SynTheory concept hands its label to the probe."""
    from musicsteer.corpora.syntheory import melody_conditioning_problem

    syntheory = config["syntheory"]
    concepts = syntheory["concepts"] if syntheory["source"] != "none" else []
    mode = config["activations"]["melody_conditioning"]
    found = (melody_conditioning_problem(c, mode) for c in concepts)
    return [f"  {problem}" for problem in found if problem]


def _steering_problems(config: dict) -> list[str]:
    steering, evaluation = config["steering"], config["evaluation"]
    problems = [
        f"  steering.{key}: {value!r} is not in {where}"
        for key, values, where in (
            ("sites", steering["sites"], "activations.sites"),
            ("methods", steering["methods"], "probing.methods"),
        )
        for value in values
        if value not in config[where.split(".")[0]][where.split(".")[1]]
    ]
    if steering["site"] not in steering["sites"]:
        problems.append(f"  steering.site: {steering['site']!r} is not in steering.sites")
    if steering["method"] not in steering["methods"]:
        problems.append(f"  steering.method: {steering['method']!r} is not in steering.methods")
    if evaluation["alpha_rule"] == "fixed" and evaluation["alpha"] not in steering["alphas"]:
        problems.append(
            f"  evaluation.alpha: {evaluation['alpha']!r} must be one of steering.alphas "
            "when evaluation.alpha_rule is 'fixed'"
        )
    if "relative_alpha" in steering:
        problems.append(
            "  steering.relative_alpha: replaced by steering.alpha_scale (norm, the default: "
            "alpha in units of the mean activation norm; projection: what relative_alpha: "
            "true did; absolute: what false did)"
        )
    if steering["cfg"] != "both" and steering["guidance_scale"] <= 1:
        problems.append(
            f"  steering.cfg: {steering['cfg']!r} steers one half of classifier-free "
            f"guidance, but steering.guidance_scale {steering['guidance_scale']:g} turns "
            "guidance off (half the prompts would be steered); use cfg both or a "
            "guidance_scale above 1"
        )
    problems += _prompt_coverage_problems(steering)
    too_big = [a for a in steering["alphas"] if a > MAX_NORM_ALPHA]
    if steering["alpha_scale"] == "norm" and too_big:
        problems.append(
            f"  steering.alphas: {too_big} exceed {MAX_NORM_ALPHA:g} × the mean activation "
            "norm (steering.alpha_scale 'norm'; 0.5 already overwhelms the prompt): use "
            "fractions such as [0.05, 0.1, 0.2, 0.3, 0.5], or steering.alpha_scale: absolute "
            "for absolute strengths"
        )
    return problems


def _prompt_coverage_problems(steering: dict) -> list[str]:
    """Every pair's source genre needs a prompt in the prompts file (if it is there yet:
    a missing file is the pre-flight's to report)."""
    path = Path(steering["prompts"])
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    if rows and "genre" not in rows[0]:
        return [f"  steering.prompts: {path} has no 'genre' column (columns: genre, prompt)"]
    genres = {str(row["genre"]).strip() for row in rows}
    return [
        f"  steering.pairs: no prompt for {pair['source']!r} (the source of {pair['source']} → "
        f"{pair['target']}) in {path}; add a row '{pair['source']}<TAB>your prompt'"
        for pair in steering["pairs"]
        if str(pair["source"]) not in genres
    ]


def _evaluation_problems(config: dict) -> list[str]:
    """The CLAP template places the label; the α-selection seeds leave seeds to report on."""
    evaluation, seeds = config["evaluation"], config["steering"]["seeds"]
    problems = []
    template = evaluation["template"]
    try:
        places_label = template.format("\0") != template.format("")
    except (IndexError, KeyError, ValueError):
        places_label = False
    if not places_label:
        problems.append(
            f"  evaluation.template: {template!r} must contain one {{}} where the label goes"
        )
    select = evaluation["select_seeds"] or []
    unknown = [s for s in select if s not in seeds]
    if unknown:
        problems.append(
            f"  evaluation.select_seeds: {unknown} not in steering.seeds {seeds}; α is chosen on "
            "the samples of these seeds"
        )
    elif select and set(select) == set(seeds):
        problems.append(
            f"  evaluation.select_seeds: {select} is every seed of steering.seeds, so none is "
            "left to report on; add seeds to steering.seeds, or set it to [] to choose α and "
            "report on the same samples (biased)"
        )
    return problems


def _instrument_problems(config: dict) -> list[str]:
    transfer = config["instrument_transfer"]
    if not transfer["enabled"]:
        return []
    problems = []
    syntheory = config["syntheory"]
    if syntheory["source"] == "none" or "chords" not in syntheory["concepts"]:
        problems.append(
            "  instrument_transfer.enabled: needs the SynTheory chords concept "
            "(syntheory.concepts) for the instrument vectors; or set it to false"
        )
    spec = config["models"]["musicgen"]
    if spec in BUILTIN_MODELS and "melody" not in spec:
        problems.append(
            f"  instrument_transfer.enabled: models.musicgen {spec!r} is not MusicGen-Melody "
            "(melody conditioning); or set it to false"
        )
    if not is_audio_path(transfer["melody"]):
        from musicsteer.render.melody import parse_melody

        try:
            parse_melody(transfer["melody"])
        except ValueError as err:
            problems.append(f"  instrument_transfer.melody: {err}")
    return problems


def _source_problem(config: dict, source: str) -> str | None:
    """Why a configured genre source cannot be read here, with how to get it."""
    path = config["data"][source]
    rendered = source == "gtzan" and config["demo"]["render"]
    if path is None or rendered or config["data"]["download"] or Path(path).is_dir():
        return None
    return (
        f"no folder at {path}. Put {SOURCES[source].holds} there, set data.{source} to where "
        f"it is (null leaves it out), set data.download: true to fetch it, or run the "
        "offline demo: snakemake --configfile config/demo.yaml"
    )


def preflight(config: dict, check_device: bool = True) -> tuple[list[str], list[str]]:
    """What stops the pipeline here, and what may: ``(errors, notices)``.

    Errors: missing data folders, prompts, local model folders, and (``check_device``:
    jobs run on this machine) a CUDA device that is not there. Notices: Hub models
    that are not cached yet (fetched on first use where there is network; errors when
    ``HF_HUB_OFFLINE`` is set).
    """
    errors, notices = [], []
    if check_device:
        problem = device_problem(config["device"])
        errors += [f"device: {problem}"] if problem else []
    for source in SOURCES:
        problem = _source_problem(config, source)
        if problem:
            errors.append(f"data.{source}: {problem}")
    melody = config["instrument_transfer"]["melody"]
    if (
        config["instrument_transfer"]["enabled"]
        and is_audio_path(melody)
        and not Path(melody).is_file()
    ):
        errors.append(f"instrument_transfer.melody: no audio file at {melody}")
    if not Path(config["steering"]["prompts"]).is_file():
        errors.append(f"steering.prompts: no prompts file at {config['steering']['prompts']}")
    offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")
    for key in ("musicgen", "clap"):
        spec = config["models"][key]
        issue = availability_problem(spec, config["models"]["dir"])
        if issue is None:
            continue
        if looks_like_path(spec) or offline:
            errors.append(f"models.{key}: {issue}")
        else:
            notices.append(f"models.{key}: {issue}")
    return errors, notices


def device_problem(device: str) -> str | None:
    """Why torch cannot use ``device`` on this machine, or None (imports torch)."""
    if not device.startswith("cuda"):
        return None
    import torch

    if not torch.cuda.is_available():
        build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        return (
            f"{device!r}, but torch {torch.__version__} ({build}) sees no CUDA device here; "
            "use device: cpu, or run on a GPU machine (a cluster profile checks on the node)"
        )
    return None


README_HEAD = """# Configuration

`config/config.yaml` is the paper's setup; `config/demo.yaml` (used by `make demo`: the
shipped mini models) is layered on top of it with `--configfile config/demo.yaml` for the
offline demo, and the DAG tests add `tests/configs/wiring.yaml` (the random tiny models).
The `mini` section is how `make mini` trains the mini models.
`config/prompts.tsv` holds the generation prompts (columns `genre`, `prompt`).

Every key, its default and meaning. This table is generated from
`workflow/schemas/config.schema.yaml`, which validates the config before any job runs
(`python -m musicsteer.config > config/README.md` after editing the schema).

| key | default | meaning |
|---|---|---|
"""


def schema_markdown(schema_path: str | Path) -> str:
    """``config/README.md``: every schema key with its default and description."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    return README_HEAD + "\n".join(_rows(schema, "")) + "\n"


def _rows(node: dict, prefix: str) -> Iterator[str]:
    for key, sub in node.get("properties", {}).items():
        name, text = prefix + key, sub.get("description", "")
        if "properties" in sub:
            yield f"| **`{name}`** | | {text} |"
            yield from _rows(sub, name + ".")
        else:
            default = json.dumps(sub.get("default")) if "default" in sub else "required"
            yield f"| `{name}` | `{default}` | {text} |"


if __name__ == "__main__":
    print(
        schema_markdown(Path(__file__).parents[2] / "workflow/schemas/config.schema.yaml"), end=""
    )
