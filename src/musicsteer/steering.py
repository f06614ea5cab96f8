"""Norm-preserving activation steering of MusicGen, scoped by a context manager.

At each steered position the activation ``h`` becomes

    h' = (h + α v̂) · ‖h‖ / ‖h + α v̂‖

so its norm is kept. ``site="resid"`` hooks the input of decoder layer ``l``
(a forward pre-hook); ``site="attn"`` hooks the output of ``layers[l].self_attn``
before it is added to the residual stream. Hooks live only inside the ``with``
block and are removed in ``finally``; the model itself is never modified.

α of :func:`steer` is absolute. A saved :class:`SteeringVector` is applied with α in
units chosen by ``alpha_scale`` (:data:`ALPHA_SCALES`): by default ``"norm"``, the
mean ``‖h‖`` of the vector's training activations at that site and layer, so that
α = a rotates a typical ``h`` (orthogonal to the direction) by about ``atan(a)`` at
every layer and site, although activation norms differ up to 10× between them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from weakref import WeakKeyDictionary

import numpy as np
import pandas as pd
import torch

from musicsteer.activations import AudioSpan, _first
from musicsteer.models import MusicGen, decoder_layers, inner_decoder
from musicsteer.vectors import SITES, SteeringVector

__all__ = [
    "ALPHA_SCALES",
    "Setting",
    "SteeringVector",
    "alpha_unit",
    "apply_vector",
    "check_fits",
    "check_sampling",
    "generate",
    "generate_originals",
    "generate_steered",
    "generation_settings",
    "norm_preserving_add",
    "resolve_layers",
    "steer",
]
CFG_MODES = ("both", "cond")
ALPHA_SCALES = ("norm", "absolute", "projection")
# projection mode refuses layers where |mean projection| < this × mean ‖h‖ (α would explode)
MIN_PROJECTION_RATIO = 1e-3
# sampling defaults of audiocraft (transformers' own top_k default is 50)
TOP_K, TOP_P, TEMPERATURE = 250, 0.0, 1.0

# models inside a ``steer(..., cfg="cond")`` block (a count: blocks may nest)
_COND_ONLY: WeakKeyDictionary[torch.nn.Module, int] = WeakKeyDictionary()


def norm_preserving_add(
    hidden: torch.Tensor, direction: torch.Tensor, alpha: float
) -> torch.Tensor:
    """``(h + α v) · ‖h‖ / ‖h + α v‖`` along the last dimension (computed in float32)."""
    h = hidden.float()
    moved = h + alpha * direction.float()
    scale = h.norm(dim=-1, keepdim=True) / moved.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return (moved * scale).to(hidden.dtype)


class _Steerer:
    """Applies one direction to the selected rows and audio positions of a tensor."""

    def __init__(self, direction: torch.Tensor, alpha: float, cfg: str, span: AudioSpan | None):
        self.direction, self.alpha, self.cfg, self.span = direction, alpha, cfg, span

    def __call__(self, hidden: torch.Tensor) -> torch.Tensor:
        rows = slice(0, hidden.shape[0] // 2) if self.cfg == "cond" else slice(None)
        cols = slice(hidden.shape[1] - self.span.n_audio, None) if self.span else slice(None)
        out = hidden.clone()
        v = self.direction.to(hidden.device)
        out[rows, cols] = norm_preserving_add(hidden[rows, cols], v, self.alpha)
        return out


def _resid_hook(steer_fn: _Steerer) -> Callable:
    def hook(_m: torch.nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        if args:
            return (steer_fn(args[0]), *args[1:]), kwargs
        return args, {**kwargs, "hidden_states": steer_fn(kwargs["hidden_states"])}

    return hook


def _attn_hook(steer_fn: _Steerer) -> Callable:
    def hook(_m: torch.nn.Module, _args: tuple, output: torch.Tensor | tuple) -> object:
        if isinstance(output, tuple):
            return (steer_fn(_first(output)), *output[1:])
        return steer_fn(output)

    return hook


def _check_layers(directions: Mapping[int, torch.Tensor], n_layers: int, d: int) -> None:
    for layer, vec in directions.items():
        if not 0 <= layer < n_layers:
            raise ValueError(
                f"cannot steer layer {layer}: the model has decoder layers 0..{n_layers - 1} "
                "(the residual index n_layers is the final output, after every layer)"
            )
        if vec.shape != (d,):
            raise ValueError(
                f"direction for layer {layer} has shape {tuple(vec.shape)}, model d={d}"
            )


@contextmanager
def steer(
    model: torch.nn.Module,
    directions: Mapping[int, np.ndarray | torch.Tensor],
    alpha: float | Mapping[int, float],
    site: str = "resid",
    cfg: str = "both",
    skip_prefix: bool = True,
) -> Iterator[None]:
    """Steer ``model`` inside the ``with`` block.

    Args:
        model: a MusicGen or MusicGen-Melody ``...ForConditionalGeneration``.
        directions: ``layer → direction [d]`` (normalised here to unit length).
        alpha: the strength α, one for all layers or one per layer; 0 leaves the model
            exactly as it is.
        site: ``"resid"`` (input of the layer) or ``"attn"`` (self-attention output).
        cfg: ``"both"`` CFG halves, or ``"cond"``: only the conditional first half of
            the batch. It needs ``guidance_scale > 1`` (without guidance the batch is
            not doubled): :func:`generate` refuses to run inside such a block otherwise.
        skip_prefix: leave MusicGen-Melody's conditioning prefix untouched.
    """
    if site not in SITES:
        raise ValueError(f"site must be one of {SITES}, got {site!r}")
    if cfg not in CFG_MODES:
        raise ValueError(f"cfg must be one of {CFG_MODES}, got {cfg!r}")
    layers = decoder_layers(model)
    d = int(model.decoder.config.hidden_size)
    unit = {int(k): _unit(v) for k, v in directions.items()}
    _check_layers(unit, len(layers), d)
    alphas = {k: float(alpha[k] if isinstance(alpha, Mapping) else alpha) for k in unit}
    unit = {k: v for k, v in unit.items() if alphas[k] != 0}
    span = AudioSpan() if skip_prefix and unit else None
    handles = []
    if cfg == "cond":
        _COND_ONLY[model] = _COND_ONLY.get(model, 0) + 1
    try:
        if span is not None:
            handles.append(
                inner_decoder(model).register_forward_pre_hook(span.hook, with_kwargs=True)
            )
        for layer, vec in unit.items():
            fn = _Steerer(vec, alphas[layer], cfg, span)
            if site == "resid":
                handles.append(
                    layers[layer].register_forward_pre_hook(_resid_hook(fn), with_kwargs=True)
                )
            else:
                handles.append(layers[layer].self_attn.register_forward_hook(_attn_hook(fn)))
        yield  # with α = 0 no hook at all: exactly the unsteered model, not a rounding of it
    finally:
        for handle in handles:
            handle.remove()
        if cfg == "cond":
            _COND_ONLY[model] -= 1
            if not _COND_ONLY[model]:
                del _COND_ONLY[model]


def _unit(vec: np.ndarray | torch.Tensor) -> torch.Tensor:
    v = torch.as_tensor(np.asarray(vec, dtype=np.float32))
    norm = v.norm()
    if not torch.isfinite(norm) or norm == 0:
        raise ValueError("a steering direction is zero or not finite")
    return v / norm


def resolve_layers(vector: SteeringVector, layers: str | int | Sequence[int] | None) -> list[int]:
    """``None``/``"best"`` → the vector's chosen layer; ``"all"`` → every steerable layer."""
    if layers is None or layers == "best":
        return [vector.layer]
    if layers == "all":
        n = vector.directions.shape[0] - (1 if vector.site == "resid" else 0)
        return [i for i in range(n) if np.any(vector.directions[i])]
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


