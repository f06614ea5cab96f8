"""Genre sources (GTZAN, FMA, music_genres), bad input, combining, and downloads."""

from __future__ import annotations

import csv
import hashlib
import io
import socket
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from musicsteer import audio, data, download

SR = 22_050
PROXY_VARS = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")


def _tone(seconds: float, freq: float = 220.0, sr: int = SR, channels: int = 1) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    wave = (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.stack([wave, np.roll(wave, 7)], axis=1) if channels == 2 else wave


def _mp3_bytes(wave: np.ndarray, sr: int = SR) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, wave, sr, format="MP3")
    return buf.getvalue()


def _wav_bytes(wave: np.ndarray, sr: int = SR) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, wave, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _write(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


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


# --- GTZAN -------------------------------------------------------------------------


@pytest.fixture()
def gtzan(tmp_path: Path) -> Path:
    """GTZAN layout with every kind of bad file next to good ones."""
    root = tmp_path / "gtzan" / "genres_original"
    rock, jazz = root / "rock", root / "jazz"
    audio.write_wav(rock / "rock.00000.wav", _tone(30.0), SR)
    audio.write_wav(rock / "rock.00001.wav", _tone(29.9, 330.0), SR)
    audio.write_wav(rock / "rock.00002.wav", _tone(5.0), SR)
    _write(rock / "rock.00003.wav", b"")
    _write(rock / "rock.00004.mp3", _mp3_bytes(_tone(20.0, 440.0)))
    full = _wav_bytes(_tone(30.0, 550.0))
    _write(rock / "rock.00005.wav", full[: len(full) // 2])  # truncated: ~15 s of data
    _write(jazz / "jazz.00054.wav", b"RIFF\x00\x00\x00\x00WAVEjunk")  # GTZAN's real corrupt file
    audio.write_wav(jazz / "jazz.00000.wav", np.zeros(SR * 12, np.float32), SR)
    sf.write(jazz / "jazz.00001.wav", _tone(20.0, 330.0, 44_100, channels=2), 44_100)
    gap = np.concatenate([_tone(10.0), np.zeros(SR * 10, np.float32), _tone(5.0)])
    audio.write_wav(jazz / "jazz.00002.wav", gap, SR)
    audio.write_wav(jazz / "jazz.00003.wav", _tone(11.0, 200.0, 8_000), 8_000)
    sf.write(jazz / "jazz.00004.wav", np.zeros((0, 1), np.float32), SR)  # header, no frames
    _write(jazz / "notes.txt", b"not audio")
    return tmp_path / "gtzan"


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
    tracks = data.gtzan_tracks(gtzan)
    assert len(tracks) == 12  # notes.txt is not audio
    manifest, skipped = data.build_manifest(tracks, progress=False)
    assert set(manifest.clip_id) == GTZAN_CLIPS and manifest.clip_id.is_unique
    assert manifest.groupby("label").size().to_dict() == {"jazz": 4, "rock": 8}
    assert list(skipped.columns) == data.SKIPPED_COLUMNS
    assert set(skipped.dataset) == {"gtzan"}
    _assert_skips(skipped, GTZAN_SKIPS)
    rates = manifest.drop_duplicates("track").set_index("track").source_sample_rate
    assert rates["jazz.00001"] == 44_100 and rates["jazz.00003"] == 8_000
    _assert_clips_load(manifest)


def test_mp3_windows_match_a_full_decode(gtzan):
    """Seeking into an MP3 garbles the first frames (bit reservoir); the preroll fixes it."""
    path = gtzan / "genres_original" / "rock" / "rock.00004.mp3"
    full, sr = sf.read(path, dtype="float32")
    window = audio.load(path, None, 10.0, 10.0)
    np.testing.assert_allclose(window, full[10 * sr : 20 * sr], atol=1e-5)


def test_gtzan_runs_are_deterministic_and_threads_change_nothing(gtzan):
    tracks = data.gtzan_tracks(gtzan)
    a, skip_a = data.build_manifest(tracks, progress=False, max_clips_per_label=3, seed=4)
    b, skip_b = data.build_manifest(tracks, progress=False, max_clips_per_label=3, seed=4)
    c, skip_c = data.build_manifest(
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
    small = data.fma_tracks(fma, "small")
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
    medium = {t.key: t for t in data.fma_tracks(fma, "medium")}
    assert "001030" in medium and "140000" not in medium
    assert medium["001030"].path == fma / "fma_medium" / "001" / "001030.mp3"
    assert medium["001030"].label == "folk"
    large = data.fma_tracks(fma, "large", genres=["pop"])
    assert [(t.key, t.path.parent.name) for t in large] == [("000026", "000"), ("140000", "140")]
    mapped = data.fma_tracks(
        fma, "small", ["hiphop", "oldtime"], {"Old-Time / Historic": "oldtime"}
    )
    assert [(t.key, t.label) for t in mapped] == [
        ("000002", "hiphop"),
        ("000003", "hiphop"),
        ("000060", "oldtime"),
    ]
    with pytest.raises(ValueError, match="subset"):
        data.fma_tracks(fma, "tiny")
    with pytest.raises(FileNotFoundError, match="tracks.csv"):
        data.fma_tracks(fma / "fma_small")


def test_fma_exact_clips_and_skips(fma):
    manifest, skipped = data.build_manifest(data.fma_tracks(fma, "small"), progress=False)
    assert set(manifest.clip_id) == FMA_CLIPS
    assert manifest.groupby("label").size().to_dict() == {
        "hiphop": 5,
        "oldtimehistoric": 1,
        "rock": 1,
    }
    _assert_skips(skipped, FMA_SKIPS)
    assert skipped.set_index("reason").loc["missing file", "label"] == "pop"
    _assert_clips_load(manifest)
    again, skipped_again = data.build_manifest(data.fma_tracks(fma, "small"), progress=False)
    pd.testing.assert_frame_equal(manifest, again)
    pd.testing.assert_frame_equal(skipped, skipped_again)


def test_one_failing_file_never_stops_the_corpus(fma, monkeypatch):
    real = audio.read_window

    def flaky(sound, *args, **kwargs):
        if sound.name.endswith("000003.mp3"):
            raise MemoryError("decoder blew up")
        return real(sound, *args, **kwargs)

    monkeypatch.setattr(audio, "read_window", flaky)
    manifest, skipped = data.build_manifest(data.fma_tracks(fma, "small"), progress=False)
    assert set(manifest.clip_id) == FMA_CLIPS - {"fma/000003/0", "fma/000003/1"}
    assert [r for n, r in _skips(skipped) if n == "000003.mp3"] == [
        "clip 0 at 0s: error: MemoryError: decoder blew up",
        "clip 1 at 10s: error: MemoryError: decoder blew up",
    ]
    monkeypatch.setattr(audio, "info_of", lambda sound: 1 / 0)
    manifest, skipped = data.build_manifest(data.fma_tracks(fma, "small"), progress=False)
    assert manifest.empty
    assert ("000002.mp3", "error: ZeroDivisionError: division by zero") in _skips(skipped)


# --- lewtun/music_genres -----------------------------------------------------------


def _music_genres_table(rows: list[tuple]) -> pa.Table:
    audio_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    return pa.table(
        {
            "audio": pa.array(
                [{"bytes": b, "path": f"{sid}.x"} for b, sid, *_ in rows], audio_type
            ),
            "song_id": pa.array([sid for _, sid, *_ in rows], pa.int64()),
            "genre_id": pa.array([gid for *_, gid, _ in rows], pa.int64()),
            "genre": pa.array([g for *_, g in rows], pa.string()),
        }
    )


@pytest.fixture()
def music_genres(tmp_path: Path) -> Path:
    """Two Hub-shaped Parquet files (small row groups, so rows span several)."""
    root = tmp_path / "music_genres" / "data"
    root.mkdir(parents=True)
    test_rows = [
        (_wav_bytes(_tone(10.0, 300.0)), 9, 3, "Pop"),
        (_wav_bytes(np.zeros(SR * 10, np.float32)), 16, 1, "Rock"),
    ]
    train_rows = [
        (_wav_bytes(_tone(20.0)), 11, 1, "Rock"),
        (_mp3_bytes(_tone(30.0, 330.0, 44_100, 2), 44_100), 12, 2, "Hip-Hop"),
        (b"garbage bytes, not audio" * 10, 13, 1, "Rock"),
        (None, 14, 3, "Pop"),
        (_wav_bytes(_tone(10.0)), 15, 0, None),
        (_wav_bytes(_tone(10.0)), 9, 3, "Pop"),  # repeats song 9 of the test file
    ]
    pq.write_table(
        _music_genres_table(test_rows), root / "test-00000-of-00001.parquet", row_group_size=1
    )
    pq.write_table(
        _music_genres_table(train_rows), root / "train-00000-of-00001.parquet", row_group_size=2
    )
    return tmp_path / "music_genres"


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
    tracks = data.music_genres_tracks(music_genres)
    assert [(t.path.name[:5], t.row, t.key, t.label) for t in tracks] == [
        ("test-", 0, "9", "pop"),
        ("test-", 1, "16", "rock"),
        ("train", 0, "11", "rock"),
        ("train", 1, "12", "hiphop"),
        ("train", 2, "13", "rock"),
        ("train", 3, "14", "pop"),
    ]
    manifest, skipped = data.build_manifest(tracks, progress=False)
    assert set(manifest.clip_id) == MG_CLIPS
    assert manifest.groupby("label").size().to_dict() == {"hiphop": 3, "pop": 1, "rock": 2}
    _assert_skips(skipped, MG_SKIPS)
    assert manifest.set_index("clip_id").loc["music_genres/12/2", "source_sample_rate"] == 44_100
    _assert_clips_load(manifest)
    again, skipped_again = data.build_manifest(tracks, progress=False, workers=2)
    pd.testing.assert_frame_equal(manifest, again)
    pd.testing.assert_frame_equal(skipped, skipped_again)  # reasons hold no object reprs
    only_rock = data.music_genres_tracks(
        music_genres / "data" / "train-00000-of-00001.parquet", genres=["rock"]
    )
    assert [t.key for t in only_rock] == ["11", "13"]


def test_parquet_row_sources_read_the_right_row(music_genres):
    file = music_genres / "data" / "train-00000-of-00001.parquet"
    wave = audio.load(audio.parquet_row_source(file, 0))
    np.testing.assert_allclose(wave, _tone(20.0), atol=1e-4)
    assert audio.probe(f"{file}#row=1").channels == 2
    with pytest.raises(audio.AudioError, match="missing row"):
        audio.probe(f"{file}#row=6")


def test_source_tracks_report_what_they_drop(gtzan, fma, music_genres):
    tracks, dropped = data.source_tracks("gtzan", gtzan, ["rock", "folk"], {"rock": "rock-n-roll"})
    assert tracks == [] and dropped.empty  # mapped labels are filtered after mapping
    tracks, _ = data.source_tracks("gtzan", gtzan, ["rock", "folk"])
    assert {t.label for t in tracks} == {"rock"} and len(tracks) == 6
    tracks, dropped = data.source_tracks("fma", fma, ["hiphop", "rock"], fma_subset="small")
    assert [t.key for t in tracks] == ["000002", "000003", "000005", "000010", "000040", "000050"]
    assert _skips(dropped) == [("000020.mp3", "no top genre in tracks.csv")]
    tracks, dropped = data.source_tracks("music_genres", music_genres)
    assert len(tracks) == 6 and list(dropped.columns) == data.SKIPPED_COLUMNS
    assert _skips(dropped) == [
        ("train-00000-of-00001.parquet#row=4", "no genre"),
        (
            "train-00000-of-00001.parquet#row=5",
            "duplicate song_id 9 (first at test-00000-of-00001.parquet#row=0)",
        ),
    ]
    with pytest.raises(ValueError, match="unknown genre source"):
        data.source_tracks("gtzan2", gtzan)


# --- combining ---------------------------------------------------------------------


@pytest.fixture()
def three_manifests(gtzan, fma, music_genres) -> list[pd.DataFrame]:
    sources = [
        data.gtzan_tracks(gtzan),
        data.fma_tracks(fma, "small"),
        data.music_genres_tracks(music_genres),
    ]
    return [data.build_manifest(tracks, progress=False)[0] for tracks in sources]


def test_combine_caps_per_class_deterministically(three_manifests):
    order = ["gtzan", "fma", "music_genres"]
    combined = data.combine_manifests(three_manifests, 6, seed=0, sources_order=order)
    assert combined.groupby("label").size().to_dict() == {
        "hiphop": 6,
        "jazz": 4,
        "oldtimehistoric": 1,
        "pop": 1,
        "rock": 6,
    }
    assert combined.clip_id.is_unique
    assert list(dict.fromkeys(combined.dataset)) == [d for d in order if d in set(combined.dataset)]
    again = data.combine_manifests(three_manifests[::-1], 6, seed=0, sources_order=order)
    pd.testing.assert_frame_equal(combined, again)
    other_seed = data.combine_manifests(three_manifests, 6, seed=1, sources_order=order)
    assert set(other_seed.clip_id) != set(combined.clip_id)
    without_jazz = [m[m.label != "jazz"] for m in three_manifests]
    rock = lambda m: m[m.label == "rock"].clip_id.tolist()  # noqa: E731
    assert rock(data.combine_manifests(without_jazz, 6, 0, order)) == rock(combined)


def test_combine_keeps_everything_without_a_cap_and_reports(three_manifests):
    combined = data.combine_manifests(three_manifests, None, seed=0)
    assert set(combined.clip_id) == GTZAN_CLIPS | FMA_CLIPS | MG_CLIPS
    gtzan_rock = combined[combined.track.str.startswith("rock.")].clip_id.tolist()
    assert gtzan_rock[:3] == ["gtzan/rock.00000/0", "gtzan/rock.00000/1", "gtzan/rock.00000/2"]
    report = data.class_report(combined, per_class=4)
    assert report.loc["rock"].to_dict() == {
        "fma": 1,
        "gtzan": 8,
        "music_genres": 2,
        "total": 11,
        "short": False,
    }
    assert report.index[report.short].tolist() == ["oldtimehistoric", "pop"]
    with pytest.raises(ValueError, match="repeat"):
        data.combine_manifests([three_manifests[0], three_manifests[0]], 3, seed=0)


def test_natural_order_of_clip_ids():
    ids = ["music_genres/10/0", "music_genres/9/1", "music_genres/9/0"]
    manifest = pd.DataFrame({c: [0] * 3 for c in data.MANIFEST_COLUMNS})
    manifest["clip_id"], manifest["dataset"], manifest["label"] = ids, "music_genres", "pop"
    out = data.combine_manifests([manifest], None, seed=0)
    assert out.clip_id.tolist() == ["music_genres/9/0", "music_genres/9/1", "music_genres/10/0"]


# --- downloads ---------------------------------------------------------------------

PAYLOAD = np.random.default_rng(1).bytes(300_000)
PAYLOAD_SHA256 = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch):
    for var in PROXY_VARS:  # a proxy would route 127.0.0.1 traffic elsewhere
        monkeypatch.delenv(var, raising=False)


def test_fetch_file_url_records_checksum_and_resumes(tmp_path):
    src = tmp_path / "src" / "archive.bin"
    _write(src, PAYLOAD)
    dest = tmp_path / "dl" / "archive.bin"
    _write(dest.with_name("archive.bin.part"), PAYLOAD[:1000])  # an interrupted earlier run
    assert download.fetch(src.as_uri(), dest, PAYLOAD_SHA256, progress=False) == dest
    assert dest.read_bytes() == PAYLOAD
    assert dest.with_name("archive.bin.sha256").read_text() == f"{PAYLOAD_SHA256}  archive.bin\n"
    assert not dest.with_name("archive.bin.part").exists()
    src.unlink()  # a finished download is not fetched again
    assert download.fetch(src.as_uri(), dest, PAYLOAD_SHA256, progress=False) == dest


def test_fetch_checksum_mismatch_names_both_hashes(tmp_path):
    src = tmp_path / "archive.bin"
    _write(src, PAYLOAD)
    dest = tmp_path / "dl" / "archive.bin"
    wrong = "0" * 64
    with pytest.raises(download.DownloadError) as err:
        download.fetch(src.as_uri(), dest, wrong, progress=False)
    assert wrong in str(err.value) and PAYLOAD_SHA256 in str(err.value)
    assert not dest.exists() and not dest.with_name("archive.bin.part").exists()
    sha1 = hashlib.sha1(PAYLOAD).hexdigest()
    assert download.fetch(src.as_uri(), dest, sha1=sha1, progress=False).read_bytes() == PAYLOAD


class _RangeHandler(BaseHTTPRequestHandler):
    """Serves PAYLOAD; honours ``Range: bytes=N-`` unless ``ranges`` is False."""

    ranges = True
    seen: list = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        asked = self.headers.get("Range")
        self.seen.append(asked)
        start = int(asked.split("=")[1].split("-")[0]) if asked and self.ranges else 0
        if start >= len(PAYLOAD):
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(PAYLOAD)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = PAYLOAD[start:]
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(params=[True, False], ids=["ranges", "no-ranges"])
def http_server(request):
    handler = type("Handler", (_RangeHandler,), {"ranges": request.param, "seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/archive.bin", handler
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_fetch_http_resumes_a_partial_download(tmp_path, http_server):
    url, handler = http_server
    dest = tmp_path / "archive.bin"
    _write(dest.with_name("archive.bin.part"), PAYLOAD[:100_000])
    download.fetch(url, dest, PAYLOAD_SHA256, timeout=5, progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert handler.seen == ["bytes=100000-"]  # asked to resume; restarts if ignored


def test_fetch_http_complete_part_and_fresh_download(tmp_path, http_server):
    url, handler = http_server
    dest = tmp_path / "done.bin"
    _write(dest.with_name("done.bin.part"), PAYLOAD)  # finished but never renamed
    download.fetch(url, dest, PAYLOAD_SHA256, timeout=5, progress=False)
    fresh = download.fetch(url, tmp_path / "fresh.bin", timeout=5, progress=False)
    assert dest.read_bytes() == PAYLOAD == fresh.read_bytes()
    assert handler.seen[-1] is None  # no Range header without a part


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_offline_fetch_names_the_manual_steps(tmp_path):
    url = f"http://127.0.0.1:{_closed_port()}/fma_small.zip"
    dest = tmp_path / "downloads" / "fma_small.zip"
    hint = download.SOURCES["fma_small"]["layout"]
    with pytest.raises(download.DownloadError) as err:
        download.fetch(url, dest, sha1="ab" * 20, timeout=2, hint=hint, progress=False)
    message = str(err.value)
    assert "looks offline" in message
    for part in (url, f"curl -L -C - -o fma_small.zip '{url}'", str(dest), "sha1sum -c", hint):
        assert part in message, part


def test_music_genres_fetch_offline_and_done(tmp_path, monkeypatch):
    dest = tmp_path / "music_genres"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(download.DownloadError, match="HF_HUB_OFFLINE") as err:
        download.fetch_music_genres(dest)
    assert "hf download lewtun/music_genres --repo-type dataset" in str(err.value)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    unreachable = f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setattr(download, "_hub_endpoint", lambda: unreachable)
    with pytest.raises(download.DownloadError, match="cannot reach 127.0.0.1"):
        download.fetch_music_genres(dest, timeout=2)
    _write(dest / "data" / "train-0.parquet", b"PAR1")
    _write(dest / ".music_genres.complete", b"data/train-0.parquet\n")
    assert download.fetch_music_genres(dest) == [dest / "data" / "train-0.parquet"]


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    return path


def _tar(path: Path, members: list[tarfile.TarInfo]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for member in members:
            content = b"x" * member.size
            tf.addfile(member, io.BytesIO(content) if member.isfile() else None)
    return path


def _tar_member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.type, member.linkname = kind, link
    member.size = 3 if kind == tarfile.REGTYPE else 0
    return member


def test_extract_unpacks_once_and_refuses_escapes(tmp_path):
    into = tmp_path / "out"
    good = _zip(tmp_path / "good.zip", {"fma_small/000/000002.mp3": b"mp3"})
    assert download.extract(good, into) == into
    assert (into / "fma_small" / "000" / "000002.mp3").read_bytes() == b"mp3"
    assert (into / ".good.zip.extracted").is_file()
    bad_archives = [
        _zip(tmp_path / "up.zip", {"ok.txt": b"1", "../evil.txt": b"2"}),
        _zip(tmp_path / "abs.zip", {"/tmp/evil.txt": b"2"}),
        _tar(tmp_path / "up.tar.gz", [_tar_member("genres/../../evil.au")]),
        _tar(tmp_path / "link.tar.gz", [_tar_member("genres/x", tarfile.SYMTYPE, "../../etc")]),
    ]
    for archive in bad_archives:
        with pytest.raises(download.DownloadError, match="refusing"):
            download.extract(archive, tmp_path / "bad")
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "bad" / "ok.txt").exists()
    tar = _tar(tmp_path / "genres.tar.gz", [_tar_member("genres/rock/rock.00000.au")])
    download.extract(tar, into)
    assert (into / "genres" / "rock" / "rock.00000.au").read_bytes() == b"xxx"


def test_cli_fetches_and_extracts_a_known_source(tmp_path, monkeypatch):
    archive = _zip(tmp_path / "fma_metadata.zip", {"fma_metadata/tracks.csv": b"a,b\n"})
    spec = {
        "url": archive.as_uri(),
        "file": "fma_metadata.zip",
        "layout": "fma_metadata/",
        "sha256": hashlib.sha256(archive.read_bytes()).hexdigest(),
        "sha1": None,
    }
    monkeypatch.setitem(download.SOURCES, "fma_metadata", spec)
    root = tmp_path / "fma"
    assert download.main(["fma_metadata", str(root)]) == 0
    assert (root / "fma_metadata" / "tracks.csv").is_file()
    assert (root / "downloads" / "fma_metadata.zip.sha256").is_file()
    archive.unlink()  # extracted already: the rerun needs neither network nor archive
    (root / "downloads" / "fma_metadata.zip").unlink()
    assert download.main(["fma_metadata", str(root)]) == 0


def test_download_source_then_list_it(tmp_path, monkeypatch):
    """The original GTZAN tarball shape (genres/<genre>/*.au) downloads and lists."""
    tar = tmp_path / "genres.tar.gz"
    with tarfile.open(tar, "w:gz") as tf:
        for name in ("genres/blues/blues.00000.au", "genres/rock/rock.00000.au"):
            buf = io.BytesIO()
            sf.write(buf, _tone(30.0), SR, format="AU", subtype="PCM_16")
            member = tarfile.TarInfo(name)
            member.size = len(buf.getvalue())
            tf.addfile(member, io.BytesIO(buf.getvalue()))
    spec = {**download.SOURCES["gtzan"], "url": tar.as_uri(), "file": "genres.tar.gz"}
    monkeypatch.setitem(download.SOURCES, "gtzan", spec)
    dest = tmp_path / "resources" / "gtzan"
    record = download.download_source("gtzan", dest, progress=False)
    digest = hashlib.sha256(tar.read_bytes()).hexdigest()
    assert record["files"] == [
        {"path": str(dest / "downloads" / "genres.tar.gz"), "url": tar.as_uri(), "sha256": digest}
    ]
    tracks, _ = data.source_tracks("gtzan", dest, ["rock", "hiphop"])
    assert [(t.key, t.label) for t in tracks] == [("rock.00000", "rock")]
    manifest, skipped = data.build_manifest(tracks, progress=False)
    assert len(manifest) == 3 and skipped.empty
