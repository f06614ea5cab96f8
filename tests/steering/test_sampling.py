"""Row-keyed sampling and per-row steering: a sample does not depend on its batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers.generation.logits_process import ClassifierFreeGuidanceLogitsProcessor

from musicsteer import audio
from musicsteer.steering import generation, hooks
from musicsteer.steering import grid as steering_grid
from musicsteer.steering.sampling import GuidanceFirst, RowSampler, row_key
from tests.steering.helpers import _vector, layer_input

K, V = 4, 50


def _draw(keys, scores, **kw):
    options = {"top_k": 0, "top_p": 0.0, "temperature": 1.0, **kw}
    sampler = RowSampler(keys, K, **options)
    return sampler(torch.zeros(1, 1, dtype=torch.long), scores).argmax(-1)


def test_a_rows_draw_is_the_same_alone_or_in_any_batch():
    scores = torch.randn(3 * K, V, generator=torch.Generator().manual_seed(0)) * 3
    keys = [row_key(0, p) for p in range(3)]
    together = _draw(keys, scores)
    for p in range(3):
        alone = _draw(keys[p : p + 1], scores[p * K : (p + 1) * K])
        assert torch.equal(alone, together[p * K : (p + 1) * K])
    swapped = _draw(keys[::-1], torch.cat([scores[2 * K :], scores[K : 2 * K], scores[:K]]))
    assert torch.equal(swapped[:K], together[2 * K :])
    other_seed = _draw([row_key(1, p) for p in range(3)], scores)
    assert not torch.equal(other_seed, together)  # keys, not positions, pick the draws


def test_row_sampler_draws_from_the_filtered_distribution():
    """Planted probabilities: 20,000 draws match them, and top-k / temperature act."""
    logits = torch.full((V,), -1e9)
    logits[:3] = torch.tensor([0.7, 0.2, 0.1]).log()
    scores = logits.repeat(K, 1)
    draws = torch.cat([_draw([row_key(s, 0)], scores) for s in range(5000)])
    freq = torch.bincount(draws, minlength=V).float() / len(draws)
    np.testing.assert_allclose(freq[:3].numpy(), [0.7, 0.2, 0.1], atol=0.015)
    assert freq[3:].sum() == 0
    top1 = torch.cat([_draw([row_key(s, 0)], scores, top_k=1) for s in range(200)])
    assert (top1 == 0).all()
    hot = torch.cat([_draw([row_key(s, 0)], scores, temperature=100.0) for s in range(2000)])
    assert abs(float((hot == 0).float().mean()) - 1 / 3) < 0.05  # flattened to uniform over 3


def test_row_sampler_refuses_scores_that_are_not_guided_yet():
    with pytest.raises(RuntimeError, match="after classifier-free guidance"):
        _draw([1, 2], torch.randn(4 * K, V))  # both CFG halves: 2 × 2 prompts
    processors = GuidanceFirst([RowSampler([1], K, 0, 0.0, 1.0)])
    processors.append(ClassifierFreeGuidanceLogitsProcessor(3.0))
    assert isinstance(processors[0], ClassifierFreeGuidanceLogitsProcessor)


def _layer_input(tiny, shifts, **kw):
    steering = hooks.steer_shifts(tiny.model, shifts, **kw)
    return layer_input(tiny, 2, steering, prompts=("a", "b", "c"))


def test_per_row_shifts_move_each_prompt_by_its_own_shift_and_leave_zero_rows(tiny):
    """A teacher-forced forward (no CFG doubling): one row per prompt."""
    d = tiny.model.decoder.config.hidden_size
    v = hooks.unit_vector(torch.randn(d, generator=torch.Generator().manual_seed(3)))
    plain = _layer_input(tiny, {})
    mixed = _layer_input(tiny, {2: torch.stack([2.0 * v, torch.zeros(d), -5.0 * v])})
    assert torch.equal(mixed[1], plain[1])  # zero shift: untouched, bit for bit
    audio_cols = slice(mixed.shape[1] - 5, None)
    for row, alpha in ((0, 2.0), (2, -5.0)):
        shared = _layer_input(tiny, {2: alpha * v})
        torch.testing.assert_close(mixed[row, audio_cols], shared[row, audio_cols])
        torch.testing.assert_close(mixed[row].norm(dim=-1), plain[row].norm(dim=-1))
    assert not torch.allclose(mixed[0, audio_cols], plain[0, audio_cols])
    with pytest.raises(RuntimeError, match="2 × 3 prompts"):  # one CFG half, but no halves
        _layer_input(tiny, {2: torch.stack([v, v, v])}, cfg="cond")


def test_huge_alpha_steers_to_the_limit_and_non_finite_alpha_is_refused():
    h = torch.randn(2, 3, 16) * 7
    v = hooks.unit_vector(torch.randn(16))
    for alpha in (1e30, 3e38, -1e300):
        out = hooks.norm_preserving_add(h, hooks.shift_of(v, alpha))
        assert torch.isfinite(out).all()
        limit = np.sign(alpha) * h.norm(dim=-1, keepdim=True) * v
        torch.testing.assert_close(out, limit, rtol=1e-5, atol=1e-5)
    for alpha in (float("nan"), float("inf"), -float("inf")):
        with pytest.raises(ValueError, match="finite"):
            hooks.shift_of(v, alpha)


def test_a_mixed_batch_generates_what_one_setting_per_call_generates(tiny, tmp_path):
    """Settings × seeds × prompts in batches of 5 vs one sample per call.

    Equal draws (row keys) and equal shifts leave only float rounding between the two,
    which can flip a rare close draw: all but at most one sample must agree.
    """
    prompts = steering_grid.prompt_table(["calm folk", "loud rock", "soft pop"])
    vectors = {
        ("pop", "resid", "mse"): _vector(tiny),
        ("pop", "attn", "mse"): _vector(tiny, "attn"),
    }
    grid = steering_grid.setting_grid(["pop"], ["resid", "attn"], ["mse"], [0.0, 0.5], ["best"])
    tables = {
        size: generation.generate_steered(
            tiny, vectors, grid, prompts, [0, 1], tmp_path / str(size), 12, batch_size=size
        )
        for size in (1, 5)
    }
    assert tables[1].drop(columns="path").equals(tables[5].drop(columns="path"))
    same = [
        np.allclose(audio.load(a), audio.load(b), atol=2 / 32767)
        for a, b in zip(tables[1].path, tables[5].path, strict=True)
    ]
    assert sum(same) >= len(same) - 1, same
    originals = generation.generate_originals(tiny, prompts, [0, 1], tmp_path / "o", 12)
    zero = tables[5][tables[5].alpha == 0.0]
    for row in zero.itertuples():  # α = 0 rows are their originals (same draws, no hook)
        twin = originals[(originals.seed == row.seed) & (originals.prompt_id == row.prompt_id)]
        np.testing.assert_allclose(
            audio.load(row.path), audio.load(twin.path.iloc[0]), atol=2 / 32767
        )