def layers_label(layers: str | int | Sequence[int] | None) -> str:
    """A file-name-safe label of a layer choice: ``best``, ``all``, ``3`` or ``2-5``."""
    if layers is None:
        return "best"
    if isinstance(layers, str):
        return layers.replace(",", "-")
    if isinstance(layers, int):
        return str(layers)
    return "-".join(str(int(x)) for x in layers)


@contextmanager
def apply_vector(
    vector: SteeringVector,
    model: torch.nn.Module,
    alpha: float,
    site: str | None = None,
    layers: str | int | Sequence[int] | None = None,
    cfg: str = "both",
    skip_prefix: bool = True,
    alpha_scale: str = "norm",
) -> Iterator[None]:
    """Steer with a saved :class:`SteeringVector` (see :func:`steer`).

    At each chosen layer the hook's α is ``alpha × alpha_unit(vector, layer,
    alpha_scale)``: with ``"norm"`` (default) α is a fraction of the mean ``‖h‖`` of
    the vector's training activations there (0.1 rotates a typical ``h`` by about
    6°, at any layer and site); ``"absolute"`` takes α as it is; ``"projection"``
    measures it in units of the mean projection of those activations onto the
    direction (what the paper searched α around).
    """
    check_fits(vector, model)
    chosen = resolve_layers(vector, layers)
    outside = [i for i in chosen if not 0 <= i < vector.directions.shape[0]]
    if outside:
        raise ValueError(
            f"layers {outside} are outside the vector's indices 0..{vector.directions.shape[0] - 1}"
        )
    if alpha_scale != "absolute" and site is not None and site != vector.site:
        raise ValueError(
            f"alpha_scale {alpha_scale!r} uses the {vector.site} statistics stored with the "
            f"vector; steering it at site {site!r} needs alpha_scale='absolute'"
        )
    alphas = {i: float(alpha) * alpha_unit(vector, i, alpha_scale) for i in chosen}
    with steer(
        model,
        {i: vector.directions[i] for i in chosen},
        alphas,
        site or vector.site,
        cfg,
        skip_prefix,
    ):
        yield


