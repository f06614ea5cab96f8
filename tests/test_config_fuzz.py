"""Broken configs, generated from the schema and written by hand: each is rejected by
validation (what `snakemake -n` runs at parse time, before any job), naming the key."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from musicsteer import config

SCHEMA = "workflow/schemas/config.schema.yaml"
BASE = yaml.safe_load(Path("config/demo.yaml").read_text())


def _leaves(schema: dict, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], dict]]:
    for name, node in schema.get("properties", {}).items():
        yield (*path, name), node
        if "properties" in node:
            yield from _leaves(node, (*path, name))


def _types(node: dict) -> set[str]:
    kind = node.get("type", [])
    return {kind} if isinstance(kind, str) else set(kind)


def _broken_values(node: dict) -> Iterator[tuple[str, object]]:
    """(what is wrong, a value) pairs that the node's schema must refuse."""
    types = _types(node)
    if types and not types & {"object", "array", "string"}:
        yield "wrong type", "not-a-number-or-flag"
    if "enum" in node:
        yield "unknown name", "no-such-choice"
    if "minimum" in node and types & {"integer", "number"}:
        yield "below minimum", node["minimum"] - 1
    if "exclusiveMinimum" in node:
        yield "at exclusive minimum", node["exclusiveMinimum"]
    if "maximum" in node:
        yield "above maximum", node["maximum"] + 1
    if "array" in types:
        if node.get("minItems", 0) >= 1:
            yield "empty list", []
        default = node.get("default")
        if isinstance(default, list) and default:
            yield "duplicate item", [default[0], default[0]]
        if "enum" in node.get("items", {}):
            yield "unknown item", ["no-such-item"]
    if "object" in types and node.get("additionalProperties") is False:
        yield "unknown key", {"no_such_key": 1}


def _schema_variants() -> list[tuple[str, dict, str]]:
    schema = yaml.safe_load(Path(SCHEMA).read_text())
    variants = []
    for path, node in _leaves(schema):
        for what, value in _broken_values(node):
            cfg = copy.deepcopy(BASE)
            target = cfg
            for name in path[:-1]:
                target = target.setdefault(name, {})
            if what == "unknown key":
                target.setdefault(path[-1], {}).update(value)  # type: ignore[union-attr]
                key = ".".join(path) + ".no_such_key"
            else:
                target[path[-1]] = value
                key = ".".join(path)
            variants.append((f"{key} ({what})", cfg, key))
    return variants


def _edit(**changes: object) -> dict:
    cfg = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        target = cfg
        for name in parents:
            target = target.setdefault(name, {})
        target[last] = value
    return cfg


# cross-key contradictions and facts the schema alone cannot know
HAND_WRITTEN = [
    (
        "pair source not a genre",
        _edit(steering__pairs=[{"source": "jazz", "target": "pop"}]),
        "steering.pairs[0].source",
    ),
    (
        "pair onto itself",
        _edit(steering__pairs=[{"source": "rock", "target": "rock"}]),
        "steering.pairs[0]",
    ),
    (
        "headline site not swept",
        _edit(steering__site="attn", steering__sites=["resid"]),
        "steering.site",
    ),
    (
        "steered site not recorded",
        _edit(activations__sites=["resid"], steering__sites=["attn"], steering__site="attn"),
        "steering.sites",
    ),
    ("fixed rule without a layer", _edit(probing__layer_rule="fixed"), "probing.fixed_layer"),
    ("layer past the model", _edit(steering__layers=["99"]), "steering.layers[0]"),
    ("one bad index in a list", _edit(steering__layers=["best", "1,2,40"]), "steering.layers[1]"),
    ("a layer twice in a list", _edit(steering__layers=["2,2"]), "steering.layers[0]"),
    (
        "fixed layer past the model",
        _edit(probing__layer_rule="fixed", probing__fixed_layer=50),
        "probing.fixed_layer",
    ),
    ("demo genre without arrangement", _edit(demo__genres=["rock", "polka"]), "demo.genres[1]"),
    (
        "unknown GM program",
        _edit(instrument_transfer__program="Kazoo"),
        "instrument_transfer.program",
    ),
    (
        "GM program number past 127",
        _edit(instrument_transfer__program=200),
        "instrument_transfer.program",
    ),
    (
        "excluded SynTheory program",
        _edit(syntheory__programs=["Flute", "Gunshot"]),
        "syntheory.programs[1]",
    ),
    ("infinite alpha", _edit(steering__alphas=[0.1, float("inf")]), "steering.alphas[1]"),
    ("NaN guidance", _edit(steering__guidance_scale=float("nan")), "steering.guidance_scale"),
    ("NaN temperature", _edit(steering__temperature=float("nan")), "steering.temperature"),
    ("no genre source", _edit(data__gtzan=None), "data"),
    (
        "cond without guidance",
        _edit(steering__cfg="cond", steering__guidance_scale=1.0),
        "steering.cfg",
    ),
    ("sample rate 0", _edit(data__sample_rate=0), "data.sample_rate"),
    ("duplicate genres", _edit(data__genres=["rock", "rock", "pop"]), "data.genres"),
    ("misspelt built-in model", _edit(models__musicgen="mini-musicgne"), "models.musicgen"),
    ("missing CLAP folder", _edit(models__clap="./no/such/clap"), "models.clap"),
]


def _all_variants() -> list[tuple[str, dict, str]]:
    return _schema_variants() + HAND_WRITTEN


def test_the_base_config_is_valid_and_there_are_enough_variants():
    config.validate_config(copy.deepcopy(BASE), SCHEMA)
    assert len(_all_variants()) >= 40


@pytest.mark.parametrize(
    ("cfg", "key"),
    [pytest.param(cfg, key, id=name) for name, cfg, key in _all_variants()],
)
def test_a_broken_config_is_rejected_naming_the_key(cfg, key):
    with pytest.raises(config.ConfigError) as err:
        config.validate_config(cfg, SCHEMA)
    lines = str(err.value).splitlines()
    assert any(line.strip().startswith(key) for line in lines[1:]), (key, lines)
