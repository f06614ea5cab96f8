from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import GenerationConfig

from musicsteer import activations as act
from musicsteer import audio
from musicsteer.config import ConfigError, validate_config
from musicsteer.models import chroma as models_chroma
from musicsteer.models import loading
from musicsteer.models.hookpoints import decoder_layers
from tests.helpers.hooks import hook_count

SCHEMA = Path(__file__).resolve().parents[1] / "workflow/schemas/config.schema.yaml"


def _clips(n: int = 3, seconds: float = 0.6, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).normal(0, 0.1, (n, int(seconds * 32000))))


def _forward(tiny, waves, **hooks_kw):
    codes = act.encode_audio(tiny, waves.float())
    inputs = act.conditioning_inputs(tiny, waves.shape[0])
    with torch.inference_mode(), act.capture(tiny.model, **hooks_kw) as rec:
        out = tiny.model(
            **inputs,
            decoder_input_ids=act.delayed_inputs(codes),
            output_hidden_states=True,
            use_cache=False,
        )
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
    # the unit of α: each clip's mean per-position norm, above the norm of the mean
    token_norm = hidden[2][:, prefix:].norm(dim=-1).mean(1)
    assert torch.allclose(rec.stacked_norms("resid")[:, 2], token_norm, rtol=1e-5)
    assert (token_norm > expected.norm(dim=-1) * 1.01).all()


def test_last_token_norms_are_the_norms_of_the_pooled_token(tiny):
    rec, _, _ = _forward(tiny, _clips(2))
    for site in ("resid", "attn"):
        pooled = rec.stacked(site).norm(dim=-1)
        assert torch.allclose(rec.stacked_norms(site), pooled, rtol=1e-6)


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


def test_hooks_are_removed_even_after_an_error(tiny):
    before = hook_count(tiny.model)
    with pytest.raises(RuntimeError), act.capture(tiny.model):
        assert hook_count(tiny.model) > before
        raise RuntimeError("boom")
    assert hook_count(tiny.model) == before
    with (
        pytest.raises(ValueError, match="site must be one of"),
        act.capture(tiny.model, sites=("mlp",)),
    ):
        pass


def _manifest(tmp_path, n=5):
    rows = []
    for i in range(n):
        path = audio.write_wav(tmp_path / f"c{i}.wav", _clips(1, 0.5, i)[0].numpy(), 32000)
        rows.append(
            {
                "clip_id": f"c{i}",
                "label": "ab"[i % 2],
                "source": str(path),
                "offset_s": 0.0,
                "duration_s": 0.5,
            }
        )
    return pd.DataFrame(rows)


def test_extract_shards_resume_and_read_one_layer(tiny, tmp_path):
    manifest = _manifest(tmp_path)
    settings = act.ExtractSettings(model="tiny", batch_size=2, shard_size=2)
    out = tmp_path / "acts"
    index = act.extract_manifest(tiny, manifest, out, settings, progress=False)
    assert index.clip_id.tolist() == manifest.clip_id.tolist() and index.shard.max() == 2
    full = act.load_site(out, "resid", index_table=index)
    waves = np.stack([audio.load(p) for p in manifest.source])
    # the same batches (2, 2, 1) recomputed: the same float maths, so the same float16 bits
    same = np.concatenate([act.record(tiny, waves[i : i + 2])["resid"] for i in (0, 2, 4)])
    np.testing.assert_array_equal(full, same.astype(np.float16).astype(np.float32))
    # one batch of 5: batched BLAS may round float32 differently (see
    # test_batched_equals_one_at_a_time), and a float16 rounding boundary between the two
    # turns that into one float16 ulp, which is at most 2**-10 of the value
    direct = act.record(tiny, waves)["resid"]
    np.testing.assert_allclose(full, direct, rtol=2**-10 + 1e-4, atol=1e-5)
    np.testing.assert_array_equal(act.load_site(out, "resid", 2, index), full[:, 2])
    norms = act.load_token_norms(out, "resid", index)  # last token: ‖pooled‖, unrounded
    np.testing.assert_allclose(norms, np.linalg.norm(same, axis=-1), rtol=1e-5)
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


# ------------------------------------------------------------------ the null condition


