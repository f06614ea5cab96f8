import json

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

    handles = [
        layer.register_forward_pre_hook(keep(i), with_kwargs=True)
        for i, layer in enumerate(decoder_layers(tiny.model))
    ]
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


def test_vector_file_round_trip_and_alpha_scales(tiny, tmp_path):
    n = len(decoder_layers(tiny.model))
    dirs = np.random.default_rng(0).normal(size=(n + 1, 64)).astype(np.float32)
    norms = [3.0 + i for i in range(n + 1)]
    vec = SteeringVector(
        dirs,
        layer=2,
        method="mse",
        task="pop_vs_rock",
        positive="pop",
        negative="rock",
        mean_projection=[-2.0] * (n + 1),
        mean_norm=norms,
    )
    back = SteeringVector.load(vec.save(tmp_path / "v.npz"))
    np.testing.assert_array_equal(back.directions, dirs)
    assert (back.layer, back.positive, back.mean_projection) == (2, "pop", [-2.0] * (n + 1))
    assert back.mean_norm == norms
    assert steering.resolve_layers(back, "all") == list(range(n))
    kw = {"seed": 0, "do_sample": False, "return_codes": True}
    with steering.steer(tiny.model, {2: dirs[2]}, 10.0):
        _, absolute = steering.generate(tiny, ["x"], 12, **kw)
    for scale, alpha in (("projection", 5.0), ("norm", 2.0), ("absolute", 10.0)):
        with steering.apply_vector(back, tiny.model, alpha, alpha_scale=scale):
            assert torch.equal(steering.generate(tiny, ["x"], 12, **kw)[1], absolute), scale
    with back.apply(tiny.model, 2.0):  # norm is the default: 2 × mean ‖h‖ = 2 × 5 at layer 2
        assert torch.equal(steering.generate(tiny, ["x"], 12, **kw)[1], absolute)
    old = tmp_path / "old.npz"  # a file written before mean_norm existed still loads
    meta = {k: v for k, v in vec.__dict__.items() if k not in ("directions", "mean_norm")}
    with open(old, "wb") as fh:
        np.savez(fh, directions=dirs, meta=np.array(json.dumps(meta)))
    assert SteeringVector.load(old).mean_norm == []


def _vector(tiny, site="resid", seed=0, **kw):
    n = len(decoder_layers(tiny.model))
    rows = n + 1 if site == "resid" else n
    dirs = np.random.default_rng(seed).normal(size=(rows, 64)).astype(np.float32)
    kw.setdefault("mean_norm", [4.0 + i for i in range(rows)])
    return SteeringVector(dirs, layer=1, site=site, model="tiny", **kw)


def _codes(tiny, prompts=("x",), **kw):
    return steering.generate(
        tiny, list(prompts), 12, seed=0, do_sample=False, return_codes=True, **kw
    )[1]


@pytest.mark.parametrize("site", ["resid", "attn"])
def test_vector_apply_equals_steering_its_layers(tiny, site):
    vec = _vector(tiny, site)
    n = len(decoder_layers(tiny.model))
    cases = [(None, [1]), ("best", [1]), ("all", list(range(n))), ("0,2", [0, 2]), ([3], [3])]
    for layers, expected in cases:
        with vec.apply(tiny.model, 6.0, layers=layers, alpha_scale="absolute"):
            got = _codes(tiny)
        with steering.steer(tiny.model, {i: vec.directions[i] for i in expected}, 6.0, site=site):
            want = _codes(tiny)
        assert torch.equal(got, want), layers
    plain = _codes(tiny)
    with vec.apply(tiny.model, 1.5):
        assert not torch.equal(_codes(tiny), plain)
    with vec.apply(tiny.model, 0.0):
        assert torch.equal(_codes(tiny), plain)


