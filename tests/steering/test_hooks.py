import numpy as np
import pytest
import torch

from musicsteer.models.hookpoints import decoder_layers, inner_decoder
from musicsteer.steering import hooks
from musicsteer.steering.vector import SteeringVector
from tests.helpers.hooks import hook_count
from tests.steering.helpers import layer_input


def test_norm_preserving_add_keeps_every_norm_and_moves_towards_v():
    h = torch.randn(3, 7, 16) * 5
    v = torch.nn.functional.normalize(torch.randn(16), dim=0)
    out = hooks.norm_preserving_add(h, 4.0 * v)
    torch.testing.assert_close(out.norm(dim=-1), h.norm(dim=-1), rtol=1e-5, atol=0)
    assert ((out @ v) > (h @ v)).all()


def _layer_io(tiny, directions, alpha, **kw):
    """Inputs of every decoder layer during one teacher-forced-like forward."""
    seen = {}

    def keep(i):
        def hook(_m, args, kwargs):
            seen[i] = (args[0] if args else kwargs["hidden_states"]).clone()

        return hook

    handles = [
        layer.register_forward_pre_hook(keep(i), with_kwargs=True)
        for i, layer in enumerate(decoder_layers(tiny.model))
    ]
    ids = torch.randint(0, 2048, (2 * 4, 6), generator=torch.Generator().manual_seed(0))
    text = tiny.tokenizer(["a", "b"], return_tensors="pt", padding=True)
    try:
        with torch.inference_mode(), hooks.steer(tiny.model, directions, alpha, **kw):
            tiny.model(**text, decoder_input_ids=ids, use_cache=False)
    finally:
        for h in handles:
            h.remove()
    return seen


def _input_seen_by(tiny, layer, directions, alpha, **kw):
    """The input of ``layer`` after any steering hook on it."""
    return layer_input(tiny, layer, hooks.steer(tiny.model, directions, alpha, **kw))


def test_resid_steering_is_the_norm_preserving_rule_at_every_audio_position(tiny):
    v = torch.randn(64)
    plain = _input_seen_by(tiny, 2, {}, 0.0)
    steered = _input_seen_by(tiny, 2, {2: v}, 10.0)
    audio = slice(plain.shape[1] - 5, None)
    expected = hooks.norm_preserving_add(plain[:, audio], 10.0 * v / v.norm())
    torch.testing.assert_close(steered[:, audio], expected)
    torch.testing.assert_close(steered.norm(dim=-1), plain.norm(dim=-1), rtol=1e-5, atol=0)
    assert torch.equal(_input_seen_by(tiny, 1, {2: v}, 10.0), _input_seen_by(tiny, 1, {}, 0.0))


def test_prefix_untouched_and_one_cfg_half_leaves_the_other(tiny):
    v = torch.randn(64)
    plain = _input_seen_by(tiny, 1, {}, 0.0)
    x = _input_seen_by(tiny, 1, {1: v}, 25.0, cfg="cond")
    assert torch.equal(x[1], plain[1])  # unconditional half bit-identical
    prefix = x.shape[1] - 5
    n_text = tiny.tokenizer(["a", "b"], return_tensors="pt", padding=True).input_ids.shape[1]
    assert prefix == (235 + n_text if tiny.is_melody else 0)  # chroma frames + text tokens
    assert torch.equal(x[0, :prefix], plain[0, :prefix])  # Melody's prefix untouched
    assert not torch.allclose(x[0, prefix:], plain[0, prefix:])
    torch.testing.assert_close(x.norm(dim=-1), plain.norm(dim=-1), rtol=1e-5, atol=0)
    y = _input_seen_by(tiny, 1, {1: v}, 25.0, cfg="uncond")  # the control: the other half
    assert torch.equal(y[0], plain[0]) and not torch.allclose(y[1, prefix:], plain[1, prefix:])
    whole = _input_seen_by(tiny, 1, {1: v}, 25.0, skip_prefix=False)
    if tiny.is_melody:  # asked to, the prefix is steered too
        assert not torch.equal(whole[0, :prefix], plain[0, :prefix])


def test_attention_site_changes_only_the_attention_output(tiny):
    v = torch.randn(64)
    outs = {}
    layer = decoder_layers(tiny.model)[1]
    handle = layer.self_attn.register_forward_hook(
        lambda _m, _a, o: outs.update({len(outs): (o[0] if isinstance(o, tuple) else o).clone()})
    )
    try:
        plain = _layer_io(tiny, {}, 0.0)
        steered = _layer_io(tiny, {1: v}, 30.0, site="attn")
    finally:
        handle.remove()
    assert torch.equal(plain[1], steered[1])  # the layer's input is not steered
    assert not torch.allclose(plain[2], steered[2])  # its output changed through attention
    torch.testing.assert_close(outs[0].norm(dim=-1), outs[1].norm(dim=-1))  # hooks saw pre-steer


def test_hooks_removed_after_exceptions_and_misuse_errors(tiny):
    before = hook_count(tiny.model)
    with pytest.raises(KeyError), hooks.steer(tiny.model, {0: torch.randn(64)}, 3.0):
        assert hook_count(tiny.model) > before
        raise KeyError("boom")
    assert hook_count(tiny.model) == before
    n = len(decoder_layers(tiny.model))
    with (
        pytest.raises(ValueError, match="cannot steer resid layer"),
        hooks.steer(tiny.model, {n: torch.randn(64)}, 1.0),
    ):
        pass
    with (
        pytest.raises(ValueError, match="shape"),
        hooks.steer(tiny.model, {0: torch.randn(8)}, 1.0),
    ):
        pass
    with (
        pytest.raises(ValueError, match="site"),
        hooks.steer(tiny.model, {0: torch.randn(64)}, 1.0, site="mlp"),
    ):
        pass
    with (
        pytest.raises(ValueError, match="zero"),
        hooks.steer(tiny.model, {0: torch.zeros(64)}, 1.0),
    ):
        pass
    vec = SteeringVector(directions=np.ones((n + 1, 32)), layer=1)
    with pytest.raises(ValueError, match="d=32"), vec.apply(tiny.model, 1.0):
        pass
    assert hook_count(tiny.model) == before and not inner_decoder(tiny.model)._forward_pre_hooks
