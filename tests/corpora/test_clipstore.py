import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from musicsteer import activations as act
from musicsteer.corpora import clipstore


def _manifest(tmp_path, n=5, rate=44_100, seconds=1.0):
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        path = tmp_path / f"t{i}.wav"
        sf.write(path, rng.normal(0, 0.1, (int(rate * 2.5), 2)), rate)  # stereo, 44.1 kHz
        for k in range(2):
            rows.append(
                {
                    "clip_id": f"t{i}/{k}",
                    "label": "ab"[i % 2],
                    "source": str(path),
                    "offset_s": k * seconds,
                    "duration_s": seconds,
                }
            )
    return pd.DataFrame(rows)


def test_shards_hold_exactly_the_decoded_clips_and_resume(tmp_path):
    manifest = _manifest(tmp_path)
    out = tmp_path / "clips"
    stored = clipstore.write_clip_shards(manifest, out, 32_000, shard_size=4, progress=False)
    assert stored.clip_shard.nunique() == 3 and stored.clip_row.tolist()[:5] == [0, 1, 2, 3, 0]
    batches = np.concatenate(list(clipstore.iter_clip_batches(stored, out, 3)))
    direct = np.stack([clipstore.load_clip_from_source(r, 32_000) for r in manifest.itertuples()])
    assert batches.shape == (10, 32_000)
    np.testing.assert_allclose(batches, direct, atol=1 / 32767 + 1e-7)  # int16 rounding only
    before = {p.name: p.read_bytes() for p in out.glob("*.npy")}
    next(iter(sorted(out.glob("*.npy")))).unlink()
    clipstore.write_clip_shards(manifest, out, 32_000, shard_size=4, progress=False)
    assert {p.name: p.read_bytes() for p in out.glob("*.npy")} == before


def test_mixed_durations_are_refused(tmp_path):
    manifest = _manifest(tmp_path, n=1)
    manifest.loc[0, "duration_s"] = 0.5
    with pytest.raises(ValueError, match="share a duration"):
        clipstore.write_clip_shards(manifest, tmp_path / "c", progress=False)


def test_activations_from_the_store_equal_activations_from_sources(tiny, tmp_path):
    manifest = _manifest(tmp_path, n=2, seconds=0.5)
    stored = clipstore.write_clip_shards(manifest, tmp_path / "clips", progress=False)
    settings = act.ExtractSettings(model="tiny", batch_size=2, shard_size=8)
    a = act.extract_manifest(tiny, stored, tmp_path / "a", settings, False, tmp_path / "clips")
    b = act.extract_manifest(tiny, manifest, tmp_path / "b", settings, False)
    from_store = act.load_site(tmp_path / "a", "attn", index_table=a)
    from_source = act.load_site(tmp_path / "b", "attn", index_table=b)
    np.testing.assert_allclose(from_store, from_source, atol=2e-3)  # int16 vs float input


def test_codes_are_encoded_once_per_codec_and_give_the_same_activations(tiny, tmp_path):
    manifest = _manifest(tmp_path, n=3, seconds=0.5)
    clips = tmp_path / "clips"
    stored = clipstore.write_clip_shards(manifest, clips, shard_size=4, progress=False)
    settings = act.ExtractSettings(model="tiny", batch_size=3, shard_size=8)
    first = act.extract_manifest(tiny, stored, tmp_path / "a", settings, False, clips)
    cache = sorted((clips / f"codes-{act.codec_fingerprint(tiny)}").glob("*.npy"))
    assert [p.name for p in cache] == sorted(set(stored.clip_shard))
    for path in cache:  # the codes of each stored clip, as the codec gives them
        shard = np.load(clips / path.name)
        direct = act.encode_audio(tiny, torch.from_numpy(clipstore.clip_floats(shard)))
        assert (np.load(path) == direct.numpy()).mean() > 0.999  # batch rounding aside
    calls = []
    original = act.encode_audio
    act.encode_audio = lambda *a: calls.append(1) or original(*a)
    try:  # other settings, same clips and codec: the codec does not run again
        again = act.ExtractSettings(model="tiny", batch_size=2, shard_size=8, position="mean")
        second = act.extract_manifest(tiny, stored, tmp_path / "b", again, False, clips)
    finally:
        act.encode_audio = original
    assert not calls and len(second) == len(first)
    uncached = act.extract_manifest(tiny, manifest, tmp_path / "c", settings, False)
    np.testing.assert_allclose(
        act.load_site(tmp_path / "a", "resid", index_table=first),
        act.load_site(tmp_path / "c", "resid", index_table=uncached),
        atol=2e-3,
    )