@pytest.mark.parametrize("scale", ["norm", "projection"])
def test_scaled_alpha_is_per_layer_and_vector_misfits_are_named(tiny, scale):
    n = len(decoder_layers(tiny.model))
    vec = _vector(
        tiny,
        mean_projection=[float(i + 1) for i in range(n + 1)],
        mean_norm=[10.0 * (i + 1) for i in range(n + 1)],
    )
    with vec.apply(tiny.model, 0.2, layers="all", alpha_scale=scale):
        got = _codes(tiny)
    unit = 10.0 if scale == "norm" else 1.0
    alphas = {i: 0.2 * unit * (i + 1) for i in range(n)}
    with steering.steer(tiny.model, {i: vec.directions[i] for i in range(n)}, alphas):
        assert torch.equal(got, _codes(tiny))
    short = SteeringVector(vec.directions[: n - 1], layer=1, model="other-model")
    with pytest.raises(ValueError, match=r"3 resid layer indices \(from other-model\).*has 5"):
        short.apply(tiny.model, 1.0).__enter__()
    bare = _vector(tiny, mean_norm=[])  # a vector fitted before mean_norm was stored
    with pytest.raises(ValueError, match=r"mean_norm.*layer 1: refit .* alpha_scale='absolute'"):
        bare.apply(tiny.model, 1.0, alpha_scale=scale).__enter__()
    with pytest.raises(ValueError, match="needs mean_projection"):
        _vector(tiny).apply(tiny.model, 1.0, alpha_scale="projection").__enter__()
    with pytest.raises(ValueError, match=r"uses the resid statistics .* alpha_scale='absolute'"):
        vec.apply(tiny.model, 1.0, site="attn", alpha_scale=scale).__enter__()
    with pytest.raises(ValueError, match="alpha_scale must be one of"):
        vec.apply(tiny.model, 1.0, alpha_scale="relative").__enter__()
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
    grid = steering.setting_grid(["pop"], ["resid", "attn"], ["mse"], [0.5, 2.0], ["best", "all"])
    assert len(grid) == 8 and grid[0] == steering.Setting("pop", "resid", "mse", 0.5, "best")
    originals = steering.generate_originals(tiny, prompts, [0, 3], tmp_path, 16)
    steered = steering.generate_steered(tiny, vectors, grid[:3], prompts, [0, 3], tmp_path, 16)
    assert len(originals) == 4 and len(steered) == 3 * 4
    assert set(steered.path.map(lambda p: p.split("/")[-1])) >= {
        "pop_resid_mse_best_a0.5_p00_s0.wav",
        "pop_resid_mse_all_a0.5_p01_s3.wav",
    }
    assert steered.layer.tolist()[:4] == ["1"] * 4
    row = steered[(steered.alpha == 2.0) & (steered.layers == "best") & (steered.seed == 3)]
    with vectors[("pop", "resid", "mse")].apply(tiny.model, 2.0):  # α × mean ‖h‖ by default
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


def test_samples_tables_record_the_settings_that_made_them(tiny, tmp_path):
    prompts = steering.prompt_table(["calm folk", "loud rock"])
    vectors = {("pop", "resid", "mse"): _vector(tiny)}
    grid = steering.setting_grid(["pop"], ["resid"], ["mse"], [0.3])
    sampling = {"top_k": 1, "top_p": 0.9, "temperature": 0.7}
    originals = steering.generate_originals(tiny, prompts, [2], tmp_path / "o", 12, 2.5, **sampling)
    steered = steering.generate_steered(
        tiny,
        vectors,
        grid,
        prompts,
        [2],
        tmp_path / "s",
        12,
        2.5,
        cfg="cond",
        alpha_scale="norm",
        skip_prefix=False,
        **sampling,
    )
    made_with = {
        "max_new_tokens": 12,
        "guidance_scale": 2.5,
        "top_k": 1,
        "top_p": 0.9,
        "temperature": 0.7,
    }
    for table in (originals, steered):
        assert table[list(made_with)].drop_duplicates().to_dict("records") == [made_with]
    assert steered[["alpha_scale", "cfg", "skip_prefix"]].drop_duplicates().to_dict("records") == [
        {"alpha_scale": "norm", "cfg": "cond", "skip_prefix": False}
    ]
    # top_k = 1 reached the model: the originals are the greedy generations
    greedy = steering.generate(
        tiny, prompts.prompt.tolist(), 12, seed=2, guidance_scale=2.5, do_sample=False
    )
    for i in range(2):
        np.testing.assert_allclose(audio.load(originals.path.iloc[i]), greedy[i], atol=1 / 32767)


