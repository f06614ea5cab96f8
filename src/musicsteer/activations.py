"""Teacher-forced activation capture for MusicGen and MusicGen-Melody.

One forward pass per batch of equal-length clips records, for every decoder layer:

* ``resid``: the residual stream entering layer ``l`` (index ``l``, equal to
  ``output_hidden_states[l]``) and the raw output of the last layer (index
  ``n_layers``, before the final LayerNorm);
* ``attn``: the self-attention output of layer ``l`` (after ``out_proj``, before the
  residual add).

Each is pooled over time inside the hook (last audio token, or the mean over audio
tokens), so memory does not grow with the sequence. Melody's conditioning prefix is
never pooled: the number of audio positions is read from the decoder's own input.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, cast
from weakref import WeakKeyDictionary

import numpy as np
import pandas as pd
import torch

from musicsteer.corpora.syntheory import melody_conditioning_problem
from musicsteer.models.chroma import melody_chroma
from musicsteer.models.hookpoints import (
    SITES,
    AudioSpan,
    check_site,
    decoder_layers,
    hook_point,
    read_hook,
    site_layers,
)
from musicsteer.models.loading import PAD_TOKEN_ID, MusicGen
from musicsteer.storage import npy_intact, read_table, save_npy_atomic

POSITIONS = ("last", "mean")


STORE_DTYPES = ("float16", "float32")


# Part of every shard fingerprint: bump when the same settings give different numbers
# (2: empty text is the CFG null condition, no longer the encoded "</s>").
CAPTURE_VERSION = 2


def pool(hidden: torch.Tensor, n_audio: int, position: str) -> torch.Tensor:
    """Pool ``[B, T, d]`` over the trailing ``n_audio`` audio positions → ``[B, d]``."""
    if position == "last":
        return hidden[:, -1]
    if position == "mean":
        return hidden[:, -n_audio:].mean(dim=1)
    raise ValueError(f"position must be one of {POSITIONS}, got {position!r}")


@dataclass
class Recorder:
    """Pooled activations captured by :func:`capture`: ``site → layer → [B, d]``.

    ``token_norms`` keeps, per clip, the mean norm of the pooled positions' own
    activations (``[B]`` per site and layer): the per-position scale that steering
    acts on. For mean pooling it exceeds the norm of the pooled vector, which averages
    directions out; for the last token the two are equal.
    """

    position: str
    span: AudioSpan = field(default_factory=AudioSpan)
    store: dict[str, dict[int, torch.Tensor]] = field(default_factory=dict)
    token_norms: dict[str, dict[int, torch.Tensor]] = field(default_factory=dict)

    def put(self, site: str, layer: int, hidden: torch.Tensor) -> None:
        """Pool and keep one capture (float32, detached), and its mean token norm."""
        pooled = pool(hidden, self.span.n_audio, self.position)
        self.store.setdefault(site, {})[layer] = pooled.detach().float()
        if self.position == "mean":  # for the last token they are ‖pooled‖ (stacked_norms)
            tokens = hidden[:, -self.span.n_audio :].detach().float()
            self.token_norms.setdefault(site, {})[layer] = tokens.norm(dim=-1).mean(1)

    def stacked(self, site: str) -> torch.Tensor:
        """``[B, n_indices, d]`` for one site, indices in order."""
        entries = self.store[site]
        return torch.stack([entries[i] for i in sorted(entries)], dim=1)

    def stacked_norms(self, site: str) -> torch.Tensor:
        """``[B, n_indices]`` mean token norms for one site, indices in order."""
        if self.position != "mean":
            return self.stacked(site).norm(dim=-1)
        entries = self.token_norms[site]
        return torch.stack([entries[i] for i in sorted(entries)], dim=1)


@contextmanager
def capture(
    model: torch.nn.Module,
    sites: Sequence[str] = SITES,
    position: str = "last",
    layers: str | Sequence[int] = "all",
) -> Iterator[Recorder]:
    """Register capture hooks for the ``with`` block; they are always removed.

    ``layers`` is ``"all"`` or a list of layer indices (see
    :mod:`musicsteer.models.hookpoints`: resid has ``n_layers + 1``, attn ``n_layers``).
    """
    for site in sites:
        check_site(site)
    pool(torch.zeros(1, 1, 1), 1, position)  # validate the position before hooking
    rec = Recorder(position)
    n_layers = len(decoder_layers(model))
    wanted = _wanted_layers(layers, n_layers)
    handles = [rec.span.track(model)]
    try:
        for site in sites:
            for layer in site_layers(site, n_layers):
                if layer in wanted:
                    point = hook_point(model, site, layer)
                    handles.append(read_hook(point, partial(rec.put, site, layer)))
        yield rec
    finally:
        for handle in handles:
            handle.remove()


def _wanted_layers(layers: str | Sequence[int], n_layers: int) -> set[int]:
    if layers == "all":
        return set(site_layers("resid", n_layers))
    wanted = {int(i) for i in layers}
    outside = sorted(i for i in wanted if not 0 <= i <= n_layers)
    if outside:
        raise ValueError(f"layers {outside} outside 0..{n_layers} (the model has {n_layers})")
    return wanted


def encode_audio(mg: MusicGen, waves: torch.Tensor) -> torch.Tensor:
    """EnCodec codes ``[B, K, frames]`` for mono ``[B, samples]`` audio at 32 kHz."""
    codec = cast(Any, mg.model.audio_encoder)
    values = waves.to(mg.device, dtype=codec.dtype).unsqueeze(1)
    codes = codec.encode(values).audio_codes  # [chunks=1, B, K, F]
    return codes[0]


_CODEC_PRINTS: WeakKeyDictionary[torch.nn.Module, str] = WeakKeyDictionary()


def codec_fingerprint(mg: MusicGen) -> str:
    """A hash of the audio codec's config, dtype and weights: equal codecs share cached codes.

    MusicGen-small and -Melody share EnCodec 32 kHz, so they share the codes too.
    """
    codec = cast(Any, mg.model.audio_encoder)
    if codec not in _CODEC_PRINTS:
        digest = hashlib.sha1(codec.config.to_json_string().encode())
        digest.update(str(codec.dtype).encode())
        for name, tensor in sorted(codec.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
        _CODEC_PRINTS[codec] = digest.hexdigest()[:12]
    return _CODEC_PRINTS[codec]


def cached_codes(mg: MusicGen, clips_dir: str | Path, shard: str, batch_size: int) -> np.ndarray:
    """EnCodec codes ``[clips, K, frames]`` of one clip-store shard, encoded once per codec.

    Kept beside the clips in ``codes-<codec fingerprint>/`` (int16: codes < 2048), so
    a second extraction of the same clips (other sites, positions, text or model with
    the same codec) reads them instead of running the codec again.
    """
    from musicsteer.corpora.clipstore import clip_floats

    path = Path(clips_dir) / f"codes-{codec_fingerprint(mg)}" / shard
    if npy_intact(path):
        return np.load(path, mmap_mode="r")
    clips = np.load(Path(clips_dir) / shard, mmap_mode="r")
    parts = []
    for start in range(0, len(clips), batch_size):
        waves = torch.from_numpy(clip_floats(clips[start : start + batch_size]))
        with torch.inference_mode():
            parts.append(encode_audio(mg, waves).cpu().numpy().astype(np.int16))
    codes = np.concatenate(parts)
    save_npy_atomic(path, codes)
    return codes


def delayed_inputs(codes: torch.Tensor, pad_id: int = PAD_TOKEN_ID) -> torch.Tensor:
    """MusicGen's delay pattern, cut at the last position with real audio in every codebook.

    Codebook ``k`` is shifted right by ``k + 1`` behind BOS tokens. Returns
    ``[B * K, frames + 1]``: position ``frames`` holds frame ``frames - 1`` of
    codebook 0 and frame ``frames - K`` of codebook ``K - 1``.
    """
    batch, k, frames = codes.shape
    out = torch.full((batch, k, frames + 1), pad_id, dtype=torch.long, device=codes.device)
    for book in range(k):
        out[:, book, book + 1 :] = codes[:, book, : frames - book]
    return out.reshape(batch * k, frames + 1)


def conditioning_inputs(
    mg: MusicGen, batch: int, text: str = "", melody_chroma_of: torch.Tensor | None = None
) -> dict[str, torch.Tensor | tuple]:
    """Text (and, for Melody, chroma) conditioning for a teacher-forced pass.

    Empty text (the default) is the null condition, built as the unconditional half of
    transformers' classifier-free guidance (see :func:`null_condition`); other text is
    tokenised with attention mask 1. For Melody the chroma is the null one-hot unless
    ``melody_chroma_of`` (the clips' audio) is given. The label never reaches the model
    through its conditioning.
    """
    chroma = None
    if mg.is_melody and melody_chroma_of is not None:
        chroma = melody_chroma(melody_chroma_of.cpu(), mg.sample_rate)
        chroma = chroma.to(mg.device, dtype=mg.model.dtype)
    if not text:
        return null_condition(mg, batch, chroma)
    tok = mg.tokenizer([text] * batch, return_tensors="pt", padding=True)
    inputs = {
        "input_ids": tok.input_ids.to(mg.device),
        "attention_mask": tok.attention_mask.to(mg.device),
    }
    if chroma is not None:
        inputs["input_features"] = chroma
    return inputs


def null_condition(
    mg: MusicGen, batch: int, chroma: torch.Tensor | None = None
) -> dict[str, torch.Tensor | tuple]:
    """Forward kwargs of the null text condition: what ``generate`` feeds its CFG null half.

    transformers builds the unconditional half from zeros, never from the text encoder:
    MusicGen concatenates ``zeros_like`` of the T5 output with attention mask 0, and its
    forward projects that and multiplies it by the mask before the decoder's
    cross-attention (which gets the zero mask too). Melody's null half is the projected
    one-hot null chroma (bin 0), repeated to ``chroma_length``, followed by zero vectors
    in place of the projected text, with no attention mask. The number of text positions
    is that of the tokenised empty text (``</s>``, one token), as in ``generate(text="")``.
    ``chroma`` (``[B, frames, 12]``, Melody only) replaces the null chroma.
    """
    model = mg.model
    n_text = len(mg.tokenizer("").input_ids)
    if not mg.is_melody:
        width = model.config.text_encoder.hidden_size
        zeros = torch.zeros(
            batch, n_text, width, device=mg.device, dtype=cast(Any, model.text_encoder).dtype
        )
        mask = torch.zeros(batch, n_text, device=mg.device, dtype=torch.long)
        return {"encoder_outputs": (zeros,), "attention_mask": mask}
    width = cast(Any, model.decoder).config.hidden_size
    text = torch.zeros(batch, n_text, width, device=mg.device, dtype=model.dtype)
    return {"encoder_hidden_states": torch.cat([melody_prefix(mg, batch, chroma), text], dim=1)}


def melody_prefix(mg: MusicGen, batch: int, chroma: torch.Tensor | None = None) -> torch.Tensor:
    """Melody's projected chroma prefix ``[B, chroma_length, d]``, as its forward builds it.

    ``chroma`` is ``[B, frames, 12]`` or None for the null one-hot (bin 0); it is
    projected, tiled up to ``chroma_length`` frames and cut there.
    """
    model, config = mg.model, mg.model.config
    if chroma is None:
        chroma = torch.zeros(batch, 1, config.num_chroma, device=mg.device, dtype=model.dtype)
        chroma[:, :, 0] = 1
    audio = chroma
    if config.num_chroma != cast(Any, model.decoder).config.hidden_size:
        audio = cast(Any, model.audio_enc_to_dec_proj)(audio)
    if audio.shape[1] < config.chroma_length:
        audio = audio.repeat(1, math.ceil(config.chroma_length / audio.shape[1]), 1)
    return audio[:, : config.chroma_length]


@torch.inference_mode()
def record(
    mg: MusicGen,
    waves: np.ndarray | torch.Tensor,
    sites: Sequence[str] = SITES,
    position: str = "last",
    text: str = "",
    melody_conditioning: str = "null",
    layers: str | Sequence[int] = "all",
) -> dict[str, np.ndarray]:
    """Activations of a batch of equal-length clips: ``site → [B, n_indices, d]`` float32.

    ``text`` is the text conditioning (empty by default, never the label);
    ``melody_conditioning`` is ``"null"`` (the default one-hot chroma) or ``"chroma"``
    (the clip's own chroma), ignored for plain MusicGen. ``layers`` selects indices
    (see :func:`capture`), returned in increasing order.
    """
    rec = _record(mg, waves, sites, position, text, melody_conditioning, layers)
    return {site: rec.stacked(site).cpu().numpy() for site in sites}


def _record(
    mg: MusicGen,
    waves: np.ndarray | torch.Tensor,
    sites: Sequence[str],
    position: str,
    text: str,
    melody_conditioning: str,
    layers: str | Sequence[int] = "all",
    codes: torch.Tensor | None = None,
) -> Recorder:
    """The :class:`Recorder` of one teacher-forced pass (see :func:`record`).

    ``codes`` (``[B, K, frames]``) are the clips' EnCodec codes if already known.
    """
    if melody_conditioning not in ("null", "chroma"):
        raise ValueError(
            f"melody_conditioning must be 'null' or 'chroma', not {melody_conditioning!r}"
        )
    wave = torch.as_tensor(np.asarray(waves), dtype=torch.float32)
    wave = wave.unsqueeze(0) if wave.ndim == 1 else wave
    codes = encode_audio(mg, wave) if codes is None else codes.to(mg.device, torch.long)
    chroma_src = wave if melody_conditioning == "chroma" else None
    inputs = conditioning_inputs(mg, wave.shape[0], text, chroma_src)
    with capture(mg.model, sites, position, layers) as rec:
        mg.model(**inputs, decoder_input_ids=delayed_inputs(codes), use_cache=False)
    return rec


@dataclass(frozen=True)
class ExtractSettings:
    """Everything that changes the numbers: part of every shard's fingerprint."""

    model: str
    sites: tuple[str, ...] = SITES
    position: str = "last"
    text: str = ""
    melody_conditioning: str = "null"
    batch_size: int = 4
    shard_size: int = 64
    store_dtype: str = "float16"

    def __post_init__(self) -> None:
        if self.store_dtype not in STORE_DTYPES:
            raise ValueError(f"store_dtype must be one of {STORE_DTYPES}, not {self.store_dtype!r}")

    def fingerprint(self, clip_ids: Sequence[str]) -> str:
        """Short hash of the settings, the capture version and the clips of one shard."""
        payload = json.dumps(
            [self.__dict__, CAPTURE_VERSION, list(clip_ids)], sort_keys=True, default=list
        )
        return hashlib.sha1(payload.encode()).hexdigest()[:10]


def to_store_dtype(
    array: np.ndarray, site: str, clip_ids: Sequence[str], store_dtype: str = "float16"
) -> np.ndarray:
    """Cast one site's ``[N, n_indices, d]`` activations for storage.

    float16 holds at most 65504: a finite value that would become inf raises, naming
    the clip, the site and the layer index, instead of being stored as inf.
    """
    if store_dtype not in STORE_DTYPES:
        raise ValueError(f"store_dtype must be one of {STORE_DTYPES}, not {store_dtype!r}")
    with np.errstate(over="ignore"):  # an overflow is reported below, by clip and layer
        stored = array.astype(store_dtype)
    overflow = np.isinf(stored) & np.isfinite(array)
    if overflow.any():
        row, index, _ = np.argwhere(overflow)[0]
        peak = float(np.abs(array[row, index][overflow[row, index]]).max())
        raise OverflowError(
            f"activation of clip {clip_ids[row]!r} at site {site!r}, layer index {index} is "
            f"{peak:.6g}, beyond float16's largest value 65504: set "
            "activations.store_dtype: float32 (ExtractSettings(store_dtype='float32'))"
        )
    return stored


def shard_path(folder: Path, site: str, shard: int, fingerprint: str) -> Path:
    """Where one site's shard lives (``<site>_norm``: its mean token norms)."""
    return folder / "shards" / f"{site}-{shard:05d}-{fingerprint}.npy"


NORM_SUFFIX = "_norm"  # shards of mean token norms [clips, n_indices] float32, per site


def extract_manifest(
    mg: MusicGen,
    manifest: pd.DataFrame,
    out_dir: str | Path,
    settings: ExtractSettings,
    progress: bool = True,
    clips_dir: str | Path | None = None,
    dataset: str | None = None,
) -> pd.DataFrame:
    """Record every clip of ``manifest`` into shards of ``settings.store_dtype``; return the index.

    Audio comes from the clip store in ``clips_dir`` (see :mod:`musicsteer.clipstore`;
    the manifest then has ``clip_shard``/``clip_row``) or is decoded from each row's
    ``source``. Shards already on disk with the same fingerprint are reused, so a
    killed job resumes where it stopped. ``dataset`` (e.g. ``syntheory_chords``) and a
    manifest ``concept`` column are checked against chroma conditioning that would
    leak the label (:func:`melody_conditioning_problem`).
    """
    from tqdm import tqdm

    names = [dataset] if dataset is not None else []
    if "concept" in manifest.columns:
        names += sorted(set(manifest["concept"].astype(str)))
    for name in names:
        problem = melody_conditioning_problem(name, settings.melody_conditioning)
        if problem:
            raise ValueError(problem)
    out = Path(out_dir)
    rows = []
    bar = tqdm(total=len(manifest), desc="activations", unit="clip", disable=not progress)
    for shard, start in enumerate(range(0, len(manifest), settings.shard_size)):
        part = manifest.iloc[start : start + settings.shard_size]
        fp = settings.fingerprint(part["clip_id"].tolist())
        paths = {s: shard_path(out, s, shard, fp) for s in settings.sites}
        norm_paths = {s: shard_path(out, s + NORM_SUFFIX, shard, fp) for s in settings.sites}
        if not all(npy_intact(p) for p in [*paths.values(), *norm_paths.values()]):
            arrays, norms = _record_shard(mg, part, settings, clips_dir)
            ids = part["clip_id"].tolist()
            stored = {s: to_store_dtype(arrays[s], s, ids, settings.store_dtype) for s in paths}
            for site, path in paths.items():
                save_npy_atomic(path, stored[site])
                save_npy_atomic(norm_paths[site], norms[site])
        for row, clip_id in enumerate(part["clip_id"]):
            rows.append({"clip_id": clip_id, "shard": shard, "row": row, "fingerprint": fp})
        bar.update(len(part))
    bar.close()
    index = pd.DataFrame(rows)
    return index.merge(manifest[["clip_id", "label"]], on="clip_id", how="left")


def _record_shard(
    mg: MusicGen, part: pd.DataFrame, settings: ExtractSettings, clips_dir: str | Path | None
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Activations and mean token norms of one shard's clips, per site."""
    chunks: dict[str, list[np.ndarray]] = {s: [] for s in settings.sites}
    norms: dict[str, list[np.ndarray]] = {s: [] for s in settings.sites}
    batches = _wave_batches(part, mg.sample_rate, settings.batch_size, clips_dir)
    for start, waves in zip(range(0, len(part), settings.batch_size), batches, strict=True):
        rows = part.iloc[start : start + settings.batch_size]
        codes = _stored_codes(mg, rows, clips_dir, settings.batch_size)
        with torch.inference_mode():
            rec = _record(
                mg,
                waves,
                settings.sites,
                settings.position,
                settings.text,
                settings.melody_conditioning,
                codes=codes,
            )
        for site in settings.sites:
            chunks[site].append(rec.stacked(site).cpu().numpy())
            norms[site].append(rec.stacked_norms(site).cpu().numpy())
    return (
        {site: np.concatenate(v) for site, v in chunks.items()},
        {site: np.concatenate(v).astype(np.float32) for site, v in norms.items()},
    )


def _stored_codes(
    mg: MusicGen, rows: pd.DataFrame, clips_dir: str | Path | None, batch_size: int
) -> torch.Tensor | None:
    """The rows' cached codes when they come from the clip store, else None (encode)."""
    if clips_dir is None:
        return None
    shards = {
        name: cached_codes(mg, clips_dir, name, batch_size) for name in set(rows["clip_shard"])
    }
    picked = [shards[n][r] for n, r in zip(rows["clip_shard"], rows["clip_row"], strict=True)]
    return torch.from_numpy(np.stack(picked).astype(np.int64))


def _wave_batches(
    part: pd.DataFrame, sample_rate: int, batch_size: int, clips_dir: str | Path | None
) -> Iterator[np.ndarray]:
    from musicsteer.corpora import clipstore

    if clips_dir is not None:
        yield from clipstore.iter_clip_batches(part, clips_dir, batch_size)
        return
    for start in range(0, len(part), batch_size):
        rows = part.iloc[start : start + batch_size].itertuples(index=False)
        yield np.stack([clipstore.load_clip_from_source(row, sample_rate) for row in rows])


def load_site(
    folder: str | Path, site: str, layer: int | None = None, index_table: pd.DataFrame | None = None
) -> np.ndarray:
    """Activations of one site in clip order: ``[N, n_indices, d]``, or ``[N, d]`` for one layer.

    Shards are memory-mapped, so asking for one layer reads only that layer.
    """
    folder = Path(folder)
    table = index_table if index_table is not None else read_table(folder / "index.parquet")
    parts = []
    for (shard, fp), group in table.groupby(["shard", "fingerprint"], sort=True):
        arr = np.load(shard_path(folder, site, int(cast(int, shard)), cast(str, fp)), mmap_mode="r")
        rows = group["row"].to_numpy()
        parts.append(np.asarray(arr[rows] if layer is None else arr[rows, layer]))
    return np.concatenate(parts).astype(np.float32)


def load_token_norms(
    folder: str | Path, site: str, index_table: pd.DataFrame | None = None
) -> np.ndarray | None:
    """Mean token norms of one site in clip order, ``[N, n_indices]``; None if not recorded.

    Shards written before the norms were recorded have none: callers then fall back to
    the norms of the pooled activations (smaller for mean pooling).
    """
    folder = Path(folder)
    table = index_table if index_table is not None else read_table(folder / "index.parquet")
    pairs = table[["shard", "fingerprint"]].drop_duplicates().itertuples(index=False)
    if not all(shard_path(folder, site + NORM_SUFFIX, int(s), f).exists() for s, f in pairs):
        return None
    return load_site(folder, site + NORM_SUFFIX, index_table=table)


def load_task_activations(
    folder: str | Path, sites: Sequence[str], task: pd.DataFrame
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray | None]]:
    """Each site's activations and mean token norms for a task table's rows, in its order.

    Token norms are None for shards recorded before they were kept.
    """
    folder = Path(folder)
    index = read_table(folder / "index.parquet")
    rows = index.reset_index().set_index("clip_id").loc[task.clip_id, "index"].to_numpy()
    acts = {s: load_site(folder, s, index_table=index)[rows] for s in sites}
    norms = {s: load_token_norms(folder, s, index) for s in sites}
    return acts, {s: None if n is None else n[rows] for s, n in norms.items()}
