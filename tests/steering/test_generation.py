import pytest
import torch

from musicsteer.steering import generation, hooks
from musicsteer.steering import grid as steering_grid
from tests.steering.helpers import _vector


def test_alpha_zero_is_token_identical_and_kv_cache_matches_no_cache(tiny):
    v = torch.randn(64)
    args = (["rock music"], 24)
    kw = {"seed": 1, "do_sample": False, "return_codes": True}
    _, base = generation.generate(tiny, *args, **kw)
    with hooks.steer(tiny.model, {1: v}, 0.0):
        _, zero = generation.generate(tiny, *args, **kw)
    assert torch.equal(base, zero)
    with hooks.steer(tiny.model, {1: v}, 40.0):
        _, cached = generation.generate(tiny, *args, **kw)
    tiny.model.generation_config.use_cache = False
    try:
        with hooks.steer(tiny.model, {1: v}, 40.0):
            _, uncached = generation.generate(tiny, *args, **kw)
    finally:
        tiny.model.generation_config.use_cache = True
    assert not torch.equal(base, cached)
    assert torch.equal(cached, uncached)


# ------------------------------------------------ cfg="cond" needs guidance; sampling


def test_cond_only_steering_refuses_generation_without_guidance(tiny, tmp_path):
    v = {1: torch.randn(64)}
    with hooks.steer(tiny.model, v, 0.3, cfg="cond"):
        generation.generate(tiny, ["x"], 4, guidance_scale=3.0)  # guided: two halves, fine
        with pytest.raises(ValueError, match=r"cfg 'cond'.*guidance_scale=1 turns guidance off"):
            generation.generate(tiny, ["x"], 4, guidance_scale=1.0)
        with hooks.steer(tiny.model, v, 0.0, cfg="cond"):  # nested, α = 0: still cond-only
            pass
        with pytest.raises(ValueError, match="cfg 'cond'"):
            generation.generate(tiny, ["x"], 4, guidance_scale=1.0)
    with hooks.steer(tiny.model, v, 0.3, cfg="uncond"), pytest.raises(ValueError, match="one half"):
        generation.generate(tiny, ["x"], 4, guidance_scale=1.0)
    with hooks.steer(tiny.model, v, 0.3):  # both halves: guidance is not needed
        generation.generate(tiny, ["x"], 4, guidance_scale=1.0)
    generation.generate(tiny, ["x"], 4, guidance_scale=1.0)
    assert tiny.model not in hooks._COND_ONLY  # nothing left behind
    vectors = {("pop", "resid", "mse"): _vector(tiny)}
    grid = steering_grid.setting_grid(["pop"], ["resid"], ["mse"], [0.1])
    with pytest.raises(ValueError, match=r"cfg='cond' needs .*guidance_scale=1"):
        generation.generate_steered(
            tiny,
            vectors,
            grid,
            steering_grid.prompt_table(["a", "b"]),
            [0],
            tmp_path,
            8,
            guidance_scale=1.0,
            cfg="cond",
        )
    vectors[("pop", "attn", "mse")] = _vector(tiny, "attn", mean_norm=[])  # the 2nd setting's
    grid = steering_grid.setting_grid(["pop"], ["resid", "attn"], ["mse"], [0.1])
    with pytest.raises(ValueError, match="refit the vector"):  # before any generation
        generation.generate_steered(
            tiny, vectors, grid, steering_grid.prompt_table(["a"]), [0], tmp_path, 8
        )
    assert not list(tmp_path.iterdir())


def test_sampling_settings_reach_the_model(tiny):
    def codes(**kw):
        return generation.generate(tiny, ["x", "y"], 12, seed=4, return_codes=True, **kw)[1]

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
