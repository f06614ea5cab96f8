"""Steering vectors as small self-describing files, and their application.

A :class:`SteeringVector` holds one unit direction per stored layer of one site
(:mod:`musicsteer.models.hookpoints` spells the layer convention), plus the metadata
needed to apply it (which layer was chosen, the model it came from, the mean norm of
the activations and their mean projection onto it, ...). :meth:`SteeringVector.apply`
is the implementation: it resolves layers and α units, then calls
:func:`musicsteer.steering.hooks.steer` with plain direction tensors.

At each steered position the default operator makes ``h' = (h + α v̂) · ‖h‖ / ‖h + α
v̂‖`` (the norm is kept). α is in units chosen by ``alpha_scale``
(:data:`ALPHA_SCALES`): by default ``"norm"``, the mean ``‖h‖`` of the vector's
training activations at that site and layer, so that α = a rotates a typical ``h``
(orthogonal to the direction) by about ``atan(a)`` at every layer and site, although
activation norms differ up to 10× between them.
"""

from __future__ import annotations

import json
import math
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from musicsteer.models.hookpoints import (
    check_site,
    decoder_layers,
    hidden_size,
    n_layers_from_stored,
    site_layers,
    steerable_layers,
)
from musicsteer.steering.hooks import MAX_ALPHA, Operator, norm_preserving_add, steer
from musicsteer.storage import CorruptFileError

ALPHA_SCALES = ("norm", "absolute", "projection")

# projection mode refuses layers where |mean projection| < this × mean ‖h‖ (α would explode)
MIN_PROJECTION_RATIO = 1e-3


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
        check_site(self.site)
        if not 0 <= self.layer < self.directions.shape[0]:
            raise ValueError(f"layer {self.layer} outside 0..{self.directions.shape[0] - 1}")

    @property
    def d(self) -> int:
        """Width of the residual stream the vector lives in."""
        return int(self.directions.shape[1])

    def direction(self, layer: int | None = None) -> np.ndarray:
        """The unit direction at ``layer`` (default: the chosen layer)."""
        return self.directions[self.layer if layer is None else layer]

    @contextmanager
    def apply(
        self,
        model: torch.nn.Module,
        alpha: float,
        site: str | None = None,
        layers: str | int | Sequence[int] | None = None,
        cfg: str = "both",
        skip_prefix: bool = True,
        alpha_scale: str = "norm",
        operator: Operator = norm_preserving_add,
    ) -> Iterator[None]:
        """Steer ``model`` with this vector inside a ``with`` block (hooks removed after).

        ``site`` defaults to the site the vector was fitted on; ``layers`` is ``None`` /
        ``"best"`` (the chosen layer), ``"all"``, an index or a list of indices. At
        each chosen layer the hook's α is ``alpha × alpha_unit(self, layer,
        alpha_scale)``: with ``"norm"`` (default) α is a fraction of the mean ``‖h‖`` of
        the vector's training activations there (0.1 rotates a typical ``h`` by about
        6°, at any layer and site); ``"absolute"`` takes α as it is; ``"projection"``
        measures it in units of the mean projection of those activations onto the
        direction (what the paper searched α around). ``cfg``, ``skip_prefix`` and
        ``operator`` are :func:`musicsteer.steering.hooks.steer`'s.
        """
        check_fits(self, model)
        chosen = resolve_layers(self, layers)
        outside = [i for i in chosen if not 0 <= i < self.directions.shape[0]]
        if outside:
            raise ValueError(
                f"layers {outside} are outside the vector's indices 0..{self.directions.shape[0] - 1}"
            )
        if alpha_scale != "absolute" and site is not None and site != self.site:
            raise ValueError(
                f"alpha_scale {alpha_scale!r} uses the {self.site} statistics stored with the "
                f"vector; steering it at site {site!r} needs alpha_scale='absolute'"
            )
        alphas = {i: absolute_alpha(alpha, alpha_unit(self, i, alpha_scale)) for i in chosen}
        directions = {i: self.directions[i] for i in chosen}
        with steer(model, directions, alphas, site or self.site, cfg, skip_prefix, operator):
            yield

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
        """Read a vector written by :meth:`save`; a damaged file raises naming its path."""
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                return cls(directions=data["directions"], **meta)
        except FileNotFoundError:
            raise
        except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as err:
            raise CorruptFileError(
                f"{path}: not a readable steering vector ({type(err).__name__}: {err}); "
                "delete it and rerun to rebuild it"
            ) from err


