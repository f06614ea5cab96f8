"""Sampling whose random draws belong to a row, not to a batch.

transformers samples every row of a batch from the one global random stream, so a
sample depends on which other rows share its batch. :class:`RowSampler` gives each
batch row its own generator, seeded from that row's key (the prompt and the seed):
a row draws the same random numbers alone, in a batch of prompts, or in a batch
that mixes steering settings, and an original and its steered twin share them (a
paired design: they differ only by the steering). Filtering is transformers' own
(temperature, top-k, top-p, in that order); the draw is an inverse-CDF lookup of one
uniform per codebook.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import numpy as np
import torch
from transformers import LogitsProcessor, LogitsProcessorList
from transformers.generation.logits_process import (
    ClassifierFreeGuidanceLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)


def row_key(seed: int, prompt_id: int) -> int:
    """The generator seed of one (seed, prompt) row: fixed, and apart for every pair."""
    return int(np.random.SeedSequence([int(seed), int(prompt_id)]).generate_state(1)[0])


class RowSampler(LogitsProcessor):
    """Draws each row's next codes with its own generator; greedy decoding then keeps them.

    Runs as the last logits processor of a ``do_sample=False`` generation, after
    classifier-free guidance (scores ``[rows * codebooks, vocab]``, batch-major as
    MusicGen lays them out). Returns scores that are 0 at the drawn code and -inf
    elsewhere, so the argmax is the draw.
    """

    def __init__(
        self,
        keys: Sequence[int],
        codebooks: int,
        top_k: int,
        top_p: float | None,
        temperature: float,
        device: torch.device | str = "cpu",
    ):
        self.codebooks = codebooks
        self.generators = [torch.Generator(device).manual_seed(int(k)) for k in keys]
        self.filters: list[LogitsProcessor] = []
        if temperature != 1.0:
            self.filters.append(TemperatureLogitsWarper(float(temperature)))
        if top_k:
            self.filters.append(TopKLogitsWarper(int(top_k)))
        if top_p and top_p < 1.0:
            self.filters.append(TopPLogitsWarper(float(top_p)))

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        rows = len(self.generators) * self.codebooks
        if scores.shape[0] != rows:
            raise RuntimeError(
                f"RowSampler expected {rows} score rows ({len(self.generators)} prompts × "
                f"{self.codebooks} codebooks, after guidance) but got {scores.shape[0]}: "
                "it must run after classifier-free guidance"
            )
        for step in self.filters:
            scores = step(input_ids, scores)
        cdf = scores.float().softmax(dim=-1).cumsum(dim=-1)
        uniforms = torch.cat(
            [torch.rand(self.codebooks, generator=g, device=g.device) for g in self.generators]
        )
        # u * total, not u: the last cdf entry is 1 only up to rounding
        drawn = torch.searchsorted(cdf, (uniforms * cdf[:, -1]).unsqueeze(1), right=True)
        drawn = drawn.clamp_(max=scores.shape[-1] - 1)
        out = torch.full_like(scores, float("-inf"))
        return cast(torch.FloatTensor, out.scatter_(1, drawn, 0.0))


class GuidanceFirst(LogitsProcessorList):
    """A processor list that keeps classifier-free guidance ahead of the processors given.

    MusicGen's ``generate`` appends its guidance processor to the list it is handed;
    the sampler must see guided scores, so guidance goes to the front instead.
    """

    def append(self, processor: LogitsProcessor) -> None:
        if isinstance(processor, ClassifierFreeGuidanceLogitsProcessor):
            self.insert(0, processor)
        else:
            super().append(processor)
