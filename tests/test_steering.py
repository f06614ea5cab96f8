import numpy as np
import pytest
import torch
from tests.test_activations import hook_count

from musicsteer import audio, steering
from musicsteer.models import decoder_layers, inner_decoder
from musicsteer.vectors import SteeringVector


def test_norm_preserving_add_keeps_every_norm_and_moves_towards_v():
    h = torch.randn(3, 7, 16) * 5
    v = torch.nn.functional.normalize(torch.randn(16), dim=0)
    out = steering.norm_preserving_add(h, v, 4.0)
    torch.testing.assert_close(out.norm(dim=-1), h.norm(dim=-1), rtol=1e-5, atol=0)
    assert ((out @ v) > (h @ v)).all()


def _layer_io(tiny, directions, alpha, **kw):
    """Inputs of every decoder layer during one teacher-forced-like forward."""
    seen = {}

    def keep(i):
        def hook(_m, args, kwargs):
            seen[i] = (args[0] if args else kwargs["hidden_states"]).clone()

        return hook

    handles = [layer.register_forward_pre_hook(keep(i), with_kwargs=True)
               for i, layer in enumerate(decoder_layers(tiny.model))]  # fmt: skip
    ids = torch.randint(0, 2048, (2 * 4, 6), generator=torch.Generator().manual_seed(0))
    text = tiny.tokenizer(["a", "b"], return_tensors="pt", padding=True)
    try:
        with torch.inference_mode(), steering.steer(tiny.model, directions, alpha, **kw):
            tiny.model(**text, decoder_input_ids=ids, use_cache=False)
    finally:
        for h in handles:
            h.remove()
    return seen


def _input_seen_by(tiny, layer, directions, alpha, **kw):
    """The input of ``layer`` after any steering hook on it (registered after steer's)."""
    seen = {}
    ids = torch.randint(0, 2048, (2 * 4, 5), generator=torch.Generator().manual_seed(0))
    text = tiny.tokenizer(["a", "b"], return_tensors="pt", padding=True)
    with torch.inference_mode(), steering.steer(tiny.model, directions, alpha, **kw):
        handle = decoder_layers(tiny.model)[layer].register_forward_pre_hook(
            lambda _m, a, k: seen.update(x=(a[0] if a else k["hidden_states"]).clone()),
            with_kwargs=True,
        )
        try:
            tiny.model(**text, decoder_input_ids=ids, use_cache=False)
        finally:
            handle.remove()
    return seen["x"]


def test_resid_steering_is_the_norm_preserving_rule_at_every_audio_position(tiny):
    v = torch.randn(64)
    plain = _input_seen_by(tiny, 2, {}, 0.0)
    steered = _input_seen_by(tiny, 2, {2: v}, 10.0)
    audio = slice(plain.shape[1] - 5, None)
    expected = steering.norm_preserving_add(plain[:, audio], v / v.norm(), 10.0)
    torch.testing.assert_close(steered[:, audio], expected)
    torch.testing.assert_close(steered.norm(dim=-1), plain.norm(dim=-1), rtol=1e-5, atol=0)
    assert torch.equal(_input_seen_by(tiny, 1, {2: v}, 10.0), _input_seen_by(tiny, 1, {}, 0.0))


def test_prefix_untouched_and_cfg_cond_leaves_uncond_rows(tiny):
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
    whole = _input_seen_by(tiny, 1, {1: v}, 25.0, skip_prefix=False)
    if tiny.is_melody:  # asked to, the prefix is steered too
        assert not torch.equal(whole[0, :prefix], plain[0, :prefix])


