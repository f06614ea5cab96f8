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
* a Hugging Face Hub ID such as ``facebook/musicgen-melody``.
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
    config = Path(resolve_spec(spec, models_dir)) / "config.json"
    if not config.is_file() and not looks_like_path(spec) and spec not in BUILTIN_MODELS:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(spec, "config.json")
        config = Path(cached) if isinstance(cached, str) else config
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
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(spec, "config.json"), str):
        return None
    return (
        f"model {spec!r} is not in the local Hugging Face cache; fetch it on a machine with "
        f"network (`hf download {spec}`) or point the config at a local folder"
    )
