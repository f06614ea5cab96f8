"""Genre sources (GTZAN, FMA, music_genres), bad input, combining, and downloads."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from musicsteer import audio
from musicsteer.corpora import genres
from tests.corpora.sources import _mp3_bytes, _tone, _write


def _skips(skipped: pd.DataFrame) -> list[tuple[str, str]]:
    """(file name or parquet row, reason) pairs, sorted."""
    names = skipped.source.map(lambda s: s.rsplit("/", 1)[-1])
    return sorted(zip(names, skipped.reason, strict=True))


def _assert_skips(skipped: pd.DataFrame, expected: list[tuple[str, str]]) -> None:
    got = _skips(skipped)
    assert [name for name, _ in got] == sorted(name for name, _ in expected), got
    for (name, reason), (_, prefix) in zip(got, sorted(expected), strict=True):
        assert reason.startswith(prefix), (name, reason, prefix)


def _assert_clips_load(manifest: pd.DataFrame) -> None:
    """Every clip reads back through audio.load (as activation extraction does)."""
    for row in manifest.itertuples():
        wave = audio.load(row.source, 32_000, row.offset_s, row.duration_s)
        assert wave.shape == (320_000,) and not audio.is_silent(wave), row.clip_id


GTZAN_CLIPS = {
    "gtzan/jazz.00001/0",
    "gtzan/jazz.00001/1",
    "gtzan/jazz.00002/0",
    "gtzan/jazz.00003/0",
    "gtzan/rock.00000/0",
    "gtzan/rock.00000/1",
    "gtzan/rock.00000/2",
    "gtzan/rock.00001/0",
    "gtzan/rock.00001/1",
    "gtzan/rock.00004/0",
    "gtzan/rock.00004/1",
    "gtzan/rock.00005/0",
}


GTZAN_SKIPS = [
    ("jazz.00054.wav", "unreadable: "),
    ("jazz.00000.wav", "clip 0 at 0s: silent"),
    ("jazz.00002.wav", "clip 1 at 10s: silent"),
    ("jazz.00004.wav", "empty: no audio frames"),
    ("rock.00002.wav", "too short: 5.00s < 10s clip"),
    ("rock.00003.wav", "empty: zero-length file"),
]


def test_gtzan_exact_clips_and_skips(gtzan):
    tracks = genres.gtzan_tracks(gtzan)
    assert len(tracks) == 12  # notes.txt is not audio
    manifest, skipped = genres.build_manifest(tracks, progress=False)
    assert set(manifest.clip_id) == GTZAN_CLIPS and manifest.clip_id.is_unique
    assert manifest.groupby("label").size().to_dict() == {"jazz": 4, "rock": 8}
    assert list(skipped.columns) == genres.SKIPPED_COLUMNS
    assert set(skipped.dataset) == {"gtzan"}
    _assert_skips(skipped, GTZAN_SKIPS)
    rates = manifest.drop_duplicates("track").set_index("track").source_sample_rate
    assert rates["jazz.00001"] == 44_100 and rates["jazz.00003"] == 8_000
    _assert_clips_load(manifest)


def test_gtzan_runs_are_deterministic_and_threads_change_nothing(gtzan):
    tracks = genres.gtzan_tracks(gtzan)
    a, skip_a = genres.build_manifest(tracks, progress=False, max_clips_per_label=3, seed=4)
    b, skip_b = genres.build_manifest(tracks, progress=False, max_clips_per_label=3, seed=4)
    c, skip_c = genres.build_manifest(
        tracks, progress=False, max_clips_per_label=3, seed=4, workers=3
    )
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(a, c)
    pd.testing.assert_frame_equal(skip_a, skip_c)
    assert a.groupby("label").size().to_dict() == {"jazz": 3, "rock": 3}


# --- FMA ---------------------------------------------------------------------------

FMA_ROWS = [  # track id, subset, genre_top
    (2, "small", "Hip-Hop"),
    (3, "small", "Hip-Hop"),
    (5, "small", "Rock"),
    (10, "small", "Rock"),
    (20, "small", ""),
    (26, "small", "Pop"),
    (40, "small", "Rock"),
    (50, "small", "Rock"),
    (60, "small", "Old-Time / Historic"),
    (1030, "medium", "Folk"),
    (140000, "large", "Pop"),
]


def _write_tracks_csv(path: Path) -> None:
    """The real tracks.csv shape: two header rows, then a ``track_id`` index row."""
    columns = [
        ("album", "id"),
        ("set", "split"),
        ("set", "subset"),
        ("track", "genre_top"),
        ("track", "genres"),
        ("track", "title"),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as out:
        w = csv.writer(out)
        w.writerow(["", *(top for top, _ in columns)])
        w.writerow(["", *(sub for _, sub in columns)])
        w.writerow(["track_id", *[""] * len(columns)])
        for tid, subset, genre in FMA_ROWS:
            w.writerow([tid, 1, "training", subset, genre, "[21, 811]", f"Song, {tid}"])


@pytest.fixture()
def fma(tmp_path: Path) -> Path:
    root = tmp_path / "fma"
    _write_tracks_csv(root / "fma_metadata" / "tracks.csv")
    small = root / "fma_small"
    _write(small / "000" / "000002.mp3", _mp3_bytes(_tone(30.0)))
    _write(small / "000" / "000003.mp3", _mp3_bytes(_tone(25.0, 330.0, 44_100, 2), 44_100))
    full = _mp3_bytes(_tone(30.0, 440.0))
    _write(small / "000" / "000005.mp3", full[: len(full) // 2])  # header claims 30 s
    _write(small / "000" / "000010.mp3", _mp3_bytes(_tone(5.0)))
    _write(small / "000" / "000020.mp3", _mp3_bytes(_tone(12.0)))  # no genre_top: not listed
    _write(small / "000" / "000040.mp3", np.random.default_rng(0).bytes(5000))
    _write(small / "000" / "000050.mp3", b"")
    _write(small / "000" / "000060.mp3", _mp3_bytes(_tone(11.0, 250.0)))
    return root


FMA_CLIPS = {
    "fma/000002/0",
    "fma/000002/1",
    "fma/000002/2",
    "fma/000003/0",
    "fma/000003/1",
    "fma/000005/0",
    "fma/000060/0",
}


FMA_SKIPS = [
    ("000005.mp3", "clip 1 at 10s: truncated: "),
    ("000005.mp3", "clip 2 at 20s: truncated: 0 of 220500 frames"),
    ("000010.mp3", "too short: 5.00s < 10s clip"),
    ("000026.mp3", "missing file"),
    ("000040.mp3", "unreadable: "),
    ("000050.mp3", "empty: zero-length file"),
]


def test_fma_tracks_subsets_labels_and_paths(fma):
    small = genres.fma_tracks(fma, "small")
    assert [t.key for t in small] == [
        "000002",
        "000003",
        "000005",
        "000010",
        "000026",
        "000040",
        "000050",
        "000060",
    ]
    assert {t.label for t in small} == {"hiphop", "rock", "pop", "oldtimehistoric"}
    medium = {t.key: t for t in genres.fma_tracks(fma, "medium")}
    assert "001030" in medium and "140000" not in medium
    assert medium["001030"].path == fma / "fma_medium" / "001" / "001030.mp3"
    assert medium["001030"].label == "folk"
    large = genres.fma_tracks(fma, "large", genres=["pop"])
    assert [(t.key, t.path.parent.name) for t in large] == [("000026", "000"), ("140000", "140")]
    mapped = genres.fma_tracks(
        fma, "small", ["hiphop", "oldtime"], {"Old-Time / Historic": "oldtime"}
    )
    assert [(t.key, t.label) for t in mapped] == [
        ("000002", "hiphop"),
        ("000003", "hiphop"),
        ("000060", "oldtime"),
    ]
    with pytest.raises(ValueError, match="subset"):
        genres.fma_tracks(fma, "tiny")
    with pytest.raises(FileNotFoundError, match="tracks.csv"):
        genres.fma_tracks(fma / "fma_small")


def test_fma_exact_clips_and_skips(fma):
    manifest, skipped = genres.build_manifest(genres.fma_tracks(fma, "small"), progress=False)
    assert set(manifest.clip_id) == FMA_CLIPS
    assert manifest.groupby("label").size().to_dict() == {
        "hiphop": 5,
        "oldtimehistoric": 1,
        "rock": 1,
    }
    _assert_skips(skipped, FMA_SKIPS)
    assert skipped.set_index("reason").loc["missing file", "label"] == "pop"
    _assert_clips_load(manifest)
    again, skipped_again = genres.build_manifest(genres.fma_tracks(fma, "small"), progress=False)
    pd.testing.assert_frame_equal(manifest, again)
    pd.testing.assert_frame_equal(skipped, skipped_again)


def test_one_failing_file_never_stops_the_corpus(fma, monkeypatch):
    real = audio.read_window

    def flaky(sound, *args, **kwargs):
        if sound.name.endswith("000003.mp3"):
            raise MemoryError("decoder blew up")
        return real(sound, *args, **kwargs)

    monkeypatch.setattr(audio, "read_window", flaky)
    manifest, skipped = genres.build_manifest(genres.fma_tracks(fma, "small"), progress=False)
    assert set(manifest.clip_id) == FMA_CLIPS - {"fma/000003/0", "fma/000003/1"}
    assert [r for n, r in _skips(skipped) if n == "000003.mp3"] == [
        "clip 0 at 0s: error: MemoryError: decoder blew up",
        "clip 1 at 10s: error: MemoryError: decoder blew up",
    ]
    monkeypatch.setattr(audio, "info_of", lambda sound: 1 / 0)
    manifest, skipped = genres.build_manifest(genres.fma_tracks(fma, "small"), progress=False)
    assert manifest.empty
    assert ("000002.mp3", "error: ZeroDivisionError: division by zero") in _skips(skipped)


MG_CLIPS = {
    "music_genres/9/0",
    "music_genres/11/0",
    "music_genres/11/1",
    "music_genres/12/0",
    "music_genres/12/1",
    "music_genres/12/2",
}


MG_SKIPS = [
    ("test-00000-of-00001.parquet#row=1", "clip 0 at 0s: silent"),
    ("train-00000-of-00001.parquet#row=2", "unreadable: "),
    ("train-00000-of-00001.parquet#row=3", "empty: no audio bytes"),
]


def test_music_genres_rows_clip_from_parquet(music_genres):
    tracks = genres.music_genres_tracks(music_genres)
    assert [(t.path.name[:5], t.row, t.key, t.label) for t in tracks] == [
        ("test-", 0, "9", "pop"),
        ("test-", 1, "16", "rock"),
        ("train", 0, "11", "rock"),
        ("train", 1, "12", "hiphop"),
        ("train", 2, "13", "rock"),
        ("train", 3, "14", "pop"),
    ]
    manifest, skipped = genres.build_manifest(tracks, progress=False)
    assert set(manifest.clip_id) == MG_CLIPS
    assert manifest.groupby("label").size().to_dict() == {"hiphop": 3, "pop": 1, "rock": 2}
    _assert_skips(skipped, MG_SKIPS)
    assert manifest.set_index("clip_id").loc["music_genres/12/2", "source_sample_rate"] == 44_100
    _assert_clips_load(manifest)
    again, skipped_again = genres.build_manifest(tracks, progress=False, workers=2)
    pd.testing.assert_frame_equal(manifest, again)
    pd.testing.assert_frame_equal(skipped, skipped_again)  # reasons hold no object reprs
    only_rock = genres.music_genres_tracks(
        music_genres / "data" / "train-00000-of-00001.parquet", genres=["rock"]
    )
    assert [t.key for t in only_rock] == ["11", "13"]


def test_source_tracks_report_what_they_drop(gtzan, fma, music_genres):
    tracks, dropped = genres.source_tracks(
        "gtzan", gtzan, ["rock", "folk"], {"rock": "rock-n-roll"}
    )
    assert tracks == [] and dropped.empty  # mapped labels are filtered after mapping
    tracks, _ = genres.source_tracks("gtzan", gtzan, ["rock", "folk"])
    assert {t.label for t in tracks} == {"rock"} and len(tracks) == 6
    tracks, dropped = genres.source_tracks("fma", fma, ["hiphop", "rock"], fma_subset="small")
    assert [t.key for t in tracks] == ["000002", "000003", "000005", "000010", "000040", "000050"]
    assert _skips(dropped) == [("000020.mp3", "no top genre in tracks.csv")]
    tracks, dropped = genres.source_tracks("music_genres", music_genres)
    assert len(tracks) == 6 and list(dropped.columns) == genres.SKIPPED_COLUMNS
    assert _skips(dropped) == [
        ("train-00000-of-00001.parquet#row=4", "no genre"),
        (
            "train-00000-of-00001.parquet#row=5",
            "duplicate song_id 9 (first at test-00000-of-00001.parquet#row=0)",
        ),
    ]
    with pytest.raises(ValueError, match="unknown genre source"):
        genres.source_tracks("gtzan2", gtzan)


# --- combining ---------------------------------------------------------------------


@pytest.fixture()
def three_manifests(gtzan, fma, music_genres) -> list[pd.DataFrame]:
    sources = [
        genres.gtzan_tracks(gtzan),
        genres.fma_tracks(fma, "small"),
        genres.music_genres_tracks(music_genres),
    ]
    return [genres.build_manifest(tracks, progress=False)[0] for tracks in sources]


def test_combine_caps_per_class_deterministically(three_manifests):
    order = ["gtzan", "fma", "music_genres"]
    combined = genres.combine_manifests(three_manifests, 6, seed=0, sources_order=order)
    assert combined.groupby("label").size().to_dict() == {
        "hiphop": 6,
        "jazz": 4,
        "oldtimehistoric": 1,
        "pop": 1,
        "rock": 6,
    }
    assert combined.clip_id.is_unique
    assert list(dict.fromkeys(combined.dataset)) == [d for d in order if d in set(combined.dataset)]
    again = genres.combine_manifests(three_manifests[::-1], 6, seed=0, sources_order=order)
    pd.testing.assert_frame_equal(combined, again)
    other_seed = genres.combine_manifests(three_manifests, 6, seed=1, sources_order=order)
    assert set(other_seed.clip_id) != set(combined.clip_id)
    without_jazz = [m[m.label != "jazz"] for m in three_manifests]
    rock = lambda m: m[m.label == "rock"].clip_id.tolist()  # noqa: E731
    assert rock(genres.combine_manifests(without_jazz, 6, 0, order)) == rock(combined)


def test_combine_keeps_everything_without_a_cap_and_reports(three_manifests):
    combined = genres.combine_manifests(three_manifests, None, seed=0)
    assert set(combined.clip_id) == GTZAN_CLIPS | FMA_CLIPS | MG_CLIPS
    gtzan_rock = combined[combined.track.str.startswith("rock.")].clip_id.tolist()
    assert gtzan_rock[:3] == ["gtzan/rock.00000/0", "gtzan/rock.00000/1", "gtzan/rock.00000/2"]
    report = genres.class_report(combined, per_class=4)
    assert report.loc["rock"].to_dict() == {
        "fma": 1,
        "gtzan": 8,
        "music_genres": 2,
        "total": 11,
        "short": False,
    }
    assert report.index[report.short].tolist() == ["oldtimehistoric", "pop"]
    with pytest.raises(ValueError, match="repeat"):
        genres.combine_manifests([three_manifests[0], three_manifests[0]], 3, seed=0)


def test_natural_order_of_clip_ids():
    ids = ["music_genres/10/0", "music_genres/9/1", "music_genres/9/0"]
    manifest = pd.DataFrame({c: [0] * 3 for c in genres.MANIFEST_COLUMNS})
    manifest["clip_id"], manifest["dataset"], manifest["label"] = ids, "music_genres", "pop"
    out = genres.combine_manifests([manifest], None, seed=0)
    assert out.clip_id.tolist() == ["music_genres/9/0", "music_genres/9/1", "music_genres/10/0"]


def test_clip_offsets_whole_clips_only():
    assert genres.clip_offsets(30.0, 10.0) == [0.0, 10.0, 20.0]
    assert genres.clip_offsets(29.9, 10.0) == [0.0, 10.0]
    assert genres.clip_offsets(9.99, 10.0) == []
