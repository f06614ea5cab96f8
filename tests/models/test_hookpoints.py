"""Hook points: one spelling of the layer convention, serving capture and steering alike."""

from __future__ import annotations

import pytest
import torch

from musicsteer import activations as act
from musicsteer.models.hookpoints import (
    SITES,
    decoder_layers,
    hook_point,
    n_layers_from_stored,
    read_hook,
    site_layers,
    steerable_layers,
    write_hook,
)


def test_the_layer_convention_is_spelled_once():
    assert list(site_layers("resid", 4)) == [0, 1, 2, 3, 4]  # + the last block's output
    assert list(site_layers("attn", 4)) == [0, 1, 2, 3]
    for site in SITES:
        assert list(steerable_layers(site, 4)) == [0, 1, 2, 3]
        assert n_layers_from_stored(site, len(site_layers(site, 4))) == 4
    with pytest.raises(ValueError, match="site must be one of"):
        site_layers("mlp", 4)


def _inputs(tiny):
    codes = torch.randint(0, 2048, (2, tiny.model.decoder.num_codebooks, 5))
    inputs = act.conditioning_inputs(tiny, 2)
    return {**inputs, "decoder_input_ids": act.delayed_inputs(codes), "use_cache": False}


def test_read_hooks_see_what_output_hidden_states_reports(tiny):
    n = len(decoder_layers(tiny.model))
    seen: dict[int, torch.Tensor] = {}
    handles = [
        read_hook(hook_point(tiny.model, "resid", layer), lambda h, k=layer: seen.update({k: h}))
        for layer in site_layers("resid", n)
    ]
    try:
        with torch.no_grad():
            out = tiny.model(**_inputs(tiny), output_hidden_states=True)
    finally:
        for handle in handles:
            handle.remove()
    hidden = out.hidden_states if tiny.is_melody else out.decoder_hidden_states
    for layer in range(n):  # resid layer l is the input of block l, exactly
        torch.testing.assert_close(seen[layer], hidden[layer], rtol=0, atol=0)
    assert seen[n].shape == hidden[n].shape  # the last block's raw output (before the norm)


def test_an_identity_write_hook_changes_nothing_and_points_outside_are_refused(tiny):
    inputs = _inputs(tiny)
    with torch.no_grad():
        before = tiny.model(**inputs).logits
        for site in SITES:
            handle = write_hook(hook_point(tiny.model, site, 1), lambda h: h)
            try:
                torch.testing.assert_close(tiny.model(**inputs).logits, before, rtol=0, atol=0)
            finally:
                handle.remove()
    n = len(decoder_layers(tiny.model))
    with pytest.raises(ValueError, match=f"attn layer {n} is outside"):
        hook_point(tiny.model, "attn", n)
