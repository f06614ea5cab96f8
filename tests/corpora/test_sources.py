"""The genre-source registry: config, downloads and the DAG read the same list."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from musicsteer.config import _source_problem
from musicsteer.corpora import download
from musicsteer.corpora.genres import FMA_SUBSETS, SOURCES, source_tracks

SCHEMA = Path(__file__).resolve().parents[2] / "workflow/schemas/config.schema.yaml"


def test_every_registered_source_has_a_config_key_and_a_download():
    data_keys = yaml.safe_load(SCHEMA.read_text())["properties"]["data"]["properties"]
    for name, source in SOURCES.items():
        assert name in data_keys, f"data.{name} is missing from the schema"
        for subset in FMA_SUBSETS:
            for archive in source.archives:
                assert archive.format(subset=subset) in download.SOURCES, (name, archive)


def test_a_missing_folder_names_what_the_source_holds(tmp_path):
    config = {
        "data": {"fma": str(tmp_path / "nowhere"), "download": False},
        "demo": {"render": False},
    }
    problem = _source_problem(config, "fma")
    assert problem is not None and SOURCES["fma"].holds in problem and "data.fma" in problem


def test_an_unknown_source_is_refused_naming_the_registered_ones(tmp_path):
    with pytest.raises(ValueError, match="expected one of \\('gtzan', 'fma', 'music_genres'\\)"):
        source_tracks("jamendo", tmp_path)
