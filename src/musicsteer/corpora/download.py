"""Fetch the genre corpora: resumable, checksummed downloads and safe extraction.

Meant for a Snakemake ``localrules`` job on a login node: compute nodes never need
network. Offline, every entry point raises :class:`DownloadError` naming the manual
steps (which URL, where to put it, what the folder should look like) after a short
connect timeout instead of hanging.

``python -m musicsteer.download fma_small resources/fma`` fetches and unpacks a
known source (see :data:`SOURCES`); ``music_genres`` fetches the Hub Parquet files.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import shutil
import socket
import sys
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from musicsteer.corpora.genres import SOURCES as GENRE_SOURCES

log = logging.getLogger(__name__)


CHUNK = 1 << 20


CONNECT_TIMEOUT_S = 10.0


MUSIC_GENRES_REPO = "lewtun/music_genres"


# Public sources. FMA publishes SHA-1 sums (github.com/mdeff/fma README); nobody
# publishes a SHA-256 for these archives, so ``sha256`` stays None until recorded.
SOURCES: dict[str, dict] = {
    "gtzan": {
        "url": "https://huggingface.co/datasets/marsyas/gtzan/resolve/main/data/genres.tar.gz",
        "file": "genres.tar.gz",
        "sha256": None,
        "sha1": None,
        "layout": (
            "<root>/genres/<genre>/<genre>.000NN.wav (10 genres x 100 tracks, 22,050 Hz mono, "
            "~30 s; .au files in the historical tarball); data.gtzan is <root>, genres/ and "
            "genres_original/ are both found. The URL is the tarball mirrored in the Hub "
            "dataset marsyas/gtzan; the historical http://opihi.cs.uvic.ca/sound/genres.tar.gz "
            "is usually unreachable; the Kaggle copy "
            "(andradaolteanu/gtzan-dataset-music-genre-classification, login needed) unpacks "
            "to genres_original/. No checksum is published. jazz.00054.wav is corrupt in the "
            "WAV copies and is reported as skipped when clipping."
        ),
    },
    "fma_metadata": {
        "url": "https://os.unil.cloud.switch.ch/fma/fma_metadata.zip",
        "file": "fma_metadata.zip",
        "sha256": None,
        "sha1": "f0df49ffe5f2a6008d7dc83c6915b31835dfe733",
        "layout": "fma_metadata/tracks.csv (and genres.csv, ...) under <root> (~342 MiB zip)",
    },
    "fma_small": {
        "url": "https://os.unil.cloud.switch.ch/fma/fma_small.zip",
        "file": "fma_small.zip",
        "sha256": None,
        "sha1": "ade154f733639d52e35e32f5593efe5be76c6d70",
        "layout": "fma_small/NNN/NNNNNN.mp3 under <root> (8,000 tracks of 30 s, ~7.2 GiB zip)",
    },
    "fma_medium": {
        "url": "https://os.unil.cloud.switch.ch/fma/fma_medium.zip",
        "file": "fma_medium.zip",
        "sha256": None,
        "sha1": "c67b69ea232021025fca9231fc1c7c1a063ab50b",
        "layout": "fma_medium/NNN/NNNNNN.mp3 under <root> (25,000 tracks of 30 s, ~22 GiB zip)",
    },
    "fma_large": {
        "url": "https://os.unil.cloud.switch.ch/fma/fma_large.zip",
        "file": "fma_large.zip",
        "sha256": None,
        "sha1": "497109f4dd721066b5ce5e5f250ec604dc78939e",
        "layout": "fma_large/NNN/NNNNNN.mp3 under <root> (106,574 tracks of 30 s, ~93 GiB zip)",
    },
    "fma_full": {
        "url": "https://os.unil.cloud.switch.ch/fma/fma_full.zip",
        "file": "fma_full.zip",
        "sha256": None,
        "sha1": "0f0ace23fbe9ba30ecb7e95f763e435ea802b8ab",
        "layout": "fma_full/NNN/NNNNNN.mp3 under <root> (106,574 untrimmed tracks, ~879 GiB zip)",
    },
}


# What each pipeline source (config data.<name>) is made of.
class DownloadError(RuntimeError):
    """A download or extraction that failed, with what to do by hand in the message."""


def fetch(
    url: str,
    dest: str | Path,
    sha256: str | None = None,
    resume: bool = True,
    *,
    sha1: str | None = None,
    timeout: float = CONNECT_TIMEOUT_S,
    hint: str = "",
    progress: bool = True,
) -> Path:
    """Download ``url`` to ``dest``; return ``dest``.

    Streams into ``dest.part``, resuming it with an HTTP Range request when the server
    allows (``file://`` URLs resume too), checks ``sha256``/``sha1`` when given (a
    mismatch deletes the part and names both hashes), records the SHA-256 in
    ``dest.sha256`` and renames into place atomically. An existing ``dest`` whose
    recorded checksum matches is not fetched again.
    """
    dest = Path(dest)
    if dest.exists():
        return _verify_existing(dest, sha256, sha1)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = _part_path(dest)
    if part.exists() and not resume:
        part.unlink()
    try:
        _download(url, part, timeout, progress)
    except (urllib.error.URLError, OSError) as err:  # socket.timeout is an OSError
        raise DownloadError(_manual_steps(url, dest, err, sha256, sha1, hint)) from err
    digests = _hash_file(part)
    _check_digests(part, digests, sha256, sha1)
    os.replace(part, dest)
    _record_sha256(dest, digests["sha256"])
    return dest


def _part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def _checksum_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".sha256")


def _verify_existing(dest: Path, sha256: str | None, sha1: str | None) -> Path:
    """Trust the recorded SHA-256 of a finished download; hash it only when unrecorded."""
    record = _checksum_path(dest)
    recorded = record.read_text().split()[0] if record.is_file() else None
    if recorded:  # sha1 was checked when the record was written
        digests = {"sha256": recorded}
    else:
        digests = _hash_file(dest)
        _record_sha256(dest, digests["sha256"])
    _check_digests(dest, digests, sha256, sha1, delete=False)
    return dest


def _download(url: str, part: Path, timeout: float, progress: bool) -> None:
    scheme = urllib.parse.urlparse(url).scheme
    if scheme == "file":
        _copy_local(url, part)
    elif scheme in ("http", "https"):
        _stream_http(url, part, timeout, progress)
    else:
        raise DownloadError(f"unsupported URL scheme {scheme!r}: {url}")


def _copy_local(url: str, part: Path) -> None:
    """``file://`` download: append the bytes after what ``part`` already holds."""
    path = Path(urllib.request.url2pathname(urllib.parse.urlparse(url).path))
    start = part.stat().st_size if part.exists() else 0
    with path.open("rb") as src, part.open("ab") as out:
        if start > path.stat().st_size:
            out.truncate(0)  # a part longer than the file is not a prefix of it
            start = 0
        src.seek(start)
        shutil.copyfileobj(src, out, CHUNK)


