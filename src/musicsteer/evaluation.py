"""Zero-shot CLAP scoring of original vs steered audio, and the paper's fusion table.

Zero-shot probabilities are the softmax of ``logits_per_audio`` over the candidate
labels (what the ``zero-shot-audio-classification`` pipeline computes). Audio is
resampled to CLAP's 48 kHz and cut to its first 10 s, so CLAP's random cropping
never fires and scores are reproducible.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from musicsteer import audio
from musicsteer.models import CLAP_SAMPLE_RATE

CLAP_SECONDS = 10.0
FUSION_COLUMNS = ["Track", "Genre 1", "Genre 1 Score", "Genre 2", "Genre 2 Score"]


@dataclass
class ClapScorer:
    """Scores audio against text labels with a CLAP model."""

    model: torch.nn.Module
    processor: object
    template: str = "{} music"

    @property
    def device(self) -> torch.device:
        """Device of the CLAP weights."""
        return next(self.model.parameters()).device

    @torch.inference_mode()
    def text_embeddings(self, labels: Sequence[str]) -> torch.Tensor:
        """Unit text embeddings ``[n_labels, dim]`` of the templated labels."""
        texts = [self.template.format(label) for label in labels]
        tok = self.processor.tokenizer(texts, return_tensors="pt", padding=True).to(self.device)
        return _unit(self.model.get_text_features(**tok))

    @torch.inference_mode()
    def audio_embeddings(self, waves: Sequence[np.ndarray], sample_rate: int) -> torch.Tensor:
        """Unit audio embeddings ``[n_audio, dim]``."""
        prepared = [self._prepare(w, sample_rate) for w in waves]
        feats = self.processor.feature_extractor(
            prepared, sampling_rate=CLAP_SAMPLE_RATE, return_tensors="pt",
            truncation="rand_trunc", padding="repeatpad",
        ).to(self.device)  # fmt: skip
        return _unit(self.model.get_audio_features(**feats))

    @staticmethod
    def _prepare(wave: np.ndarray, sample_rate: int) -> np.ndarray:
        wave = audio.resample(np.asarray(wave, dtype=np.float32), sample_rate, CLAP_SAMPLE_RATE)
        return wave[: int(CLAP_SECONDS * CLAP_SAMPLE_RATE)]

    @torch.inference_mode()
    def probabilities(
        self, waves: Sequence[np.ndarray], sample_rate: int, labels: Sequence[str]
    ) -> np.ndarray:
        """Zero-shot probabilities ``[n_audio, n_labels]`` (rows sum to 1)."""
        audio_emb = self.audio_embeddings(waves, sample_rate)
        text_emb = self.text_embeddings(labels)
        logits = self.model.logit_scale_a.exp() * audio_emb @ text_emb.T
        return logits.softmax(dim=-1).float().cpu().numpy()


def _unit(x: torch.Tensor | object) -> torch.Tensor:
    x = x if isinstance(x, torch.Tensor) else x.pooler_output
    return torch.nn.functional.normalize(x.float(), dim=-1)


def score_samples(
    scorer: ClapScorer,
    samples: pd.DataFrame,
    labels: Sequence[str],
    display: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Long table of CLAP probabilities: one row per (sample, label).

    ``samples`` needs ``path``; its other columns are carried over. ``display`` maps
    label keys to the text CLAP sees (e.g. ``hiphop → hip-hop``).
    """
    texts = [(display or {}).get(label, label) for label in labels]
    rows = []
    for sample in samples.itertuples(index=False):
        wave = audio.load(sample.path)
        sr = audio.probe(sample.path).sample_rate
        probs = scorer.probabilities([wave], sr, texts)[0]
        for label, prob in zip(labels, probs, strict=True):
            rows.append({**sample._asdict(), "label": label, "probability": float(prob)})
    return pd.DataFrame(rows)


def fusion_table(
    scores: pd.DataFrame, pairs: Sequence[tuple[str, str]], display: Mapping[str, str]
) -> pd.DataFrame:
    """The paper's genre-fusion layout: per pair an original row and a steered row.

    ``scores`` has columns ``source, target, kind ("original"/"steered"), label,
    probability`` over the labels {source, target}; scores are means over samples.
    """
    rows = []
    for source, target in pairs:
        pair = scores[(scores.source == source) & (scores.target == target)]
        if pair.empty:
            raise ValueError(f"no scores for pair {source} → {target}")
        for kind in ("original", "steered"):
            means = pair[pair.kind == kind].groupby("label").probability.mean()
            track = _name(source, display) + (
                "" if kind == "original" else f" {_name(target, display)}"
            )
            rows.append({
                "Track": track,
                "Genre 1": _name(source, display), "Genre 1 Score": float(means[source]),
                "Genre 2": _name(target, display), "Genre 2 Score": float(means[target]),
                "source": source, "target": target, "kind": kind,
                "n": int(pair[pair.kind == kind].path.nunique()),
            })  # fmt: skip
    return pd.DataFrame(rows)


def _name(label: str, display: Mapping[str, str]) -> str:
    return display.get(label, label).title()


def fusion_markdown(table: pd.DataFrame) -> str:
    """The table as the paper prints it (``Rock: 0.987``)."""
    lines = ["| Track | Genre 1 Score | Genre 2 Score |", "|---|---|---|"]
    for r in table.itertuples(index=False):
        g1 = f"{r[1]}: {r[2]:.3f}"
        g2 = f"{r[3]}: {r[4]:.3f}"
        lines.append(f"| {r.Track} | {g1} | {g2} |")
    return "\n".join(lines) + "\n"