def test_alpha_zero_is_token_identical_and_kv_cache_matches_no_cache(tiny):
    v = torch.randn(64)
    args = (["rock music"], 24)
    kw = {"seed": 1, "do_sample": False, "return_codes": True}
    _, base = steering.generate(tiny, *args, **kw)
    with steering.steer(tiny.model, {1: v}, 0.0):
        _, zero = steering.generate(tiny, *args, **kw)
    assert torch.equal(base, zero)
    with steering.steer(tiny.model, {1: v}, 40.0):
        _, cached = steering.generate(tiny, *args, **kw)
    tiny.model.generation_config.use_cache = False
    try:
        with steering.steer(tiny.model, {1: v}, 40.0):
            _, uncached = steering.generate(tiny, *args, **kw)
    finally:
        tiny.model.generation_config.use_cache = True
    assert not torch.equal(base, cached)
    assert torch.equal(cached, uncached)


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
    with pytest.raises(KeyError), steering.steer(tiny.model, {0: torch.randn(64)}, 3.0):
        assert hook_count(tiny.model) > before
        raise KeyError("boom")
    assert hook_count(tiny.model) == before
    n = len(decoder_layers(tiny.model))
    with (
        pytest.raises(ValueError, match="cannot steer layer"),
        steering.steer(tiny.model, {n: torch.randn(64)}, 1.0),
    ):
        pass
    with (
        pytest.raises(ValueError, match="shape"),
        steering.steer(tiny.model, {0: torch.randn(8)}, 1.0),
    ):
        pass
    with (
        pytest.raises(ValueError, match="site"),
        steering.steer(tiny.model, {0: torch.randn(64)}, 1.0, site="mlp"),
    ):
        pass
    with (
        pytest.raises(ValueError, match="zero"),
        steering.steer(tiny.model, {0: torch.zeros(64)}, 1.0),
    ):
        pass
    vec = SteeringVector(directions=np.ones((n + 1, 32)), layer=1)
    with pytest.raises(ValueError, match="d=32"), steering.apply_vector(vec, tiny.model, 1.0):
        pass
    assert hook_count(tiny.model) == before and not inner_decoder(tiny.model)._forward_pre_hooks


def test_vector_file_round_trip_and_relative_alpha(tiny, tmp_path):
    n = len(decoder_layers(tiny.model))
    dirs = np.random.default_rng(0).normal(size=(n + 1, 64)).astype(np.float32)
    vec = SteeringVector(dirs, layer=2, method="mse", task="pop_vs_rock", positive="pop",
                         negative="rock", mean_projection=[2.0] * (n + 1))  # fmt: skip
    back = SteeringVector.load(vec.save(tmp_path / "v.npz"))
    np.testing.assert_array_equal(back.directions, dirs)
    assert (back.layer, back.positive, back.mean_projection) == (2, "pop", [2.0] * (n + 1))
    assert steering.resolve_layers(back, "all") == list(range(n))
    kw = {"seed": 0, "do_sample": False, "return_codes": True}
    with steering.apply_vector(back, tiny.model, 5.0, relative=True):
        _, relative = steering.generate(tiny, ["x"], 12, **kw)
    with steering.steer(tiny.model, {2: dirs[2]}, 10.0):
        _, absolute = steering.generate(tiny, ["x"], 12, **kw)
    assert torch.equal(relative, absolute)


def _vector(tiny, site="resid", seed=0, **kw):
    n = len(decoder_layers(tiny.model))
    rows = n + 1 if site == "resid" else n
    dirs = np.random.default_rng(seed).normal(size=(rows, 64)).astype(np.float32)
    return SteeringVector(dirs, layer=1, site=site, model="tiny", **kw)


def _codes(tiny, prompts=("x",), **kw):
    return steering.generate(tiny, list(prompts), 12, seed=0, do_sample=False,
                             return_codes=True, **kw)[1]  # fmt: skip


@pytest.mark.parametrize("site", ["resid", "attn"])
def test_vector_apply_equals_steering_its_layers(tiny, site):
    vec = _vector(tiny, site)
    n = len(decoder_layers(tiny.model))
    cases = [(None, [1]), ("best", [1]), ("all", list(range(n))), ("0,2", [0, 2]), ([3], [3])]
    for layers, expected in cases:
        with vec.apply(tiny.model, 6.0, layers=layers):
            got = _codes(tiny)
        with steering.steer(tiny.model, {i: vec.directions[i] for i in expected}, 6.0, site=site):
            want = _codes(tiny)
        assert torch.equal(got, want), layers
    plain = _codes(tiny)
    with vec.apply(tiny.model, 6.0):
        assert not torch.equal(_codes(tiny), plain)
    with vec.apply(tiny.model, 0.0):
        assert torch.equal(_codes(tiny), plain)