def _stream_http(url: str, part: Path, timeout: float, progress: bool) -> None:
    start = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "musicsteer"})
    if start:
        request.add_header("Range", f"bytes={start}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and start and _range_total(err.headers) == start:
            return  # the part is already the whole file
        if err.code == 416:
            part.unlink()
            return _stream_http(url, part, timeout, progress)
        raise
    with response:
        if start and response.status != 206:
            log.info("%s: server ignored the Range request; downloading from the start", url)
            start = 0
        elif start and _range_start(response.headers) != start:
            part.unlink()  # appending another range would corrupt the file
            raise OSError(
                f"server sent {response.headers.get('Content-Range')!r} for bytes={start}-"
            )
        total = _expected_total(response.headers, start)
        _write_body(response, part, start, total, progress)
    if total is not None and part.stat().st_size != total:
        raise OSError(f"connection closed at {part.stat().st_size} of {total} bytes")


def _range_start(headers) -> int | None:
    value = headers.get("Content-Range", "")  # "bytes 100-199/200"
    try:
        return int(value.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return None


def _range_total(headers) -> int | None:
    value = headers.get("Content-Range", "")  # "bytes */200" on a 416
    try:
        return int(value.rsplit("/", 1)[1])
    except (IndexError, ValueError):
        return None


def _expected_total(headers, start: int) -> int | None:
    length = headers.get("Content-Length")
    return start + int(length) if length and length.isdigit() else None


def _write_body(
    response: BinaryIO, part: Path, start: int, total: int | None, progress: bool
) -> None:
    from tqdm import tqdm

    bar = tqdm(
        total=total,
        initial=start,
        unit="B",
        unit_scale=True,
        desc=part.name,
        file=sys.stderr,
        disable=not progress,
    )
    with part.open("ab" if start else "wb") as out, bar:
        for chunk in iter(lambda: response.read(CHUNK), b""):
            out.write(chunk)
            bar.update(len(chunk))


def _hash_file(path: Path) -> dict[str, str]:
    hashes = {"sha256": hashlib.sha256(), "sha1": hashlib.sha1()}
    with path.open("rb") as src:
        for chunk in iter(lambda: src.read(CHUNK), b""):
            for h in hashes.values():
                h.update(chunk)
    return {name: h.hexdigest() for name, h in hashes.items()}


def _check_digests(
    path: Path, digests: dict[str, str], sha256: str | None, sha1: str | None, delete: bool = True
) -> None:
    for name, expected in (("sha256", sha256), ("sha1", sha1)):
        if expected and digests[name] != expected.lower():
            if delete:
                path.unlink(missing_ok=True)
            action = "deleted it; rerun to download again" if delete else "delete it and rerun"
            raise DownloadError(
                f"{name} mismatch for {path}: expected {expected.lower()}, got {digests[name]} "
                f"({action})"
            )


def _record_sha256(dest: Path, digest: str) -> None:
    record = _checksum_path(dest)
    tmp = record.with_name(record.name + ".tmp")
    tmp.write_text(f"{digest}  {dest.name}\n")  # the sha256sum -c format
    os.replace(tmp, record)


def _manual_steps(url, dest: Path, err, sha256, sha1, hint: str) -> str:
    """The error text for an unreachable URL: what to do by hand."""
    lines = [
        f"could not download {url}: {err}",
        f"{_failure_note(err)} To continue by hand:",
        f"  1. on a machine with network: curl -L -C - -o {dest.name} '{url}'",
        f"  2. copy the file to {dest} (a partial {_part_path(dest).name} there is resumed "
        "on the next run)",
    ]
    if sha256:
        lines.append(f"  3. check it: echo '{sha256}  {dest.name}' | sha256sum -c -")
    elif sha1:
        lines.append(f"  3. check it: echo '{sha1}  {dest.name}' | sha1sum -c -")
    if hint:
        lines.append(f"Expected layout once extracted: {hint}")
    return "\n".join(lines)


def _failure_note(err: Exception) -> str:
    if isinstance(err, urllib.error.HTTPError):
        return f"The server answered HTTP {err.code}: the file may have moved."
    if isinstance(err, urllib.error.URLError | TimeoutError | ConnectionError):
        return "This machine looks offline or the server is unreachable."
    return "The download failed part-way (rerunning resumes it)."


def extract(archive: str | Path, into: str | Path) -> Path:
    """Unpack a ``.zip`` or ``.tar(.gz)`` into ``into``; return ``into``.

    Every member is checked first: absolute paths, ``..`` and links leading outside
    ``into`` are refused (nothing is written). A marker file records a finished
    extraction so a rerun skips it; an interrupted one is simply redone.
    """
    archive, into = Path(archive), Path(into)
    marker = into / f".{archive.name}.extracted"
    if marker.is_file():
        return into
    into.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        _extract_zip(archive, into)
    elif tarfile.is_tarfile(archive):
        _extract_tar(archive, into)
    else:
        raise DownloadError(f"not a zip or tar archive: {archive}")
    marker.write_text(f"{archive.name}\n")
    return into


def _check_member(name: str, into: Path) -> None:
    path = PurePosixPath(name.replace("\\", "/"))
    target = (into / path).resolve()
    if path.is_absolute() or ".." in path.parts or not target.is_relative_to(into.resolve()):
        raise DownloadError(f"refusing archive member {name!r}: it escapes {into}")


def _extract_zip(archive: Path, into: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        for name in zf.namelist():
            _check_member(name, into)
        zf.extractall(into)


def _extract_tar(archive: Path, into: Path) -> None:
    with tarfile.open(archive) as tf:
        members = tf.getmembers()
        for member in members:
            _check_tar_member(member, into)
        if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4: a second line of defence
            tf.extractall(into, members=members, filter="data")
        else:
            tf.extractall(into, members=members)


def _check_tar_member(member: tarfile.TarInfo, into: Path) -> None:
    _check_member(member.name, into)
    if member.issym():
        _check_member(str(PurePosixPath(member.name).parent / member.linkname), into)
    elif member.islnk():
        _check_member(member.linkname, into)
    elif not (member.isfile() or member.isdir()):
        raise DownloadError(f"refusing archive member {member.name!r}: not a file or folder")


def fetch_source(name: str, root: str | Path, progress: bool = True) -> Path:
    """Download and unpack a known source (:data:`SOURCES`) under ``root``; return ``root``.

    The archive is kept in ``root/downloads`` (so an interrupted run resumes) with its
    ``.sha256`` record next to it.
    """
    if name not in SOURCES:
        raise KeyError(f"unknown source {name!r}; known: {sorted(SOURCES)}")
    spec, root = SOURCES[name], Path(root)
    if (root / f".{spec['file']}.extracted").is_file():
        return root  # done before; the archive itself may have been deleted since
    archive = fetch(
        spec["url"],
        root / "downloads" / spec["file"],
        spec["sha256"],
        sha1=spec["sha1"],
        hint=spec["layout"],
        progress=progress,
    )
    return extract(archive, root)


def download_source(
    source: str, dest: str | Path, fma_subset: str = "medium", progress: bool = True
) -> dict:
    """Fetch one pipeline source (``gtzan``, ``fma``, ``music_genres``) into ``dest``.

    Returns a JSON-able record of what is there: each archive or Parquet file with
    its URL or repo and SHA-256 (FMA's published SHA-1 is checked on download).
    """
    dest = Path(dest)
    if source not in GENRE_SOURCES:
        raise KeyError(f"unknown source {source!r}; known: {list(GENRE_SOURCES)}")
    if not GENRE_SOURCES[source].archives:  # Parquet files from the Hub
        files = fetch_music_genres(dest)
        return {
            "source": source,
            "dest": str(dest),
            "repo": MUSIC_GENRES_REPO,
            "files": [_file_record(f, None) for f in files],
        }
    names = [name.format(subset=fma_subset) for name in GENRE_SOURCES[source].archives]
    for name in names:
        fetch_source(name, dest, progress=progress)
    archives = [dest / "downloads" / SOURCES[name]["file"] for name in names]
    return {
        "source": source,
        "dest": str(dest),
        "files": [_file_record(a, SOURCES[n]["url"]) for a, n in zip(archives, names, strict=True)],
    }


def _file_record(path: Path, url: str | None) -> dict:
    """Path, URL and SHA-256 of a fetched file (from its record; hashed when unrecorded)."""
    record = _checksum_path(path)
    if record.is_file():
        digest = record.read_text().split()[0]
    elif path.is_file():
        digest = _hash_file(path)["sha256"]
        _record_sha256(path, digest)
    else:  # an archive deleted after extraction, with its record
        digest = None
    return {"path": str(path), "url": url, "sha256": digest}


def fetch_music_genres(dest: str | Path, timeout: float = CONNECT_TIMEOUT_S) -> list[Path]:
    """Download the Parquet files of ``lewtun/music_genres`` into ``dest``; return them.

    A finished download (marker file present) is returned without touching the
    network. Offline (``HF_HUB_OFFLINE=1`` or the Hub unreachable within ``timeout``)
    raises :class:`DownloadError` with the manual steps.
    """
    dest = Path(dest)
    marker = dest / ".music_genres.complete"
    if marker.is_file():
        return sorted(dest.rglob("*.parquet"))
    if _hub_offline():
        raise DownloadError(_music_genres_steps(dest, "HF_HUB_OFFLINE is set"))
    _check_hub_reachable(dest, timeout)
    try:
        from huggingface_hub import snapshot_download

        snapshot_download(
            repo_id=MUSIC_GENRES_REPO,
            repo_type="dataset",
            allow_patterns="*.parquet",
            local_dir=dest,
        )
    except Exception as err:  # hub, HTTP and file errors all mean the same to the user
        raise DownloadError(_music_genres_steps(dest, f"{type(err).__name__}: {err}")) from err
    files = sorted(dest.rglob("*.parquet"))
    if not files:
        raise DownloadError(_music_genres_steps(dest, "the download holds no .parquet files"))
    marker.write_text("\n".join(str(f.relative_to(dest)) for f in files) + "\n")
    return files


def _hub_offline() -> bool:
    # Read the variable now: huggingface_hub freezes it when first imported.
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def _hub_endpoint() -> str:
    from huggingface_hub import constants

    return constants.ENDPOINT


def _check_hub_reachable(dest: Path, timeout: float) -> None:
    """Fail fast without network; behind a proxy leave the check to the Hub client."""
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return
    url = urllib.parse.urlparse(_hub_endpoint())
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname, port), timeout=timeout).close()
    except OSError as err:
        reason = f"cannot reach {url.hostname}:{port}: {err}"
        raise DownloadError(_music_genres_steps(dest, reason)) from err


def _music_genres_steps(dest: Path, reason: str) -> str:
    return "\n".join(
        [
            f"could not fetch the Hub dataset {MUSIC_GENRES_REPO}: {reason}",
            "To continue by hand, on a machine with network run:",
            f"  hf download {MUSIC_GENRES_REPO} --repo-type dataset --include '*.parquet' "
            f"--local-dir {dest.name}",
            f"then copy that folder to {dest} (the Parquet files, e.g. data/train-*.parquet, with "
            "columns audio{bytes,path}, song_id, genre_id, genre), and point "
            "the config at it; or run this step again where the Hub is reachable.",
        ]
    )


def _sources_help() -> Iterator[str]:
    for name, spec in SOURCES.items():
        yield f"  {name}: {spec['url']}\n      {spec['layout']}"
    yield f"  music_genres: Hub dataset {MUSIC_GENRES_REPO} (Parquet files)"


def main(argv: list[str] | None = None) -> int:
    """``python -m musicsteer.download NAME ROOT``: fetch one source into ROOT."""
    parser = argparse.ArgumentParser(
        description="Fetch a genre corpus.",
        epilog="sources:\n" + "\n".join(_sources_help()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("name", choices=[*SOURCES, "music_genres"])
    parser.add_argument("root", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        if args.name == "music_genres":
            fetch_music_genres(args.root)
        else:
            fetch_source(args.name, args.root)
    except DownloadError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