# ------------------------------------------------ α relative to the activation norm


def test_build_vector_stores_the_mean_norm_of_each_index(tmp_path):
    from musicsteer.probing import build_vector

    rng = np.random.default_rng(0)
    scale = np.array([0.5, 30.0, 400.0])[None, :, None]  # ‖x‖² of the last overflows float16
    X = (rng.normal(size=(40, 3, 16)) * scale).astype(np.float16)
    y = np.array([0, 1] * 20)
    vec = build_vector(X, y, "dim", "resid", 1, "t", "a", "b", "m")
    x64 = X.astype(np.float64)
    want = [float(np.mean(np.sqrt((x64[:, i] ** 2).sum(-1)))) for i in range(3)]
    np.testing.assert_allclose(vec.mean_norm, want, rtol=1e-12)
    with np.errstate(over="ignore"):  # float16 would have overflowed
        assert np.isinf(np.linalg.norm(X[:, 2], axis=-1)).any()
    assert SteeringVector.load(vec.save(tmp_path / "v.npz")).mean_norm == vec.mean_norm
    # with recorded per-position norms (mean-pooled activations), those are the unit
    token_norms = rng.uniform(1.0, 2.0, size=(40, 3))
    pooled = build_vector(X, y, "dim", "resid", 1, "t", "a", "b", "m", token_norms=token_norms)
    np.testing.assert_allclose(pooled.mean_norm, token_norms.mean(0), rtol=1e-12)
    with pytest.raises(ValueError, match="do not match"):
        build_vector(X, y, "dim", "resid", 1, "t", "a", "b", "m", token_norms=token_norms[1:])


@pytest.fixture(scope="module")
def loud():
    """A tiny MusicGen whose layers have very different activation norms: the MLP of
    layer l is scaled by 10^(l+1) and its attention output by 4^l (a real Melody's
    residual norms run from 28 to 259, its attention outputs 13 to 22)."""
    from musicsteer.models import random_musicgen

    mg = random_musicgen(melody=False, seed=1)
    with torch.no_grad():
        for i, layer in enumerate(decoder_layers(mg.model)):
            layer.fc2.weight.mul_(10.0 ** (i + 1))
            layer.self_attn.out_proj.weight.mul_(4.0**i)
    return mg


def _tensor(out):
    return out[0] if isinstance(out, tuple) else out


def _site_io(mg, site, seed, context=None):
    """Every layer's activation at ``site`` before and after any steering hook:
    ``({index: h}, {layer: h'})`` of one forward with random codes (resid index
    n_layers, the last layer's output, only in the first)."""
    before, after, handles = {}, {}, []
    layers = decoder_layers(mg.model)

    def keep(store, i):
        if site == "resid":
            return lambda _m, a, k: store.update({i: (a[0] if a else k["hidden_states"]).clone()})
        return lambda _m, _a, out: store.update({i: _tensor(out).clone()})

    ids = torch.randint(0, 2048, (16 * 4, 8), generator=torch.Generator().manual_seed(seed))
    text = mg.tokenizer([f"clip {i}" for i in range(16)], return_tensors="pt", padding=True)
    with torch.inference_mode(), context or steering.steer(mg.model, {}, 0.0):
        for i, layer in enumerate(layers):  # prepended: h; appended after steering's: h'
            for store, first in ((before, True), (after, False)):
                if site == "resid":
                    handles.append(
                        layer.register_forward_pre_hook(
                            keep(store, i), with_kwargs=True, prepend=first
                        )
                    )
                else:
                    handles.append(
                        layer.self_attn.register_forward_hook(keep(store, i), prepend=first)
                    )
        if site == "resid":
            handles.append(
                layers[-1].register_forward_hook(
                    lambda _m, _a, out: before.update({len(layers): _tensor(out).clone()})
                )
            )
        try:
            mg.model(**text, decoder_input_ids=ids, use_cache=False)
        finally:
            for handle in handles:
                handle.remove()
    return before, after


