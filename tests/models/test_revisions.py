"""Hub models pinned to a revision (``org/name@<commit>``), loaded from a real Hugging Face
cache layout offline: the pin picks its snapshot, an unpinned ID the cached ``main``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from musicsteer.models.specs import same_model, split_revision
from musicsteer.models.tiny import build_builtin

OLD, NEW = "1" * 40, "2" * 40
REPO_ID = "someone/tiny-musicgen"


@pytest.fixture(scope="module")
def hub_cache(tmp_path_factory) -> Path:
    """A cache holding two commits of one repo: the old a MusicGen, main a MusicGen-Melody."""
    cache = tmp_path_factory.mktemp("hf-cache")
    repo = cache / f"models--{REPO_ID.replace('/', '--')}"
    build_builtin("tiny-musicgen", repo / "snapshots" / OLD)
    build_builtin("tiny-musicgen-melody", repo / "snapshots" / NEW)
    (repo / "refs").mkdir()
    (repo / "refs/main").write_text(NEW)
    return cache


LOAD = f"""
import json, logging
import yaml
from musicsteer import config
from musicsteer.models.loading import load_musicgen
from musicsteer.models.specs import availability_problem, decoder_layer_count, hub_commit
logging.basicConfig(level=logging.INFO)
cfg = yaml.safe_load(open("config/demo.yaml"))
cfg["models"]["musicgen"] = "{REPO_ID}@{"3" * 40}"
cfg = config.validate_config(cfg, "workflow/schemas/config.schema.yaml")
pinned, main = load_musicgen("{REPO_ID}@{OLD}"), load_musicgen("{REPO_ID}")
print(json.dumps({{
    "pinned_melody": pinned.is_melody, "main_melody": main.is_melody,
    "commits": [hub_commit("{REPO_ID}@{OLD}"), hub_commit("{REPO_ID}")],
    "layers": decoder_layer_count("{REPO_ID}@{OLD}"),
    "missing": availability_problem("{REPO_ID}@{"3" * 40}"),
    "present": availability_problem("{REPO_ID}@{OLD}"),
    "preflight": config.preflight(cfg, check_device=False)[0],
}}))
"""


def test_a_pinned_revision_loads_its_snapshot_the_log_names_it_and_preflight_checks_it(hub_cache):
    env = {**os.environ, "HF_HUB_CACHE": str(hub_cache), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", LOAD], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["pinned_melody"] is False and got["main_melody"] is True
    assert got["commits"] == [OLD, NEW]
    assert got["layers"] == 4 and got["present"] is None
    assert f"hf download {REPO_ID} --revision {'3' * 40}" in got["missing"]
    assert f"Hub commit {NEW} (pin it as {REPO_ID}@{NEW})" in done.stderr
    # offline, a pin that is not in the cache stops the run before any job
    assert any(
        e.startswith("models.musicgen:") and "--revision 333" in e for e in got["preflight"]
    ), got["preflight"]


def test_specs_split_and_compare_revisions(tmp_path):
    assert split_revision("facebook/musicgen-melody@abc123") == (
        "facebook/musicgen-melody",
        "abc123",
    )
    assert split_revision("facebook/musicgen-melody") == ("facebook/musicgen-melody", None)
    assert split_revision("tiny-musicgen") == ("tiny-musicgen", None)
    folder = tmp_path / "run@2"  # a local folder's name may hold '@'
    folder.mkdir()
    assert split_revision(str(folder)) == (str(folder), None)
    assert same_model("org/m@abc1234", "org/m@abc1234ffff")  # a short commit matches
    assert same_model("org/m@abc", "org/m")  # an unpinned spec: no conflict
    assert not same_model("org/m@abc", "org/m@def")
    assert not same_model("org/m", "org/other")


def test_the_paper_config_and_the_cli_pin_the_same_clap_commit():
    import yaml

    from musicsteer.models.specs import PAPER_CLAP

    paper = yaml.safe_load(Path("config/config.yaml").read_text())
    schema = yaml.safe_load(Path("workflow/schemas/config.schema.yaml").read_text())
    assert paper["models"]["clap"] == PAPER_CLAP
    assert schema["properties"]["models"]["properties"]["clap"]["default"] == PAPER_CLAP
    assert split_revision(PAPER_CLAP)[1] and len(split_revision(PAPER_CLAP)[1]) == 40
