"""The mini models built stage by stage (the rules of ``workflow/rules/mini.smk``).

render → codec → codes (encoded once) → LM (MusicGen and/or Melody) and CLAP (on
decoded audio) → gates → manifest. Each stage reads the previous stage's files and
writes its own, so a rerun redoes only what changed. The codes file holds every
corpus track's codes ``[tracks, K, frames]`` and one-hot chroma, with the genre, track
and split of each track.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import torch

from musicsteer import audio
from musicsteer.mini.clap import ClapTraining, train_clap
from musicsteer.mini.codec import CodecTraining, train_codec
from musicsteer.mini.corpus import cut_clips
from musicsteer.mini.history import History
from musicsteer.mini.lm import LMTraining, train_lm
from musicsteer.models.chroma import melody_chroma
from musicsteer.models.loading import MusicGen
from musicsteer.models.tiny import DecoderShape, random_clap, random_musicgen
from musicsteer.storage import share_folder

Progress = Callable[[Iterable[int]], Iterable[int]]


def fresh_codec(seed: int) -> Any:
    """The untrained (conditioned-random) EnCodec every mini model starts from."""
    return random_musicgen(melody=False, seed=seed).model.audio_encoder


def train_codec_on_corpus(
    manifest: pd.DataFrame,
    corpus_dir: str | Path,
    clip_s: float,
    settings: CodecTraining,
    progress: Progress = iter,
) -> tuple[Any, History]:
    """Train a fresh codec on the ``train`` tracks' clips."""
    codec = fresh_codec(settings.seed)
    sample_rate = int(codec.config.sampling_rate)
    waves, _ = cut_clips(manifest, corpus_dir, clip_s, sample_rate).of("train")
    return codec, train_codec(codec, np.stack(waves), settings, progress)


@dataclass
class Codes:
    """Every corpus track encoded once: codes, chroma and labels."""

    codes: np.ndarray  # [tracks, K, frames] int16
    chroma: np.ndarray  # [tracks, chroma frames, 12] uint8 one-hot
    genres: np.ndarray
    tracks: np.ndarray
    splits: np.ndarray

    def save(self, path: str | Path) -> None:
        """Write one ``.npz`` (atomic callers wrap it)."""
        np.savez(path, **self.__dict__)

    @classmethod
    def load(cls, path: str | Path) -> Codes:
        """Read what :meth:`save` wrote."""
        with np.load(path) as data:
            return cls(**{k: data[k] for k in ("codes", "chroma", "genres", "tracks", "splits")})

    def of(self, split: str) -> Codes:
        """The tracks of one split."""
        keep = self.splits == split
        return Codes(*(v[keep] for v in self.__dict__.values()))


@torch.no_grad()
def encode_corpus(
    codec: Any, manifest: pd.DataFrame, corpus_dir: str | Path, progress: Progress = iter
) -> Codes:
    """Encode each track once (codes) and compute its Melody chroma."""
    sample_rate = int(codec.config.sampling_rate)
    codes, chroma = [], []
    rows = list(manifest.itertuples(index=False))
    for i in progress(range(len(rows))):
        wave = audio.load(Path(corpus_dir) / str(rows[i].path), sample_rate)
        tensor = torch.from_numpy(wave)[None, None]
        codes.append(codec.encode(tensor).audio_codes[0, 0].numpy().astype(np.int16))
        chroma.append(melody_chroma(wave, sample_rate)[0].numpy().astype(np.uint8))
    return Codes(
        np.stack(codes),
        np.stack(chroma),
        manifest["genre"].to_numpy(str),
        np.array([f"{r.genre}/{r.track}" for r in rows]),
        manifest["split"].to_numpy(str),
    )


@torch.no_grad()
def decode_clips(codec: Any, codes: np.ndarray, clip_frames: int, batch: int = 16) -> np.ndarray:
    """Decode ``codes [tracks, K, frames]`` in whole ``clip_frames`` pieces → ``[clips, samples]``.

    Clips are in track order, ``frames // clip_frames`` per track.
    """
    per_track = codes.shape[2] // clip_frames
    pieces = (
        codes[:, :, : per_track * clip_frames]
        .reshape(codes.shape[0], codes.shape[1], per_track, clip_frames)
        .transpose(0, 2, 1, 3)
        .reshape(-1, codes.shape[1], clip_frames)
    )
    out = []
    for start in range(0, len(pieces), batch):
        chunk = torch.from_numpy(pieces[start : start + batch].astype(np.int64))
        out.append(codec.decode(chunk[None], [None]).audio_values[:, 0].numpy())
    return np.concatenate(out)


def clip_labels(labels: np.ndarray, frames: int, clip_frames: int) -> np.ndarray:
    """Each decoded clip's label, matching :func:`decode_clips`' order."""
    return np.repeat(labels, frames // clip_frames)


def mini_musicgen(
    codec: Any, melody: bool, shape: DecoderShape, chroma_length: int | None, seed: int
) -> MusicGen:
    """A fresh MusicGen(-Melody) of ``shape`` around the trained ``codec``."""
    mg = random_musicgen(melody, shape, seed, chroma_length)
    cast(Any, mg.model).audio_encoder.load_state_dict(codec.state_dict())
    return mg


def train_lm_on_codes(
    mg: MusicGen,
    codes: Codes,
    settings: LMTraining,
    prompts: Mapping[str, Sequence[str]] | None = None,
    progress: Progress = iter,
) -> History:
    """Train ``mg`` on the ``train`` tracks (Melody also on their chroma)."""
    train = codes.of("train")
    chroma = train.chroma if mg.is_melody else None
    return train_lm(mg, train.codes, list(train.genres), settings, progress, chroma, prompts)


def train_clap_on_decoded(
    codec: Any, codes: Codes, clip_frames: int, settings: ClapTraining, progress: Progress = iter
) -> tuple[Any, Any, History]:
    """A fresh tiny CLAP trained on decoded ``train`` clips labelled by genre."""
    train = codes.of("train")
    waves = decode_clips(codec, train.codes, clip_frames)
    labels = clip_labels(train.genres, train.codes.shape[2], clip_frames)
    model, processor = random_clap(settings.seed)
    rate = int(codec.config.sampling_rate)
    history = train_clap(model, processor, list(waves), list(labels), rate, settings, progress)
    return model, processor, history


def save_half(model: Any, out_dir: str | Path) -> None:
    """``save_pretrained`` in float16 (the shipped form; loading upcasts)."""
    model.to(torch.float16).save_pretrained(out_dir)
    model.to(torch.float32)
    share_folder(out_dir)


def training_summary(history: History, seconds: float, settings: Any) -> dict[str, Any]:
    """What the manifest records of one training run."""
    return {
        "seconds": round(seconds, 1),
        "steps": len(history.rows),
        "first_loss": round(history.rows[0]["loss"], 4),
        "final_loss": round(history.final(), 4),
        "settings": dict(settings.__dict__),
    }


def prompts_by_genre(path: str | Path, genres: Sequence[str]) -> dict[str, list[str]]:
    """Each genre's rows of the pipeline's prompt file (none for a genre without rows)."""
    table = pd.read_csv(path, sep="\t")
    return {str(g): table[table.genre == g].prompt.astype(str).tolist() for g in genres}