def _cfg_batch_capture(mg, waves: np.ndarray, text: str) -> dict[str, np.ndarray]:
    """Captures of a teacher-forced pass over the CFG batch that ``generate`` builds.

    The conditioning comes from transformers' own preparation step of ``generate``
    (conditional rows first, then the unconditional null rows); the decoder inputs
    are the clips' delayed codes, repeated for both halves as ``generate`` does.
    """
    ids = act.delayed_inputs(act.encode_audio(mg, torch.as_tensor(waves)))
    tok = mg.tokenizer([text] * len(waves), return_tensors="pt", padding=True)
    kwargs, config = {"attention_mask": tok.attention_mask}, GenerationConfig(guidance_scale=3.0)
    if mg.is_melody:
        prepare = mg.model._prepare_encoder_hidden_states_kwargs_for_generation
    else:
        prepare = mg.model._prepare_text_encoder_kwargs_for_generation
    kwargs = prepare(tok.input_ids, kwargs, "input_ids", config)
    with torch.inference_mode(), act.capture(mg.model) as rec:
        mg.model(**kwargs, decoder_input_ids=ids.repeat(2, 1), use_cache=False)
    return {site: rec.stacked(site).numpy() for site in act.SITES}


@pytest.mark.parametrize("text", ["", "rock music"])
def test_record_uses_the_conditioning_of_a_cfg_half(tiny, text):
    """Empty text is the unconditional half of CFG; other text is the conditional half."""
    waves = _clips(3).float().numpy()
    cfg = _cfg_batch_capture(tiny, waves, text)
    ours = act.record(tiny, waves, text=text)
    same, other = (slice(3, 6), slice(0, 3)) if text == "" else (slice(0, 3), slice(3, 6))
    for site in act.SITES:
        # the same computation in a batch of 6 instead of 3 (measured: <= 1.2e-7)
        np.testing.assert_allclose(ours[site], cfg[site][same], rtol=1e-6, atol=5e-6)
        # the comparison can fail: the other half differs (measured: >= 4e-5)
        assert np.abs(ours[site] - cfg[site][other]).max() > 2e-5


@pytest.fixture(scope="module", params=["tiny-musicgen", "tiny-musicgen-melody"])
def builtin(request, models_dir):
    return loading.load_musicgen(request.param, models_dir)


def test_empty_text_is_what_generate_sees_in_its_null_half(builtin):
    """generate()'s first step: its unconditional rows equal a pass with the null condition."""
    batch = 2
    tok = builtin.tokenizer([""] * batch, return_tensors="pt")
    torch.manual_seed(0)
    with torch.inference_mode(), act.capture(builtin.model) as rec:
        builtin.model.generate(**tok, max_new_tokens=1, guidance_scale=3.0)
    generated = {site: rec.stacked(site) for site in act.SITES}
    assert generated["resid"].shape[0] == 2 * batch  # [conditional, unconditional]
    bos = torch.full((batch * builtin.num_codebooks, 1), loading.PAD_TOKEN_ID)
    inputs = act.conditioning_inputs(builtin, batch)
    with torch.inference_mode(), act.capture(builtin.model) as rec:
        builtin.model(**inputs, decoder_input_ids=bos, use_cache=False)
    for site in act.SITES:
        null = rec.stacked(site)
        assert torch.allclose(null, generated[site][batch:], rtol=1e-6, atol=1e-6)
        assert (null - generated[site][:batch]).abs().max() > 2e-5  # not the "</s>" half


def test_melody_chroma_with_empty_text_is_the_forward_with_text_masked(tiny):
    """Clip chroma + null text: the prefix Melody's own forward builds from features."""
    if not tiny.is_melody:
        pytest.skip("chroma conditioning is MusicGen-Melody's")
    waves = _clips(2).float()
    ours = act.record(tiny, waves.numpy(), melody_conditioning="chroma")
    chroma = models_chroma.melody_chroma(waves, tiny.sample_rate)
    tok = tiny.tokenizer(["", ""], return_tensors="pt")
    ids = act.delayed_inputs(act.encode_audio(tiny, waves))
    with torch.inference_mode(), act.capture(tiny.model) as rec:
        tiny.model(
            input_ids=tok.input_ids,
            attention_mask=torch.zeros_like(tok.attention_mask),
            input_features=chroma,
            decoder_input_ids=ids,
            use_cache=False,
        )
    for site in act.SITES:
        np.testing.assert_allclose(ours[site], rec.stacked(site).numpy(), rtol=1e-6, atol=1e-6)
    null = act.record(tiny, waves.numpy())
    assert np.abs(null["resid"] - ours["resid"]).max() > 1e-4  # the chroma does reach the model


