"""Operators: how a direction moves an activation is a function passed to steer()."""

from __future__ import annotations

import torch

from musicsteer import activations as act
from musicsteer.steering.hooks import norm_preserving_add, steer


def _logits(tiny) -> torch.Tensor:
    codes = torch.randint(
        0,
        2048,
        (2, tiny.model.decoder.num_codebooks, 6),
        generator=torch.Generator().manual_seed(0),
    )
    inputs = act.conditioning_inputs(tiny, 2)
    with torch.no_grad():
        return tiny.model(
            **inputs, decoder_input_ids=act.delayed_inputs(codes), use_cache=False
        ).logits


def test_the_operator_decides_what_a_steering_hook_does(tiny):
    d = tiny.model.decoder.config.hidden_size
    direction = torch.randn(d, generator=torch.Generator().manual_seed(1))
    plain = _logits(tiny)
    seen = []

    def identity(hidden, shift):
        seen.append(float(shift.norm()))
        return hidden

    with steer(tiny.model, {1: direction}, 0.5, operator=identity):
        torch.testing.assert_close(_logits(tiny), plain, rtol=0, atol=0)
    assert seen and all(abs(n - 0.5) < 1e-6 for n in seen)  # α v̂ with unit v̂, raw α
    with steer(tiny.model, {1: direction}, 0.5, operator=norm_preserving_add):
        assert not torch.allclose(_logits(tiny), plain)
    torch.testing.assert_close(_logits(tiny), plain, rtol=0, atol=0)  # hooks gone