def check_fits(vector: SteeringVector, model: torch.nn.Module) -> None:
    """Raise a clear ``ValueError`` when ``vector`` was made for a different model shape."""
    d = int(model.decoder.config.hidden_size)
    n_layers = len(decoder_layers(model))
    expected = n_layers + (1 if vector.site == "resid" else 0)
    source = vector.model or "an unknown model"
    if vector.d != d:
        raise ValueError(f"vector has d={vector.d} (from {source}), the model has d={d}")
    if vector.directions.shape[0] != expected:
        raise ValueError(
            f"vector has {vector.directions.shape[0]} {vector.site} layer indices (from "
            f"{source}), a {n_layers}-layer model has {expected}"
        )


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


# ---------------------------------------------------------------------- generation


@torch.inference_mode()
def generate(
    mg: MusicGen,
    prompts: Sequence[str],
    max_new_tokens: int,
    seed: int = 0,
    guidance_scale: float = 3.0,
    do_sample: bool = True,
    melody: np.ndarray | None = None,
    return_codes: bool = False,
    top_k: int = TOP_K,
    top_p: float | None = TOP_P,
    temperature: float = TEMPERATURE,
) -> np.ndarray | tuple[np.ndarray, torch.Tensor]:
    """Generate audio ``[B, samples]`` (float32, ``mg.sample_rate``) for text prompts.

    ``melody`` (32-kHz mono) conditions MusicGen-Melody through its chroma. With
    ``return_codes`` the decoder's input tokens of every step are returned too
    (``[B * K (* 2 with CFG), steps]``): equal codes mean equal generations.
    Sampling keeps the ``top_k`` most likely codes (audiocraft's 250; 0 = all) and,
    with ``0 < top_p < 1``, the smallest set of them holding ``top_p`` of the
    probability; ``temperature`` divides the logits first. Greedy decoding
    (``do_sample=False``) ignores all three. Refuses ``guidance_scale <= 1`` inside a
    ``steer(..., cfg="cond")`` block: without guidance there is no unconditional half.
    """
    from musicsteer.models import melody_chroma

    check_sampling(top_k, top_p, temperature)
    if guidance_scale <= 1 and _COND_ONLY.get(mg.model):
        raise ValueError(
            f"cfg='cond' steers only the conditional half of a classifier-free-guidance "
            f"batch, but guidance_scale={guidance_scale:g} turns guidance off (the batch is "
            "not doubled, so half the prompts would be steered): use cfg='both' or "
            "guidance_scale > 1"
        )
    if melody is not None and not mg.is_melody:
        raise ValueError(f"{mg.name} is not MusicGen-Melody: it cannot take a melody")
    inputs = mg.tokenizer(list(prompts), return_tensors="pt", padding=True).to(mg.device)
    if melody is not None:
        chroma = melody_chroma(
            np.tile(np.asarray(melody, np.float32), (len(prompts), 1)), mg.sample_rate
        )
        inputs["input_features"] = chroma.to(mg.device, dtype=mg.model.dtype)
    steps: list[torch.Tensor] = []
    hook = (
        inner_decoder(mg.model).register_forward_pre_hook(
            lambda _m, a, k: steps.append(
                (k.get("input_ids", a[0] if a else None))[:, -1:].clone()
            ),
            with_kwargs=True,
        )
        if return_codes
        else None
    )
    sampling = (
        {
            "top_k": int(top_k),
            "top_p": float(top_p) if top_p else 1.0,
            "temperature": float(temperature),
        }
        if do_sample
        else {}
    )
    torch.manual_seed(seed)
    try:
        audio = mg.model.generate(
            **inputs,
            max_new_tokens=max_new_tokens,
            do_sample=do_sample,
            guidance_scale=guidance_scale,
            **sampling,
        )
    finally:
        if hook is not None:
            hook.remove()
    waves = audio[:, 0].float().cpu().numpy()
    return (waves, torch.cat(steps, dim=1)) if return_codes else waves


