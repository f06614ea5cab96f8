"""Load MusicGen / MusicGen-Melody / CLAP, or build tiny random-weight twins offline.

Which specs name what (built-ins, folders, Hub IDs) lives in the torch-free
:mod:`musicsteer.models.specs`, which the workflow parses on every call.

MusicGen-Melody's own feature extractor needs torchaudio, which has no build for
torch 2.13; :func:`melody_chroma` reproduces its chroma in plain torch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
from transformers import (
    AutoConfig,
    AutoTokenizer,
    ClapModel,
    ClapProcessor,
    MusicgenConfig,
    MusicgenForConditionalGeneration,
    MusicgenMelodyConfig,
    MusicgenMelodyForConditionalGeneration,
    PreTrainedModel,
)

from musicsteer.models.specs import (  # noqa: F401  (re-exported: the loaders' names)
    BUILTIN_MODELS,
    CHECKPOINTS,
    MINI_MODELS,
    TINY_MODELS,
    availability_problem,
    hub_commit,
    looks_like_path,
    resolve_spec,
    split_revision,
)

log = logging.getLogger(__name__)

CLAP_SAMPLE_RATE = 48_000


PAD_TOKEN_ID = 2048


class ModelNotAvailableError(RuntimeError):
    """A model spec names neither a built-in, a local folder, nor a cached Hub model."""


class UnsupportedModelError(ValueError):
    """A checkpoint this package cannot drive correctly (e.g. a stereo MusicGen)."""


@dataclass
class MusicGen:
    """A loaded MusicGen-family model with what is needed to drive it."""

    model: PreTrainedModel
    tokenizer: Any
    name: str
    is_melody: bool

    @property
    def sample_rate(self) -> int:
        """Sampling rate of the EnCodec audio codec (32 kHz for every MusicGen)."""
        return int(self.model.config.audio_encoder.sampling_rate)

    @property
    def frame_rate(self) -> int:
        """Codec frames (decoder tokens) per second of audio."""
        return int(self.model.config.audio_encoder.frame_rate)

    @property
    def num_codebooks(self) -> int:
        """Parallel codebook streams of the decoder."""
        return int(cast(PreTrainedModel, self.model.decoder).config.num_codebooks)

    @property
    def device(self) -> torch.device:
        """Device holding the decoder weights."""
        return next(self.model.parameters()).device


def _from_pretrained(cls: Any, spec: str, **kwargs: Any) -> Any:
    """``cls.from_pretrained`` of a folder or Hub ID, at the spec's pinned revision."""
    repo, revision = split_revision(spec)
    pin = {"revision": revision} if revision else {}
    try:
        return cls.from_pretrained(repo, **pin, **kwargs)
    except OSError as err:
        raise ModelNotAvailableError(
            f"cannot load {spec!r}: {err}. Use a built-in ({', '.join(BUILTIN_MODELS)}), "
            "a local save_pretrained folder, or a Hub ID cached on this machine."
        ) from err


def load_musicgen(
    spec: str,
    models_dir: str | Path = "resources/models",
    device: str = "cpu",
    dtype: str | torch.dtype = "float32",
) -> MusicGen:
    """Load MusicGen or MusicGen-Melody (class chosen from the checkpoint's config)."""
    path = resolve_spec(spec, models_dir)
    config = _from_pretrained(AutoConfig, path)
    refuse_stereo(config, spec)
    melody = config.model_type == "musicgen_melody"
    cls = MusicgenMelodyForConditionalGeneration if melody else MusicgenForConditionalGeneration
    model = _from_pretrained(cls, path, dtype=_dtype(dtype))
    model.to(device).eval()
    tokenizer = _from_pretrained(AutoTokenizer, path)
    _log_source(spec, path)
    return MusicGen(model=model, tokenizer=tokenizer, name=spec, is_melody=melody)


def _log_source(spec: str, path: str) -> None:
    """Log which weights were loaded: a Hub model's commit, or the folder."""
    commit = hub_commit(path)
    if commit:
        log.info(
            "model %s: Hub commit %s (pin it as %s@%s)",
            spec,
            commit,
            split_revision(spec)[0],
            commit,
        )
    else:
        log.info("model %s: %s", spec, path)


def refuse_stereo(config: MusicgenConfig | MusicgenMelodyConfig, spec: str) -> None:
    """Raise :class:`UnsupportedModelError` for stereo checkpoints (``audio_channels == 2``).

    Stereo MusicGens (musicgen-stereo-*) interleave left/right codebooks and delay them
    in pairs (8 codebooks, delays 0,0,1,1,2,2,3,3); teacher forcing here assumes mono
    codes with codebook ``k`` delayed by ``k``, so their activations would be wrong.
    """
    decoder = getattr(config, "decoder", None)
    channels = getattr(decoder, "audio_channels", 1)
    if channels != 1:
        books = getattr(decoder, "num_codebooks", "?")
        raise UnsupportedModelError(
            f"{spec!r} is a stereo MusicGen (audio_channels={channels}, {books} codebooks "
            "delayed in left/right pairs); only mono checkpoints are supported (e.g. "
            "facebook/musicgen-small, -medium, -large, -melody)"
        )


def load_clap(
    spec: str, models_dir: str | Path = "resources/models", device: str = "cpu"
) -> tuple[ClapModel, ClapProcessor]:
    """Load a CLAP model and its processor."""
    path = resolve_spec(spec, models_dir)
    # float32 whatever the checkpoint's dtype (the mini CLAP ships in float16)
    model = _from_pretrained(ClapModel, path, dtype=torch.float32).to(device).eval()
    processor = _from_pretrained(ClapProcessor, path)
    _log_source(spec, path)
    return model, processor


def _dtype(dtype: str | torch.dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    try:
        return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[
            dtype
        ]
    except KeyError:
        raise ValueError(f"dtype must be float32, bfloat16 or float16, got {dtype!r}") from None