def _angle(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    a, b = a.double(), b.double()
    return torch.arccos((a * b).sum(-1) / (a.norm(dim=-1) * b.norm(dim=-1))).clamp(0, torch.pi)


def test_norm_alpha_turns_h_by_the_same_angle_at_every_layer_and_site(loud):
    from musicsteer.probing import build_vector

    a, angles = 0.2, {"norm": [], "absolute": []}
    typical = {"norm": [], "absolute": []}
    for site in ("resid", "attn"):
        train, _ = _site_io(loud, site, seed=0)  # the "training clips": last position
        X = torch.stack([train[i][:, -1] for i in sorted(train)], 1).numpy()
        vec = build_vector(X, [0, 1] * 8, "dim", site, 1, "t", "a", "b", "loud")
        norms = np.asarray(vec.mean_norm)
        assert norms.max() / norms.min() > (100 if site == "resid" else 50)  # planted
        for scale, alpha in (("norm", a), ("absolute", 1.0)):
            ctx = vec.apply(loud.model, alpha, layers="all", alpha_scale=scale)
            h, steered = _site_io(loud, site, seed=1, context=ctx)
            for i in sorted(steered):
                v = torch.as_tensor(vec.directions[i], dtype=torch.float64)
                x, y = h[i].double(), steered[i].double()
                # the α the hook used, from h' = s (h + α v) (s rescales to ‖h‖)
                s = (y - (y @ v)[..., None] * v).norm(dim=-1) / (x - (x @ v)[..., None] * v).norm(
                    dim=-1
                )
                used = float(((y @ v) / s - x @ v).mean())
                # an h at the layer's mean norm, orthogonal to v, steered by the same rule
                u = torch.randn(64, dtype=torch.float64, generator=torch.Generator().manual_seed(i))
                u = (u - (u @ v) * v) / (u - (u @ v) * v).norm()
                h0 = norms[i] * u
                angles[scale].append(float(_angle(h0, steering.norm_preserving_add(h0, v, used))))
                typical[scale].append(float(_angle(x, y).median()))
    np.testing.assert_allclose(angles["norm"], np.arctan(a), rtol=0, atol=1e-5)
    assert max(angles["absolute"]) / min(angles["absolute"]) > 20  # 0.4° to 80°
    # on the model's own activations (any length and direction) the spread stays small
    assert max(typical["norm"]) < 1.5 * np.arctan(a) and min(typical["norm"]) > 0.6 * np.arctan(a)
    assert max(typical["absolute"]) / min(typical["absolute"]) > 20


def test_projection_scale_refuses_an_unstable_layer(tiny):
    n = len(decoder_layers(tiny.model))
    vec = _vector(tiny, mean_projection=[3.0, 2e-3, 3.0, 3.0, 3.0], mean_norm=[10.0] * (n + 1))
    with pytest.raises(
        ValueError,
        match=r"unstable at layer 1: \|mean projection\| 0.002 is "
        r"below 0.001 × the mean norm 10",
    ):
        vec.apply(tiny.model, 0.5, layers="all", alpha_scale="projection").__enter__()
    vec.mean_projection[1] = 0.02  # 0.002 × the norm: stable enough
    assert steering.alpha_unit(vec, 1, "projection") == 0.02
    vec.mean_projection[1] = float("nan")
    with pytest.raises(ValueError, match="unstable at layer 1"):
        steering.alpha_unit(vec, 1, "projection")
    assert steering.alpha_unit(vec, 2, "norm") == 10.0
    assert steering.alpha_unit(vec, 2, "absolute") == 1.0


# ------------------------------------------------ cfg="cond" needs guidance; sampling


def test_cond_only_steering_refuses_generation_without_guidance(tiny, tmp_path):
    v = {1: torch.randn(64)}
    with steering.steer(tiny.model, v, 0.3, cfg="cond"):
        steering.generate(tiny, ["x"], 4, guidance_scale=3.0)  # guided: two halves, fine
        with pytest.raises(ValueError, match=r"cfg='cond'.*guidance_scale=1 turns guidance off"):
            steering.generate(tiny, ["x"], 4, guidance_scale=1.0)
        with steering.steer(tiny.model, v, 0.0, cfg="cond"):  # nested, α = 0: still cond-only
            pass
        with pytest.raises(ValueError, match="cfg='cond'"):
            steering.generate(tiny, ["x"], 4, guidance_scale=1.0)
    with steering.steer(tiny.model, v, 0.3):  # both halves: guidance is not needed
        steering.generate(tiny, ["x"], 4, guidance_scale=1.0)
    steering.generate(tiny, ["x"], 4, guidance_scale=1.0)
    assert tiny.model not in steering._COND_ONLY  # nothing left behind
    vectors = {("pop", "resid", "mse"): _vector(tiny)}
    grid = steering.setting_grid(["pop"], ["resid"], ["mse"], [0.1])
    with pytest.raises(ValueError, match=r"cfg='cond' needs .*guidance_scale=1"):
        steering.generate_steered(
            tiny,
            vectors,
            grid,
            steering.prompt_table(["a", "b"]),
            [0],
            tmp_path,
            8,
            guidance_scale=1.0,
            cfg="cond",
        )
    vectors[("pop", "attn", "mse")] = _vector(tiny, "attn", mean_norm=[])  # the 2nd setting's
    grid = steering.setting_grid(["pop"], ["resid", "attn"], ["mse"], [0.1])
    with pytest.raises(ValueError, match="refit the vector"):  # before any generation
        steering.generate_steered(
            tiny, vectors, grid, steering.prompt_table(["a"]), [0], tmp_path, 8
        )
    assert not list(tmp_path.iterdir())


def test_cond_without_guidance_and_the_old_relative_alpha_are_config_errors():
    from musicsteer import config

    schema = "workflow/schemas/config.schema.yaml"
    cfg = config.validate_config({}, schema)["steering"]
    assert (cfg["alphas"], cfg["alpha_scale"]) == ([0.05, 0.1, 0.2, 0.3, 0.5], "norm")
    assert (cfg["top_k"], cfg["top_p"], cfg["temperature"]) == (250, 0.0, 1.0)
    cases = {
        r"steering\.cfg: 'cond' .*steering\.guidance_scale 1 turns guidance off": {
            "cfg": "cond",
            "guidance_scale": 1,
        },
        r"steering\.relative_alpha: replaced by steering\.alpha_scale .*projection": {
            "relative_alpha": True
        },
        r"steering\.alphas: \[4\.0, 16\.0\] exceed 2 × the mean activation norm": {
            "alphas": [0.5, 4.0, 16.0]
        },
        r"steering\.top_p": {"top_p": 1.5},
        r"steering\.top_k": {"top_k": -1},
        r"steering\.temperature": {"temperature": 0},
        r"steering\.alpha_scale": {"alpha_scale": "relative"},
    }
    for needle, steering_keys in cases.items():
        with pytest.raises(config.ConfigError, match=needle):
            config.validate_config({"steering": steering_keys}, schema)
    ok = config.validate_config(
        {
            "steering": {
                "alphas": [8.0],
                "alpha_scale": "absolute",
                "cfg": "cond",
                "guidance_scale": 1.5,
            }
        },
        schema,
    )
    assert ok["steering"]["alphas"] == [8.0]


def test_sampling_settings_reach_the_model(tiny):
    def codes(**kw):
        return steering.generate(tiny, ["x", "y"], 12, seed=4, return_codes=True, **kw)[1]

    greedy = codes(do_sample=False)
    assert torch.equal(codes(top_k=1), greedy)  # top-1 sampling is argmax decoding
    assert torch.equal(codes(top_k=0, top_p=1e-9), greedy)  # so is a tiny nucleus
    default = codes()
    assert torch.equal(default, codes(top_k=250, top_p=0.0, temperature=1.0))
    assert not torch.equal(default, greedy)
    for other in ({"top_k": 50}, {"top_k": 0}, {"temperature": 3.0}, {"top_p": 0.5}):
        assert not torch.equal(codes(**other), default), other
    for bad, needle in (
        ({"top_k": -1}, "top_k"),
        ({"top_p": 1.5}, "top_p"),
        ({"temperature": 0.0}, "temperature"),
    ):
        with pytest.raises(ValueError, match=needle):
            codes(**bad)