def check_sampling(top_k: int, top_p: float | None, temperature: float) -> None:
    """Raise a ``ValueError`` naming the sampling parameter that is out of range."""
    if isinstance(top_k, bool) or int(top_k) != top_k or top_k < 0:
        raise ValueError(f"top_k must be a whole number >= 0 (0 = no limit), got {top_k!r}")
    if top_p is not None and not 0 <= top_p <= 1:
        raise ValueError(f"top_p must be in [0, 1] (0 = off), got {top_p!r}")
    if not temperature > 0 or not np.isfinite(temperature):
        raise ValueError(f"temperature must be positive, got {temperature!r}")


@dataclass(frozen=True)
class Setting:
    """One cell of the steering grid: which vector, where, how strong."""

    target: str
    site: str
    method: str
    alpha: float
    layers: str = "best"

    def stem(self) -> str:
        """File-name part that names every choice (``pop_resid_mse_best_a8``)."""
        return f"{self.target}_{self.site}_{self.method}_{self.layers}_a{self.alpha:g}"


def _write_batch(
    mg: MusicGen, waves: np.ndarray, prompts: pd.DataFrame, seed: int, out: Path, stem: str
) -> list[dict]:
    from musicsteer.audio import write_wav

    rows = []
    for prompt, wave in zip(prompts.itertuples(index=False), waves, strict=True):
        path = write_wav(out / f"{stem}_p{prompt.prompt_id:02d}_s{seed}.wav", wave, mg.sample_rate)
        rows.append(
            {
                "path": str(path),
                "prompt_id": int(prompt.prompt_id),
                "prompt": prompt.prompt,
                "seed": seed,
            }
        )
    return rows


def generation_settings(
    max_new_tokens: int,
    guidance_scale: float,
    top_k: int = TOP_K,
    top_p: float | None = TOP_P,
    temperature: float = TEMPERATURE,
) -> dict[str, int | float]:
    """The generation settings a samples table records, one column each."""
    return {
        "max_new_tokens": int(max_new_tokens),
        "guidance_scale": float(guidance_scale),
        "top_k": int(top_k),
        "top_p": float(top_p or 0.0),
        "temperature": float(temperature),
    }


def generate_originals(
    mg: MusicGen,
    prompts: pd.DataFrame,
    seeds: Sequence[int],
    out_dir: str | Path,
    max_new_tokens: int,
    guidance_scale: float = 3.0,
    melody: np.ndarray | None = None,
    top_k: int = TOP_K,
    top_p: float | None = TOP_P,
    temperature: float = TEMPERATURE,
) -> pd.DataFrame:
    """Unsteered WAVs for every prompt × seed (``prompts``: ``prompt_id, prompt``).

    Each seed generates all prompts as one batch; a steered sample made with the same
    prompts, seed, batch and settings by :func:`generate_steered` differs only by the
    steering. The table records the settings (:func:`generation_settings`).
    """
    check_sampling(top_k, top_p, temperature)
    sampling = {"top_k": top_k, "top_p": top_p, "temperature": temperature}
    made_with = generation_settings(max_new_tokens, guidance_scale, **sampling)
    rows = []
    for seed in map(int, seeds):
        waves = generate(
            mg,
            prompts.prompt.tolist(),
            max_new_tokens,
            seed,
            guidance_scale,
            melody=melody,
            **sampling,
        )
        for row in _write_batch(mg, waves, prompts, seed, Path(out_dir), "original"):
            rows.append({**row, **made_with})
    table = pd.DataFrame(rows)
    table["kind"] = "original"
    return table


