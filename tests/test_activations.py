import numpy as np
import pandas as pd
import pytest
import torch

from musicsteer import activations as act
from musicsteer import audio
from musicsteer.models import decoder_layers


def _clips(n: int = 3, seconds: float = 0.6, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).normal(0, 0.1, (n, int(seconds * 32000))))


def _forward(tiny, waves, **hooks_kw):
    codes = act.encode_audio(tiny, waves.float())
    inputs = act.conditioning_inputs(tiny, waves.shape[0])
    with torch.inference_mode(), act.capture(tiny.model, **hooks_kw) as rec:
        out = tiny.model(**inputs, decoder_input_ids=act.delayed_inputs(codes),
                         output_hidden_states=True, use_cache=False)  # fmt: skip
    hidden = out.hidden_states if tiny.is_melody else out.decoder_hidden_states
    return rec, hidden, codes


def test_residual_capture_equals_output_hidden_states(tiny):
    rec, hidden, _ = _forward(tiny, _clips())
    resid = rec.stacked("resid")
    n_layers = len(decoder_layers(tiny.model))
    assert resid.shape[1] == n_layers + 1
    for layer in range(n_layers):
        assert (resid[:, layer] - hidden[layer][:, -1]).abs().max() <= 1e-6
    final_ln = tiny.model.decoder.model.decoder.layer_norm
    assert (final_ln(resid[:, -1]) - hidden[-1][:, -1]).abs().max() <= 1e-5


def test_attention_capture_equals_manual_recomputation(tiny):
    rec, hidden, _ = _forward(tiny, _clips(2))
    layer = decoder_layers(tiny.model)[1]
    h = hidden[1]
    with torch.inference_mode():
        mask = torch.full((h.shape[1], h.shape[1]), float("-inf")).triu(1)[None, None]
        manual = layer.self_attn(layer.self_attn_layer_norm(h), attention_mask=mask)[0]
    assert torch.allclose(rec.stacked("attn")[:, 1], manual[:, -1], atol=1e-5)


def test_pooling_ignores_melody_prefix(tiny):
    rec, hidden, codes = _forward(tiny, _clips(2), position="mean")
    n_audio = codes.shape[-1] + 1
    assert rec.span.n_audio == n_audio
    prefix = hidden[0].shape[1] - n_audio
    assert prefix == (236 if tiny.is_melody else 0)  # 235 chroma frames + one text token
    expected = hidden[2][:, prefix:].mean(1)
    assert torch.allclose(rec.stacked("resid")[:, 2], expected, atol=1e-6)


def test_delay_pattern_matches_the_library(tiny):
    codes = torch.randint(0, 2048, (2, 4, 7))
    ids = act.delayed_inputs(codes)
    _, mask = tiny.model.decoder.build_delay_pattern_mask(
        torch.full((8, 1), 2048), pad_token_id=2048, max_length=7 + 5
    )
    filled = mask.clone()
    for row, stream in enumerate(codes.reshape(8, 7)):
        free = (filled[row] == -1).nonzero().flatten()[:7]
        filled[row, free] = stream
    assert torch.equal(filled[:, :8], ids)


def test_batched_equals_one_at_a_time(tiny):
    waves = _clips(3).float().numpy()
    together = act.record(tiny, waves)
    alone = [act.record(tiny, w[None]) for w in waves]
    for site in ("resid", "attn"):
        np.testing.assert_allclose(
            together[site], np.concatenate([a[site] for a in alone]), rtol=1e-4, atol=1e-5
        )


def hook_count(model: torch.nn.Module) -> int:
    """Every forward hook and pre-hook registered anywhere in the model."""
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def test_hooks_are_removed_even_after_an_error(tiny):
    before = hook_count(tiny.model)
    with pytest.raises(RuntimeError), act.capture(tiny.model):
        assert hook_count(tiny.model) > before
        raise RuntimeError("boom")
    assert hook_count(tiny.model) == before
    with pytest.raises(ValueError, match="unknown sites"), act.capture(tiny.model, sites=("mlp",)):
        pass


def _manifest(tmp_path, n=5):
    rows = []
    for i in range(n):
        path = audio.write_wav(tmp_path / f"c{i}.wav", _clips(1, 0.5, i)[0].numpy(), 32000)
        rows.append({"clip_id": f"c{i}", "label": "ab"[i % 2], "source": str(path),
                     "offset_s": 0.0, "duration_s": 0.5})  # fmt: skip
    return pd.DataFrame(rows)


def test_extract_shards_resume_and_read_one_layer(tiny, tmp_path):
    manifest = _manifest(tmp_path)
    settings = act.ExtractSettings(model="tiny", batch_size=2, shard_size=2)
    out = tmp_path / "acts"
    index = act.extract_manifest(tiny, manifest, out, settings, progress=False)
    assert index.clip_id.tolist() == manifest.clip_id.tolist() and index.shard.max() == 2
    full = act.load_site(out, "resid", index_table=index)
    direct = act.record(tiny, np.stack([audio.load(p) for p in manifest.source]))["resid"]
    np.testing.assert_allclose(full, direct.astype(np.float16).astype(np.float32))
    np.testing.assert_array_equal(act.load_site(out, "resid", 2, index), full[:, 2])
    # a killed job: one shard lost, another half-written → rerun restores identical bytes
    shards = sorted((out / "shards").glob("*.npy"))
    before = {p.name: p.read_bytes() for p in shards}
    shards[0].unlink()
    (out / "shards" / "junk.npy.tmp").write_bytes(b"partial")
    act.extract_manifest(tiny, manifest, out, settings, progress=False)
    assert {p.name: p.read_bytes() for p in sorted((out / "shards").glob("*.npy"))} == before


def test_layer_subset_matches_the_full_capture(tiny):
    waves = _clips(2).float().numpy()
    full = act.record(tiny, waves)
    part = act.record(tiny, waves, layers=[1, 4])
    np.testing.assert_array_equal(part["resid"], full["resid"][:, [1, 4]])
    np.testing.assert_array_equal(part["attn"], full["attn"][:, [1]])  # attn has no index 4
    with pytest.raises(ValueError, match="outside"):
        act.record(tiny, waves, layers=[9])


def test_melody_last_token_is_the_last_audio_position(tiny):
    rec, hidden, codes = _forward(tiny, _clips(2))
    assert hidden[0].shape[1] - rec.span.n_audio == (236 if tiny.is_melody else 0)
    # the pooled token is the final sequence position, which holds audio frame `frames`
    assert torch.equal(rec.stacked("resid")[:, 0], hidden[0][:, -1])
    assert rec.span.n_audio == codes.shape[-1] + 1
