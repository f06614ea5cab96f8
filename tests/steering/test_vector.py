import json

import numpy as np
import pytest
import torch

from musicsteer.models.hookpoints import decoder_layers
from musicsteer.steering import generation, hooks, vector
from musicsteer.steering.vector import SteeringVector
from tests.steering.helpers import _vector


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
    assert vector.resolve_layers(back, "all") == list(range(n))
    kw = {"seed": 0, "do_sample": False, "return_codes": True}
    with hooks.steer(tiny.model, {2: dirs[2]}, 10.0):
        _, absolute = generation.generate(tiny, ["x"], 12, **kw)
    for scale, alpha in (("projection", 5.0), ("norm", 2.0), ("absolute", 10.0)):
        with back.apply(tiny.model, alpha, alpha_scale=scale):
            assert torch.equal(generation.generate(tiny, ["x"], 12, **kw)[1], absolute), scale
    with back.apply(tiny.model, 2.0):  # norm is the default: 2 × mean ‖h‖ = 2 × 5 at layer 2
        assert torch.equal(generation.generate(tiny, ["x"], 12, **kw)[1], absolute)
    old = tmp_path / "old.npz"  # a file written before mean_norm existed still loads
    meta = {k: v for k, v in vec.__dict__.items() if k not in ("directions", "mean_norm")}
    with open(old, "wb") as fh:
        np.savez(fh, directions=dirs, meta=np.array(json.dumps(meta)))
    assert SteeringVector.load(old).mean_norm == []


def _codes(tiny, prompts=("x",), **kw):
    return generation.generate(
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
        with hooks.steer(tiny.model, {i: vec.directions[i] for i in expected}, 6.0, site=site):
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
    with hooks.steer(tiny.model, {i: vec.directions[i] for i in range(n)}, alphas):
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
            generation.generate(tiny, ["x"], 4, melody=np.zeros(32_000, np.float32))


# ------------------------------------------------ α relative to the activation norm


def test_build_vector_stores_the_mean_norm_of_each_index(tmp_path):
    from musicsteer.probing.assembly import build_vector

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
    from musicsteer.models.tiny import random_musicgen

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
    with torch.inference_mode(), context or hooks.steer(mg.model, {}, 0.0):
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
    from musicsteer.probing.assembly import build_vector

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
                angles[scale].append(float(_angle(h0, hooks.norm_preserving_add(h0, used * v))))
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
    assert vector.alpha_unit(vec, 1, "projection") == 0.02
    vec.mean_projection[1] = float("nan")
    with pytest.raises(ValueError, match="unstable at layer 1"):
        vector.alpha_unit(vec, 1, "projection")
    assert vector.alpha_unit(vec, 2, "norm") == 10.0
    assert vector.alpha_unit(vec, 2, "absolute") == 1.0
