"""Steering routes: one definition of "steer task T towards class c" for pairs and instruments."""

from __future__ import annotations

import pandas as pd
import pytest

from musicsteer.config import validate_config
from musicsteer.evaluation.jobs import route_samples
from musicsteer.steering.routes import INSTRUMENTS, Route, config_routes
from musicsteer.tasks import build_genre_tasks, genre_task_names

SCHEMA = "workflow/schemas/config.schema.yaml"


@pytest.fixture(scope="module")
def demo_config():
    import yaml

    with open("config/config.yaml") as base:
        config = yaml.safe_load(base) | {}
    for layer in ("config/demo.yaml", "tests/configs/wiring.yaml"):  # as the DAG tests run it
        with open(layer) as extra:
            for key, value in yaml.safe_load(extra).items():
                merged = {**config.get(key, {}), **value} if isinstance(value, dict) else value
                config[key] = merged
    return validate_config(config, SCHEMA)


def test_every_pair_and_instrument_transfer_is_a_route(demo_config):
    routes = config_routes(demo_config)
    pairs = [(p["source"], p["target"]) for p in demo_config["steering"]["pairs"]]
    assert list(routes) == [f"{s}_to_{t}" for s, t in pairs] + [INSTRUMENTS]
    rock_pop = routes["rock_to_pop"]
    assert (rock_pop.task, rock_pop.targets, rock_pop.baseline) == (
        "pair_rock_to_pop",
        ("pop",),
        "rock",
    )
    assert rock_pop.label_sets["pair"] == ["rock", "pop"] and not rock_pop.melody
    assert rock_pop.task in genre_task_names(demo_config["data"]["genres"], pairs)
    transfer = routes[INSTRUMENTS]
    assert transfer.melody and transfer.task == "instrument" and transfer.source is None
    assert transfer.targets == ("Flute", "Violin", "Xylophone")
    assert transfer.display == {"Flute": "flute", "Violin": "violin", "Xylophone": "xylophone"}


def test_a_route_survives_the_trip_through_snakemake_params(demo_config):
    for route in config_routes(demo_config).values():
        assert Route(**route.as_params()) == route


def test_the_dag_and_the_task_builder_agree_on_genre_task_names():
    manifest = pd.DataFrame(
        {
            "clip_id": [f"c{i}" for i in range(24)],
            "label": ["hip hop", "rock", "pop"] * 8,
            "dataset": "gtzan",
            "track": [f"t{i}" for i in range(24)],
        }
    )
    pairs = [("rock", "hip hop")]
    built = build_genre_tasks(manifest, pairs, ["hip hop", "rock", "pop"], seed=0)
    assert list(built) == genre_task_names(["hip hop", "rock", "pop"], pairs)


def test_a_one_target_route_measures_its_baseline_towards_that_target():
    route = Route(name="rock_to_pop", task="pair_rock_to_pop", targets=("pop",), baseline="rock")
    originals = pd.DataFrame({"path": ["o.wav"], "kind": ["original"]})
    steered = pd.DataFrame({"path": ["s.wav"], "kind": ["steered"], "target": ["pop"]})
    assert route_samples(route, originals, steered).target.tolist() == ["pop", "pop"]
    several = Route(name="x", task="t", targets=("a", "b"), baseline="x")
    both = route_samples(several, originals, steered.assign(target="a"))
    assert both.target.isna().tolist() == [True, False]  # no single target to measure towards
