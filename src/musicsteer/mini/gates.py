"""The mini models' quality gates, measured before any steering.

* codec: a judge fitted on decoded ``train`` clips scores decoded ``heldout`` clips
  (the judge lives in the domain it scores);
* LM: audio generated from each genre's prompts, judged by that judge, per genre;
* CLAP: the pipeline's own zero-shot scorer on decoded ``heldout`` clips.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import numpy as np

from musicsteer.evaluation.clap import ClapScorer
from musicsteer.mini.build import Codes, clip_labels, decode_clips
from musicsteer.mini.judge import Judge, fit_judge
from musicsteer.models.loading import MusicGen

GATES = {"codec": 0.9, "lm": 0.8, "clap": 0.9}


Decoded = tuple[list[np.ndarray], list[str]]  # clips and their genres


def decoded_split(codec: Any, codes: Codes, split: str, clip_frames: int) -> Decoded:
    """Decoded clips of one split and their genres (decode once, score with every gate)."""
    part = codes.of(split)
    waves = decode_clips(codec, part.codes, clip_frames)
    return list(waves), [str(g) for g in clip_labels(part.genres, part.codes.shape[2], clip_frames)]


def codec_gate(train: Decoded, heldout: Decoded, sample_rate: int) -> tuple[Judge, float]:
    """The judge fitted on decoded train clips and its accuracy on decoded held-out clips."""
    judge = fit_judge(*train, sample_rate)
    return judge, judge.accuracy(*heldout)


def lm_gate(
    mg: MusicGen,
    judge: Judge,
    prompts: Mapping[str, Sequence[str]],
    seeds: Sequence[int],
    clip_frames: int,
    guidance_scale: float = 3.0,
) -> dict[str, float]:
    """Per genre: the share of its prompts' generations judged as that genre."""
    from musicsteer.steering.generation import generate

    tokens = clip_frames + mg.num_codebooks - 1  # the delay pattern costs K - 1 frames
    scores = {}
    for genre, texts in prompts.items():
        waves: list[np.ndarray] = []
        for seed in seeds:
            waves += list(cast(np.ndarray, generate(mg, list(texts), tokens, seed, guidance_scale)))
        scores[genre] = judge.accuracy(waves, [genre] * len(waves))
    return scores


def clap_gate(model: Any, processor: Any, heldout: Decoded, sample_rate: int) -> float:
    """Zero-shot accuracy of the pipeline's CLAP scorer on decoded held-out clips."""
    waves, labels = heldout
    names = sorted(set(labels))
    probs = ClapScorer(model, processor).probabilities(waves, sample_rate, names)
    return float(np.mean(np.asarray(names)[probs.argmax(1)] == np.asarray(labels)))


def failed(gates: Mapping[str, Any]) -> list[str]:
    """Names of gates below their threshold (an LM gate is per genre)."""
    out = [name for name in ("codec", "clap") if gates[name] < GATES[name]]
    for model, per_genre in gates.get("lm", {}).items():
        out += [f"lm:{model}:{g}" for g, acc in per_genre.items() if acc < GATES["lm"]]
    return out
