"""Train a small ``ClapModel`` so the pipeline's zero-shot CLAP scoring means something.

The objective is the one the scorer uses: each clip's audio embedding against the text
embeddings of every label put into a caption, softmax over labels scaled by the model's
own ``logit_scale_a`` (``logits_per_audio``), cross-entropy on the clip's label. The
captions are the zero-shot template (``"This is a sound of {}."``) and a few other
phrasings, so the template is not the only text it understands. Train it on *decoded*
audio: that is the domain it scores.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from musicsteer.evaluation.clap import ZERO_SHOT_TEMPLATE, ClapScorer, unit_embeddings
from musicsteer.mini.history import History

CAPTIONS = (ZERO_SHOT_TEMPLATE, "{} music", "a {} song", "the sound of {}")


@dataclass(frozen=True)
class ClapTraining:
    """How the CLAP model is trained (seeded)."""

    steps: int = 300
    batch: int = 16
    lr: float = 5e-4
    seed: int = 0


def _label_logits(
    model: Any, processor: Any, features: torch.Tensor, texts: list[str]
) -> torch.Tensor:
    tok = processor.tokenizer(texts, return_tensors="pt", padding=True)
    text = unit_embeddings(model.get_text_features(**tok))
    sound = unit_embeddings(model.get_audio_features(input_features=features))
    return sound @ text.t() * model.logit_scale_a.exp()


def train_clap(
    model: Any,  # a ClapModel
    processor: Any,  # its ClapProcessor
    waves: Sequence[np.ndarray],
    labels: Sequence[str],
    sample_rate: int,
    settings: ClapTraining = ClapTraining(),
    progress: Callable[[Iterable[int]], Iterable[int]] = iter,
) -> History:
    """Train ``model`` in place to tell ``labels`` apart zero-shot on ``waves``."""
    names = sorted(set(labels))
    if len(names) < 2:
        raise ValueError(f"CLAP training needs at least two labels, got {names}")
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    features = ClapScorer(model, processor).audio_features(waves, sample_rate).input_features
    targets = torch.tensor([names.index(x) for x in labels])
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=0.01)
    history = History()
    model.train()
    for step in progress(range(settings.steps)):
        rows = torch.from_numpy(rng.integers(0, len(targets), settings.batch))
        caption = CAPTIONS[int(rng.integers(len(CAPTIONS)))]
        logits = _label_logits(model, processor, features[rows], [caption.format(n) for n in names])
        loss = F.cross_entropy(logits, targets[rows])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.add(step=step, loss=float(loss.detach()))
    model.eval()
    return history