def test_relative_alpha_is_per_layer_and_vector_misfits_are_named(tiny):
    n = len(decoder_layers(tiny.model))
    vec = _vector(tiny, mean_projection=[float(i + 1) for i in range(n + 1)])
    with vec.apply(tiny.model, 2.0, layers="all", relative=True):
        got = _codes(tiny)
    alphas = {i: 2.0 * (i + 1) for i in range(n)}
    with steering.steer(tiny.model, {i: vec.directions[i] for i in range(n)}, alphas):
        assert torch.equal(got, _codes(tiny))
    short = SteeringVector(vec.directions[: n - 1], layer=1, model="other-model")
    with pytest.raises(ValueError, match=r"3 resid layer indices \(from other-model\).*has 5"):
        short.apply(tiny.model, 1.0).__enter__()
    with pytest.raises(ValueError, match="mean_projection"):
        _vector(tiny).apply(tiny.model, 1.0, relative=True).__enter__()
    with pytest.raises(ValueError, match="layers must be"):
        vec.apply(tiny.model, 1.0, layers="first").__enter__()
    with pytest.raises(ValueError, match=r"layers \[9\] are outside"):
        vec.apply(tiny.model, 1.0, layers=[1, 9]).__enter__()
    if not tiny.is_melody:
        with pytest.raises(ValueError, match="not MusicGen-Melody"):
            steering.generate(tiny, ["x"], 4, melody=np.zeros(32_000, np.float32))


def test_steering_grid_files_share_prompt_and_seed_with_their_originals(tiny, tmp_path):
    prompts = steering.prompt_table(["calm folk", "loud rock"])
    vectors = {
        ("pop", "resid", "mse"): _vector(tiny),
        ("pop", "attn", "mse"): _vector(tiny, "attn"),
    }
    grid = steering.setting_grid(["pop"], ["resid", "attn"], ["mse"], [4.0, 12.0], ["best", "all"])
    assert len(grid) == 8 and grid[0] == steering.Setting("pop", "resid", "mse", 4.0, "best")
    originals = steering.generate_originals(tiny, prompts, [0, 3], tmp_path, 16)
    steered = steering.generate_steered(tiny, vectors, grid[:3], prompts, [0, 3], tmp_path, 16)
    assert len(originals) == 4 and len(steered) == 3 * 4
    assert set(steered.path.map(lambda p: p.split("/")[-1])) >= {
        "pop_resid_mse_best_a4_p00_s0.wav", "pop_resid_mse_all_a4_p01_s3.wav"
    }  # fmt: skip
    assert steered.layer.tolist()[:4] == ["1"] * 4
    row = steered[(steered.alpha == 12.0) & (steered.layers == "best") & (steered.seed == 3)]
    with vectors[("pop", "resid", "mse")].apply(tiny.model, 12.0):
        want = steering.generate(tiny, prompts.prompt.tolist(), 16, seed=3)
    for i in range(2):
        got = audio.load(row[row.prompt_id == i].path.iloc[0])
        np.testing.assert_allclose(got, want[i], atol=1 / 32767)  # 16-bit WAV
    plain = steering.generate(tiny, prompts.prompt.tolist(), 16, seed=3)
    first = originals[(originals.seed == 3) & (originals.prompt_id == 0)].path.iloc[0]
    np.testing.assert_allclose(audio.load(first), plain[0], atol=1 / 32767)
    with pytest.raises(ValueError, match="no prompt for genre 'jazz'"):
        path = tmp_path / "p.tsv"
        path.write_text("genre\tprompt\nrock\tloud\n")
        steering.genre_prompts(path, "jazz")
