"""musicsteer: probe and steer MusicGen with activation interventions.

The public face, imported on first use (so ``import musicsteer`` and the Snakemake DAG
do not load torch): :class:`SteeringVector`, :func:`steer`, :func:`capture`,
:func:`generate`, :func:`load_musicgen`, :func:`load_clap`.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

_PUBLIC = {
    "SteeringVector": "musicsteer.steering.vector",
    "steer": "musicsteer.steering.hooks",
    "capture": "musicsteer.activations",
    "generate": "musicsteer.steering.generation",
    "load_musicgen": "musicsteer.models.loading",
    "load_clap": "musicsteer.models.loading",
}
__all__ = [
    "SteeringVector",
    "__version__",
    "capture",
    "generate",
    "load_clap",
    "load_musicgen",
    "steer",
]

if TYPE_CHECKING:
    from musicsteer.activations import capture
    from musicsteer.models.loading import load_clap, load_musicgen
    from musicsteer.steering.generation import generate
    from musicsteer.steering.hooks import steer
    from musicsteer.steering.vector import SteeringVector


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'musicsteer' has no attribute {name!r}")
