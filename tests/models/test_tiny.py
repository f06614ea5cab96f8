import torch

from musicsteer.models import loading
from musicsteer.models import tiny as models_tiny


def test_builtin_build_is_deterministic(tmp_path):
    a = models_tiny.build_builtin("tiny-musicgen-melody", tmp_path / "a", seed=3)
    b = models_tiny.build_builtin("tiny-musicgen-melody", tmp_path / "b", seed=3)
    ma = loading.load_musicgen(str(a)).model.state_dict()
    mb = loading.load_musicgen(str(b)).model.state_dict()
    assert all(torch.equal(ma[k], mb[k]) for k in ma)


def test_tiny_codec_codes_depend_on_the_audio(tiny):
    from musicsteer.activations import encode_audio

    t = torch.arange(16_000) / 32_000
    waves = torch.stack([0.3 * torch.sin(2 * torch.pi * f * t) for f in (110.0, 440.0)])
    codes = encode_audio(tiny, waves)
    assert not torch.equal(codes[0], codes[1])
    assert all(len(codes[:, k].unique()) > 4 for k in range(codes.shape[1]))