def generate_steered(
    mg: MusicGen,
    vectors: Mapping[tuple[str, str, str], SteeringVector],
    settings: Sequence[Setting],
    prompts: pd.DataFrame,
    seeds: Sequence[int],
    out_dir: str | Path,
    max_new_tokens: int,
    guidance_scale: float = 3.0,
    cfg: str = "both",
    alpha_scale: str = "norm",
    melody: np.ndarray | None = None,
    skip_prefix: bool = True,
    progress: Callable[[Iterable], Iterable] = iter,
    top_k: int = TOP_K,
    top_p: float | None = TOP_P,
    temperature: float = TEMPERATURE,
) -> pd.DataFrame:
    """Steered WAVs for every setting × prompt × seed.

    ``vectors`` maps ``(target, site, method)`` to the vector a setting uses; α is in
    units of ``alpha_scale`` (see :func:`apply_vector`). Every WAV is named by all
    choices (:meth:`Setting.stem`, prompt, seed) and shares prompt, seed and batch
    with the original of :func:`generate_originals`. The table records the generation
    settings and ``alpha_scale``, ``cfg``, ``skip_prefix``.
    """
    check_sampling(top_k, top_p, temperature)
    if alpha_scale not in ALPHA_SCALES:
        raise ValueError(f"alpha_scale must be one of {ALPHA_SCALES}, got {alpha_scale!r}")
    if cfg == "cond" and guidance_scale <= 1:
        raise ValueError(
            f"cfg='cond' needs classifier-free guidance, but guidance_scale={guidance_scale:g} "
            "turns it off: use cfg='both' or guidance_scale > 1"
        )
    for setting in settings:  # a unit missing at any layer fails now, not hours later
        vector = vectors[(setting.target, setting.site, setting.method)]
        for layer in resolve_layers(vector, setting.layers):
            alpha_unit(vector, layer, alpha_scale)
    sampling = {"top_k": top_k, "top_p": top_p, "temperature": temperature}
    made_with = {
        **generation_settings(max_new_tokens, guidance_scale, **sampling),
        "alpha_scale": alpha_scale,
        "cfg": cfg,
        "skip_prefix": bool(skip_prefix),
    }
    rows = []
    for setting in progress(settings):
        vector = vectors[(setting.target, setting.site, setting.method)]
        chosen = resolve_layers(vector, setting.layers)
        for seed in map(int, seeds):
            with apply_vector(
                vector, mg.model, setting.alpha, setting.site, chosen, cfg, skip_prefix, alpha_scale
            ):
                waves = generate(
                    mg,
                    prompts.prompt.tolist(),
                    max_new_tokens,
                    seed,
                    guidance_scale,
                    melody=melody,
                    **sampling,
                )
            for row in _write_batch(mg, waves, prompts, seed, Path(out_dir), setting.stem()):
                rows.append(
                    {**row, **asdict(setting), "layer": ",".join(map(str, chosen)), **made_with}
                )
    table = pd.DataFrame(rows)
    table["kind"] = "steered"
    return table


def setting_grid(
    targets: Sequence[str],
    sites: Sequence[str],
    methods: Sequence[str],
    alphas: Sequence[float],
    layers: Sequence[str] = ("best",),
) -> list[Setting]:
    """Every target × site × method × layer choice × α, in that nesting order."""
    return [
        Setting(t, s, m, float(a), str(lay))
        for t in targets
        for s in sites
        for m in methods
        for lay in layers
        for a in alphas
    ]


def genre_prompts(path: str | Path, genre: str) -> pd.DataFrame:
    """The ``prompt_id, prompt`` rows of one genre from a ``genre<TAB>prompt`` TSV."""
    table = pd.read_csv(path, sep="\t")
    missing = {"genre", "prompt"} - set(table.columns)
    if missing:
        raise ValueError(f"{path}: needs columns genre and prompt (missing {sorted(missing)})")
    prompts = table[table.genre == genre].prompt.astype(str).tolist()
    if not prompts:
        raise ValueError(f"{path} has no prompt for genre {genre!r}")
    return prompt_table(prompts)


def prompt_table(prompts: Sequence[str]) -> pd.DataFrame:
    """Prompts numbered in order: ``prompt_id, prompt``."""
    return pd.DataFrame({"prompt_id": range(len(prompts)), "prompt": list(prompts)})


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