def resolve_layers(vector: SteeringVector, layers: str | int | Sequence[int] | None) -> list[int]:
    """``None``/``"best"`` → the vector's chosen layer; ``"all"`` → every steerable layer."""
    if layers is None or layers == "best":
        return [vector.layer]
    if layers == "all":
        n_layers = n_layers_from_stored(vector.site, len(vector.directions))
        steerable = steerable_layers(vector.site, n_layers)
        return [i for i in steerable if np.any(vector.directions[i])]
    if isinstance(layers, int):
        return [layers]
    if isinstance(layers, str):
        try:
            return [int(x) for x in layers.split(",")]
        except ValueError:
            raise ValueError(
                f"layers must be 'best', 'all', an index or a comma list, got {layers!r}"
            ) from None
    return [int(x) for x in layers]


def check_fits(vector: SteeringVector, model: torch.nn.Module) -> None:
    """Raise a clear ``ValueError`` when ``vector`` was made for a different model shape."""
    d = hidden_size(model)
    n_layers = len(decoder_layers(model))
    expected = len(site_layers(vector.site, n_layers))
    source = vector.model or "an unknown model"
    if vector.d != d:
        raise ValueError(f"vector has d={vector.d} (from {source}), the model has d={d}")
    if vector.directions.shape[0] != expected:
        raise ValueError(
            f"vector has {vector.directions.shape[0]} {vector.site} layer indices (from "
            f"{source}), a {n_layers}-layer model has {expected}"
        )


def absolute_alpha(alpha: float, unit: float) -> float:
    """``alpha × unit``, for any finite ``alpha``: a product past ±MAX_ALPHA is clamped there."""
    if not math.isfinite(alpha):
        raise ValueError(f"alpha must be a finite number, got {alpha!r}")
    return min(max(float(alpha) * unit, -MAX_ALPHA), MAX_ALPHA)


def alpha_unit(vector: SteeringVector, layer: int, alpha_scale: str = "norm") -> float:
    """What α = 1 means at ``layer``: 1 (``"absolute"``), the mean ``‖h‖`` (``"norm"``)
    or the |mean projection| (``"projection"``) of the vector's training activations.

    Raises a ``ValueError`` that names the layer where the unit is missing, zero or
    (projection) below :data:`MIN_PROJECTION_RATIO` × the mean norm, where it would
    turn a small α into a huge one.
    """
    if alpha_scale not in ALPHA_SCALES:
        raise ValueError(f"alpha_scale must be one of {ALPHA_SCALES}, got {alpha_scale!r}")
    if alpha_scale == "absolute":
        return 1.0
    if len(vector.mean_norm) <= layer:
        raise ValueError(
            f"alpha_scale {alpha_scale!r} needs the mean activation norm stored with the "
            f"vector (mean_norm), which {vector.model or 'this vector'}'s file lacks at layer "
            f"{layer}: refit the vector (rerun probing) or use alpha_scale='absolute'"
        )
    norm = float(vector.mean_norm[layer])
    if not np.isfinite(norm) or norm <= 0:
        raise ValueError(f"alpha_scale {alpha_scale!r}: mean norm at layer {layer} is {norm}")
    if alpha_scale == "norm":
        return norm
    if len(vector.mean_projection) <= layer:
        raise ValueError(
            "alpha_scale 'projection' needs mean_projection stored with the vector; "
            "refit the vector or use alpha_scale 'norm'"
        )
    projection = abs(float(vector.mean_projection[layer]))
    if not (np.isfinite(projection) and projection >= MIN_PROJECTION_RATIO * norm):
        raise ValueError(
            f"alpha_scale 'projection' is unstable at layer {layer}: |mean projection| "
            f"{projection:.3g} is below {MIN_PROJECTION_RATIO:g} × the mean norm {norm:.3g} "
            "(α would be divided by almost zero); use alpha_scale 'norm'"
        )
    return projection


def load_task_vectors(
    folder: str | Path,
    sites: Sequence[str],
    methods: Sequence[str],
    classes: Sequence[str] | None = None,
) -> dict[tuple[str, str, str], SteeringVector]:
    """Per-class vectors of a probed task (``<site>_<method>_<class>.npz``), keyed
    ``(class, site, method)``; ``classes=None`` takes every class found."""
    vectors = {}
    for site in sites:
        for method in methods:
            for path in sorted(Path(folder).glob(f"{site}_{method}_*.npz")):
                vector = SteeringVector.load(path)
                vectors[(vector.positive, site, method)] = vector
    found = sorted({key[0] for key in vectors})
    missing = [c for c in classes or [] if c not in found]
    if missing or not vectors:
        raise ValueError(f"{folder}: no vectors for {missing or 'any class'} (found {found})")
    return {k: v for k, v in vectors.items() if classes is None or k[0] in classes}