# ------------------------------------------------------------------ storage dtype


def test_float16_overflow_names_clip_site_and_layer():
    array = np.zeros((3, 5, 4), dtype=np.float32)
    array[1, 3, 2] = -7.0e4
    with pytest.raises(OverflowError, match=r"clip 'b'.*site 'attn', layer index 3.*-?70000"):
        act.to_store_dtype(array, "attn", ["a", "b", "c"])
    array[1, 3, 2] = 65519.0  # rounds down to 65504, float16's largest value: no overflow
    assert act.to_store_dtype(array, "attn", ["a", "b", "c"])[1, 3, 2] == 65504.0
    array[1, 3, 2] = 1.0e6
    stored = act.to_store_dtype(array, "attn", ["a", "b", "c"], "float32")
    assert stored.dtype == np.float32 and stored[1, 3, 2] == 1.0e6
    with pytest.raises(ValueError, match="store_dtype"):
        act.ExtractSettings(model="tiny", store_dtype="bfloat16")


def test_huge_activations_refuse_float16_and_store_as_float32(models_dir, tmp_path):
    mg = loading.load_musicgen("tiny-musicgen", models_dir)  # a private copy to scale
    with torch.no_grad():  # token embeddings far beyond float16's range: resid index 0
        for table in mg.model.decoder.model.decoder.embed_tokens:
            table.weight.mul_(1e7)
    manifest = _manifest(tmp_path, n=3)
    out = tmp_path / "acts"
    half = act.ExtractSettings(model="big", batch_size=2, shard_size=2)
    with pytest.raises(OverflowError, match=r"clip 'c0' at site 'resid', layer index 0.*float32"):
        act.extract_manifest(mg, manifest, out, half, progress=False)
    assert not list(out.glob("shards/*.npy"))  # nothing half-written
    full = act.ExtractSettings(model="big", batch_size=2, shard_size=2, store_dtype="float32")
    assert full.fingerprint(["c0"]) != half.fingerprint(["c0"])
    index = act.extract_manifest(mg, manifest, out, full, progress=False)
    assert all(np.load(p).dtype == np.float32 for p in out.glob("shards/*.npy"))
    resid = act.load_site(out, "resid", index_table=index)
    direct = act.record(mg, np.stack([audio.load(p) for p in manifest.source]))["resid"]
    assert np.isfinite(resid).all() and np.abs(resid).max() > 65504
    np.testing.assert_allclose(resid, direct, rtol=1e-5)


# ------------------------------------------------------------ chroma leaks the label


@pytest.mark.parametrize("concept", ["notes", "chords", "chord_progressions"])
def test_chroma_conditioning_on_tonal_syntheory_is_refused(concept, tiny, tmp_path):
    manifest = _manifest(tmp_path, n=2)
    chroma = act.ExtractSettings(model="tiny", melody_conditioning="chroma")
    message = f"'chroma' would hand the label of SynTheory dataset '{concept}'"
    with pytest.raises(ValueError, match=message):
        act.extract_manifest(
            tiny, manifest, tmp_path / "a", chroma, False, dataset=f"syntheory_{concept}"
        )
    with pytest.raises(ValueError, match=message):  # a SynTheory manifest names its concept
        act.extract_manifest(tiny, manifest.assign(concept=concept), tmp_path / "a", chroma, False)
    with pytest.raises(ConfigError, match=message):
        validate_config(
            {
                "activations": {"melody_conditioning": "chroma"},
                "syntheory": {"concepts": [concept]},
            },
            SCHEMA,
        )


def test_chroma_conditioning_stays_allowed_for_genres(tiny, tmp_path):
    manifest = _manifest(tmp_path, n=2)
    chroma = act.ExtractSettings(model="tiny", melody_conditioning="chroma")
    index = act.extract_manifest(tiny, manifest, tmp_path / "a", chroma, False, dataset="genres")
    assert len(index) == 2
    config = {
        "activations": {"melody_conditioning": "chroma"},
        "syntheory": {"source": "none"},
        "instrument_transfer": {"enabled": False},  # it needs the SynTheory chords
    }
    assert validate_config(config, SCHEMA)["activations"]["melody_conditioning"] == "chroma"
    assert act.melody_conditioning_problem("syntheory_chords", "null") is None
