from __future__ import annotations

import hashlib
import io
import socket
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from musicsteer.corpora import download, genres
from tests.corpora.sources import SR, _tone, _write

PROXY_VARS = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")


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
    tracks, _ = genres.source_tracks("gtzan", dest, ["rock", "hiphop"])
    assert [(t.key, t.label) for t in tracks] == [("rock.00000", "rock")]
    manifest, skipped = genres.build_manifest(tracks, progress=False)
    assert len(manifest) == 3 and skipped.empty
