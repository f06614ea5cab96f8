"""Model specs without torch: what a name means and whether it can be loaded here.

The workflow parses these on every ``snakemake`` call (dry runs, SLURM job starts,
``--report``), so this module must not import torch or transformers.

A *model spec* in a config is one of:

* a built-in name: ``tiny-musicgen``, ``tiny-musicgen-melody``, ``tiny-clap`` are
  deterministic random-weight models of the real classes, built on first use under
  ``models_dir/<name>``; ``mini-musicgen``, ``mini-musicgen-melody``, ``mini-clap`` are
  small models trained here on rendered music (:mod:`musicsteer.mini`), shipped in
  :data:`CHECKPOINTS`;
* a local folder written by ``save_pretrained``;
* a Hugging Face Hub ID such as ``facebook/musicgen-melody``, optionally pinned to a
  revision (a commit, tag or branch) as ``facebook/musicgen-melody@<commit>``.
"""

from __future__ import annotations

import json
from pathlib import Path

# Random-weight twins, built on first use under the models folder (fast unit tests).
TINY_MODELS = ("tiny-musicgen", "tiny-musicgen-melody", "tiny-clap")
# Small models trained here on rendered music, shipped in the package (``make mini``).
MINI_MODELS = ("mini-musicgen", "mini-musicgen-melody", "mini-clap")
BUILTIN_MODELS = TINY_MODELS + MINI_MODELS
CHECKPOINTS = Path(__file__).parent / "checkpoints"
# The paper's zero-shot CLAP at the commit public projects pin (config.yaml, the CLI).
PAPER_CLAP = "laion/clap-htsat-unfused@8fa0f1c6d0433df6e97c127f64b2a1d6c0dcda8a"

# Decoder shapes of the public checkpoints (layers, d_model, heads, ffn), for random
# models of real size in benchmarks.
DECODER_SHAPES: dict[str, tuple[int, int, int, int]] = {
    "tiny": (4, 64, 4, 128),
    "small": (24, 1024, 16, 4096),
    "medium": (48, 1536, 24, 6144),
    "large": (48, 2048, 32, 8192),
    "melody": (48, 1536, 24, 6144),
}


def decoder_layer_count(spec: str, models_dir: str | Path = "resources/models") -> int | None:
    """Decoder layers of a MusicGen spec, read from its ``config.json`` without loading it.

    Built-ins, local folders and Hub models in the local cache are known; None for a
    Hub model that is not cached (or a folder without a MusicGen config).
    """
    if spec in TINY_MODELS:
        return DECODER_SHAPES["tiny"][0]
    config = model_config_file(spec, models_dir)
    if config is None:
        return None
    try:
        layers = json.loads(config.read_text()).get("decoder", {}).get("num_hidden_layers")
    except (OSError, ValueError):
        return None
    return int(layers) if isinstance(layers, int) else None


def resolve_spec(spec: str, models_dir: str | Path = "resources/models") -> str:
    """Turn a model spec into a local folder (built-ins, paths) or a Hub ID."""
    if spec in MINI_MODELS:
        return str(CHECKPOINTS / spec)
    if spec in TINY_MODELS:
        return str(Path(models_dir) / spec)
    if Path(spec).expanduser().exists():
        return str(Path(spec).expanduser())
    return spec


def looks_like_path(spec: str) -> bool:
    """Specs starting with '/', '.', '~' or holding more than one '/' are paths, not Hub IDs."""
    return spec.startswith(("/", ".", "~")) or spec.count("/") > 1


def availability_problem(spec: str, models_dir: str | Path = "resources/models") -> str | None:
    """Why ``spec`` cannot be loaded here, or None if it can (or will be built).

    Hub IDs count as available when they are in the local Hugging Face cache;
    otherwise the message says how to fetch them.
    """
    if spec in MINI_MODELS and not (CHECKPOINTS / spec / "config.json").is_file():
        return f"the mini model {spec!r} is not installed in {CHECKPOINTS}: run `make mini`"
    if spec in BUILTIN_MODELS or Path(spec).expanduser().exists():
        return None
    if looks_like_path(spec):
        return f"model folder {spec!r} does not exist"
    if cached_hub_file(spec, "config.json") is not None:
        return None
    repo, revision = split_revision(spec)
    fetch = f"hf download {repo}" + (f" --revision {revision}" if revision else "")
    at = f" at revision {revision!r}" if revision else ""
    return (
        f"model {repo!r}{at} is not in the local Hugging Face cache; fetch it on a machine "
        f"with network (`{fetch}`) or point the config at a local folder"
    )


def split_revision(spec: str) -> tuple[str, str | None]:
    """A Hub spec ``org/name@revision`` as ``(org/name, revision)``; other specs (and
    an unpinned ID) with revision None."""
    if "@" not in spec or looks_like_path(spec) or Path(spec).expanduser().exists():
        return spec, None
    repo, _, revision = spec.rpartition("@")
    return repo, revision or None


def cached_hub_file(spec: str, filename: str) -> Path | None:
    """A file of a Hub model (at its pinned revision, else the cached ``main``) in the
    local Hugging Face cache, or None."""
    if spec in BUILTIN_MODELS or looks_like_path(spec) or Path(spec).expanduser().exists():
        return None
    from huggingface_hub import try_to_load_from_cache

    repo, revision = split_revision(spec)
    cached = try_to_load_from_cache(repo, filename, revision=revision)
    return Path(cached) if isinstance(cached, str) else None


def hub_commit(spec: str) -> str | None:
    """The commit a Hub spec loads from the local cache (its snapshot folder's name), to
    record which weights a run used; None for built-ins, folders and uncached models."""
    config = cached_hub_file(spec, "config.json")
    return config.parent.name if config is not None else None


def same_model(a: str, b: str) -> bool:
    """Whether two specs name the same weights: the same ID or folder, and the same
    revision where both pin one (a short commit matches its full hash)."""
    (repo_a, rev_a), (repo_b, rev_b) = split_revision(a), split_revision(b)
    if repo_a != repo_b:
        return False
    if rev_a is None or rev_b is None:
        return True
    return rev_a.startswith(rev_b) or rev_b.startswith(rev_a)


def model_config_file(spec: str, models_dir: str | Path = "resources/models") -> Path | None:
    """The ``config.json`` of a built-in, a local folder or a cached Hub model, or None."""
    local = Path(resolve_spec(spec, models_dir)) / "config.json"
    return local if local.is_file() else cached_hub_file(spec, "config.json")
