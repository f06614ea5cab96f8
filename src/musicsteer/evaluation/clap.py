"""Zero-shot CLAP scores of generated audio, and preservation against the original."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from musicsteer import audio
from musicsteer.models.loading import CLAP_SAMPLE_RATE

if TYPE_CHECKING:
    from transformers import ClapModel, ClapProcessor

CLAP_SECONDS = 10.0


# the zero-shot-audio-classification pipeline's default hypothesis_template
ZERO_SHOT_TEMPLATE = "This is a sound of {}."


@dataclass
class ClapScorer:
    """Scores audio against text labels with a CLAP model."""

    model: ClapModel
    processor: ClapProcessor
    template: str = ZERO_SHOT_TEMPLATE

    @property
    def device(self) -> torch.device:
        """Device of the CLAP weights."""
        return next(self.model.parameters()).device

    @torch.inference_mode()
    def text_embeddings(self, labels: Sequence[str]) -> torch.Tensor:
        """Unit text embeddings ``[n_labels, dim]`` of the templated labels."""
        texts = [self.template.format(label) for label in labels]
        tok = self.processor.tokenizer(texts, return_tensors="pt", padding=True).to(self.device)
        return unit_embeddings(self.model.get_text_features(**tok))

    def audio_features(self, waves: Sequence[np.ndarray], sample_rate: int) -> Any:
        """The model's inputs for each clip: 48 kHz, first 10 s, repeat-padded mels."""
        prepared = [self._prepare(w, sample_rate) for w in waves]
        return self.processor.feature_extractor(
            prepared,
            sampling_rate=CLAP_SAMPLE_RATE,
            return_tensors="pt",
            truncation="rand_trunc",
            padding="repeatpad",
        )

    @torch.inference_mode()
    def audio_embeddings(self, waves: Sequence[np.ndarray], sample_rate: int) -> torch.Tensor:
        """Unit audio embeddings ``[n_audio, dim]``."""
        feats = self.audio_features(waves, sample_rate).to(self.device)
        return unit_embeddings(self.model.get_audio_features(**feats))

    @staticmethod
    def _prepare(wave: np.ndarray, sample_rate: int) -> np.ndarray:
        wave = audio.resample(np.asarray(wave, dtype=np.float32), sample_rate, CLAP_SAMPLE_RATE)
        return wave[: int(CLAP_SECONDS * CLAP_SAMPLE_RATE)]

    @torch.inference_mode()
    def probabilities(
        self, waves: Sequence[np.ndarray], sample_rate: int, labels: Sequence[str]
    ) -> np.ndarray:
        """Zero-shot probabilities ``[n_audio, n_labels]`` (rows sum to 1)."""
        return self.probabilities_of(self.audio_embeddings(waves, sample_rate), labels)

    @torch.inference_mode()
    def probabilities_of(self, audio_emb: torch.Tensor, labels: Sequence[str]) -> np.ndarray:
        """Zero-shot probabilities from unit audio embeddings (see :meth:`embed_files`)."""
        text_emb = self.text_embeddings(labels)
        logits = self.model.logit_scale_a.exp() * audio_emb.to(self.device) @ text_emb.T
        return logits.softmax(dim=-1).float().cpu().numpy()

    def embed_files(
        self,
        paths: Sequence[str],
        batch_size: int = 8,
        progress: Callable[[Iterable], Iterable] = iter,
    ) -> torch.Tensor:
        """Unit audio embeddings ``[n_files, dim]`` of audio files, ``batch_size`` at a time."""
        chunks = []
        for start in progress(range(0, len(paths), batch_size)):
            waves = [
                audio.load(path, CLAP_SAMPLE_RATE) for path in paths[start : start + batch_size]
            ]
            chunks.append(self.audio_embeddings(waves, CLAP_SAMPLE_RATE))
        return torch.cat(chunks).cpu() if chunks else torch.zeros(0, 0)


def unit_embeddings(x: torch.Tensor | Any) -> torch.Tensor:
    """Unit-length embeddings from ``get_*_features`` (a tensor, or an output whose
    ``pooler_output`` holds them, as transformers 5 returns)."""
    x = x if isinstance(x, torch.Tensor) else x.pooler_output
    return torch.nn.functional.normalize(x.float(), dim=-1)


UNIT_KEYS = ("prompt_id", "seed")  # one generation: what an original and its steered share


def score_samples(
    scorer: ClapScorer,
    samples: pd.DataFrame,
    label_sets: Mapping[str, Sequence[str]],
    display: Mapping[str, str] | None = None,
    batch_size: int = 8,
    progress: Callable[[Iterable], Iterable] = iter,
) -> pd.DataFrame:
    """Long table of CLAP probabilities: one row per (sample, label set, label).

    ``samples`` needs ``path`` and ``kind`` (``original``/``steered``, or anything
    else for reference audio); with ``prompt_id`` and ``seed`` each steered sample
    gets ``preservation``, the cosine of its CLAP embedding with its original's. Its
    other columns are carried over. ``label_sets`` names candidate label lists, e.g.
    ``{"pair": ["rock", "pop"], "all": genres}``; each set is its own softmax.
    ``display`` maps label keys to the text CLAP sees (``hiphop → hip-hop``).
    """
    samples = samples.reset_index(drop=True)
    emb = scorer.embed_files(samples.path.tolist(), batch_size, progress)
    samples = samples.assign(preservation=_preservation(samples, emb))
    tables = []
    for name, labels in label_sets.items():
        texts = [(display or {}).get(label, label) for label in labels]
        probs = scorer.probabilities_of(emb, texts)
        for j, label in enumerate(labels):
            tables.append(samples.assign(label_set=name, label=label, probability=probs[:, j]))
    return pd.concat(tables, ignore_index=True)


def _preservation(samples: pd.DataFrame, emb: torch.Tensor) -> np.ndarray:
    """Cosine with the original of the same (prompt, seed); NaN where there is none."""
    out = np.full(len(samples), np.nan)
    if not set(UNIT_KEYS) <= set(samples.columns):
        return out
    keys = list(zip(*(samples[k] for k in UNIT_KEYS), strict=True))
    originals = {k: i for i, k in enumerate(keys) if samples.kind.iloc[i] == "original"}
    for i, key in enumerate(keys):
        if samples.kind.iloc[i] == "steered" and key in originals:
            out[i] = float(emb[i] @ emb[originals[key]])
    return out
