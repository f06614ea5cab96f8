"""Steering vectors as small self-describing files.

A :class:`SteeringVector` holds one unit direction per probed layer index of one
site, plus the metadata needed to apply it (which layer was chosen, the model it
came from, the mean norm of the activations and their mean projection onto it, ...).

Layer indexing (the same everywhere in musicsteer):

* ``site="resid"``: index ``l`` is the residual stream *entering* decoder layer
  ``l`` (``output_hidden_states[l]``); index ``n_layers`` is the raw output of the
  last layer (before the final LayerNorm). Steering at index ``l`` hooks the input
  of ``layers[l]``.
* ``site="attn"``: index ``l`` is the self-attention output of ``layers[l]``
  (after ``out_proj``, before the residual add).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

SITES = ("resid", "attn")
METHODS = ("dim", "bce", "mse")


@dataclass
class SteeringVector:
    """Unit steering directions for one site, one per layer index.

    Attributes:
        directions: ``[n_indices, d]`` float32 array, each row unit-norm (or all
            zeros where no direction could be fitted).
        layer: the layer index chosen for steering (see module docstring).
        site: ``"resid"`` or ``"attn"``.
        method: ``"dim"``, ``"bce"`` or ``"mse"``.
        task: name of the task the vector was fitted on.
        positive: the class the direction points towards.
        negative: the class (or ``"rest"``) it points away from.
        model: identifier of the model whose activations were used.
        mean_projection: per index, mean of ``x · v`` over the training activations
            (the scale of ``alpha_scale="projection"``).
        mean_norm: per index, mean of ``‖x‖`` over the training activations (the
            scale of the default ``alpha_scale="norm"``); empty in files written before
            it was stored.
        accuracy: per index, held-out probe accuracy (NaN where not measured).
        extra: free-form metadata.
    """

    directions: np.ndarray
    layer: int
    site: str = "resid"
    method: str = "mse"
    task: str = ""
    positive: str = ""
    negative: str = ""
    model: str = ""
    mean_projection: list[float] = field(default_factory=list)
    mean_norm: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.directions = np.asarray(self.directions, dtype=np.float32)
        if self.directions.ndim != 2:
            raise ValueError(f"directions must be [n_indices, d], got {self.directions.shape}")
        if self.site not in SITES:
            raise ValueError(f"site must be one of {SITES}, got {self.site!r}")
        if not 0 <= self.layer < self.directions.shape[0]:
            raise ValueError(f"layer {self.layer} outside 0..{self.directions.shape[0] - 1}")

    @property
    def d(self) -> int:
        """Width of the residual stream the vector lives in."""
        return int(self.directions.shape[1])

    def direction(self, layer: int | None = None) -> np.ndarray:
        """The unit direction at ``layer`` (default: the chosen layer)."""
        return self.directions[self.layer if layer is None else layer]

    def apply(
        self,
        model: torch.nn.Module,
        alpha: float,
        site: str | None = None,
        layers: str | int | Sequence[int] | None = None,
        cfg: str = "both",
        skip_prefix: bool = True,
        alpha_scale: str = "norm",
    ) -> AbstractContextManager[None]:
        """Steer ``model`` with this vector inside a ``with`` block (hooks removed after).

        ``site`` defaults to the site the vector was fitted on; ``layers`` is ``None`` /
        ``"best"`` (the chosen layer), ``"all"``, an index or a list of indices.
        ``alpha_scale``: ``"norm"`` (default) measures α in units of the mean ``‖h‖``
        recorded at each layer, ``"absolute"`` takes it as it is, ``"projection"`` in
        units of the mean projection. See :func:`musicsteer.steering.apply_vector`.
        """
        from musicsteer.steering import apply_vector  # steering imports this module

        return apply_vector(self, model, alpha, site, layers, cfg, skip_prefix, alpha_scale)

    def save(self, path: str | Path) -> Path:
        """Write the vector as ``.npz`` (arrays + a JSON metadata string)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {k: v for k, v in asdict(self).items() if k != "directions"}
        with open(path, "wb") as fh:  # a file handle keeps numpy from appending ".npz"
            np.savez(fh, directions=self.directions, meta=np.array(json.dumps(meta)))
        return path

    @classmethod
    def load(cls, path: str | Path) -> SteeringVector:
        """Read a vector written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            return cls(directions=data["directions"], **meta)
