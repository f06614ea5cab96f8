"""Norm-preserving activation steering of MusicGen, scoped by a context manager.

At each steered position the activation ``h`` becomes

    h' = (h + α v̂) · ‖h‖ / ‖h + α v̂‖

so its norm is kept. ``site="resid"`` hooks the input of decoder layer ``l``
(a forward pre-hook); ``site="attn"`` hooks the output of ``layers[l].self_attn``
before it is added to the residual stream. Hooks live only inside the ``with``
block and are removed in ``finally``; the model itself is never modified.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from musicsteer.activations import AudioSpan, _first
from musicsteer.models import MusicGen, decoder_layers, inner_decoder
from musicsteer.vectors import SITES, SteeringVector

__all__ = [
    "Setting",
    "SteeringVector",
    "apply_vector",
    "check_fits",
    "generate",
    "generate_originals",
    "generate_steered",
    "norm_preserving_add",
    "resolve_layers",
    "steer",
]
CFG_MODES = ("both", "cond")


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
            the batch (use with ``guidance_scale > 1``).
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
    if not unit:  # α = 0: exactly the unsteered model, not a rounding of it
        yield
        return
    span = AudioSpan() if skip_prefix else None
    handles = []
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
        yield
    finally:
        for handle in handles:
            handle.remove()


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
    relative: bool = False,
) -> Iterator[None]:
    """Steer with a saved :class:`SteeringVector` (see :func:`steer`).

    ``relative=True`` measures α in units of the mean projection of the training
    activations onto the direction, layer by layer (the paper searched α around it).
    """
    check_fits(vector, model)
    chosen = resolve_layers(vector, layers)
    outside = [i for i in chosen if not 0 <= i < vector.directions.shape[0]]
    if outside:
        raise ValueError(
            f"layers {outside} are outside the vector's indices 0..{vector.directions.shape[0] - 1}"
        )
    alphas = dict.fromkeys(chosen, float(alpha))
    if relative:
        alphas = {i: alpha * relative_scale(vector, i) for i in chosen}
    with steer(model, {i: vector.directions[i] for i in chosen}, alphas,
               site or vector.site, cfg, skip_prefix):  # fmt: skip
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


def relative_scale(vector: SteeringVector, layer: int) -> float:
    """|mean projection| of the vector's training activations at ``layer``."""
    if len(vector.mean_projection) <= layer:
        raise ValueError("relative alpha needs mean_projection stored with the vector")
    scale = abs(float(vector.mean_projection[layer]))
    if not np.isfinite(scale) or scale == 0:
        raise ValueError(f"relative alpha: mean projection at layer {layer} is {scale}")
    return scale


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
) -> np.ndarray | tuple[np.ndarray, torch.Tensor]:
    """Generate audio ``[B, samples]`` (float32, ``mg.sample_rate``) for text prompts.

    ``melody`` (32-kHz mono) conditions MusicGen-Melody through its chroma. With
    ``return_codes`` the decoder's input tokens of every step are returned too
    (``[B * K (* 2 with CFG), steps]``): equal codes mean equal generations.
    """
    from musicsteer.models import melody_chroma

    if melody is not None and not mg.is_melody:
        raise ValueError(f"{mg.name} is not MusicGen-Melody: it cannot take a melody")
    inputs = mg.tokenizer(list(prompts), return_tensors="pt", padding=True).to(mg.device)
    if melody is not None:
        chroma = melody_chroma(
            np.tile(np.asarray(melody, np.float32), (len(prompts), 1)), mg.sample_rate
        )
        inputs["input_features"] = chroma.to(mg.device, dtype=mg.model.dtype)
    steps: list[torch.Tensor] = []
    hook = inner_decoder(mg.model).register_forward_pre_hook(
        lambda _m, a, k: steps.append((k.get("input_ids", a[0] if a else None))[:, -1:].clone()),
        with_kwargs=True,
    ) if return_codes else None  # fmt: skip
    torch.manual_seed(seed)
    try:
        audio = mg.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=do_sample,
                                  guidance_scale=guidance_scale)  # fmt: skip
    finally:
        if hook is not None:
            hook.remove()
    waves = audio[:, 0].float().cpu().numpy()
    return (waves, torch.cat(steps, dim=1)) if return_codes else waves


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
        rows.append({"path": str(path), "prompt_id": int(prompt.prompt_id),
                     "prompt": prompt.prompt, "seed": seed})  # fmt: skip
    return rows


def generate_originals(
    mg: MusicGen,
    prompts: pd.DataFrame,
    seeds: Sequence[int],
    out_dir: str | Path,
    max_new_tokens: int,
    guidance_scale: float = 3.0,
    melody: np.ndarray | None = None,
) -> pd.DataFrame:
    """Unsteered WAVs for every prompt × seed (``prompts``: ``prompt_id, prompt``).

    Each seed generates all prompts as one batch; a steered sample made with the same
    prompts, seed and batch by :func:`generate_steered` differs only by the steering.
    """
    rows = []
    for seed in map(int, seeds):
        waves = generate(mg, prompts.prompt.tolist(), max_new_tokens, seed, guidance_scale,
                         melody=melody)  # fmt: skip
        rows += _write_batch(mg, waves, prompts, seed, Path(out_dir), "original")
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
    relative: bool = False,
    melody: np.ndarray | None = None,
    skip_prefix: bool = True,
    progress: Callable[[Iterable], Iterable] = iter,
) -> pd.DataFrame:
    """Steered WAVs for every setting × prompt × seed.

    ``vectors`` maps ``(target, site, method)`` to the vector a setting uses. Every
    WAV is named by all choices (:meth:`Setting.stem`, prompt, seed) and shares
    prompt, seed and batch with the original of :func:`generate_originals`.
    """
    rows = []
    for setting in progress(settings):
        vector = vectors[(setting.target, setting.site, setting.method)]
        chosen = resolve_layers(vector, setting.layers)
        for seed in map(int, seeds):
            with apply_vector(vector, mg.model, setting.alpha, setting.site, chosen, cfg,
                              skip_prefix, relative):  # fmt: skip
                waves = generate(mg, prompts.prompt.tolist(), max_new_tokens, seed,
                                 guidance_scale, melody=melody)  # fmt: skip
            for row in _write_batch(mg, waves, prompts, seed, Path(out_dir), setting.stem()):
                rows.append({**row, **asdict(setting), "layer": ",".join(map(str, chosen))})
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
