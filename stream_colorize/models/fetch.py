"""Download one registered file: mirrors in turn, resume with HTTP Range, verify, then rename.

    >>> from stream_colorize.models.registry import PTS_IN_HULL
    >>> path = fetch_file(PTS_IN_HULL, Path("~/.cache/stream_colorize/zhang2016").expanduser())
    >>> path.name                                  # only ever appears once size and SHA-256 match
    'pts_in_hull.npy'

Bytes go to ``<file>.part``; an interrupted download leaves it there and the next call resumes it
(``Range: bytes=N-``; a server that answers 200 instead of 206 gets a fresh start). Size and
SHA-256 are checked before ``os.replace`` gives the file its final name, so a half or wrong file
never sits under that name. ``$STREAM_COLORIZE_MIRROR`` (base URLs, comma or space separated) is
tried before the registered URLs, each as ``base + "/" + file name``; with
``$STREAM_COLORIZE_MIRROR_ONLY=1`` the registered URLs are not tried at all (air-gapped sites, tests).
Only ``urllib`` is used: no extra dependency.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

from ..errors import ModelError
from .registry import RemoteFile

CHUNK = 1 << 20
DEFAULT_TIMEOUT = 30.0  # seconds, for the connection and for each read
USER_AGENT = "stream-colorize/0.1 (+urllib)"
MIRROR_ENV = "STREAM_COLORIZE_MIRROR"
MIRROR_ONLY_ENV = "STREAM_COLORIZE_MIRROR_ONLY"

# progress(advance, reset_to): advance the bar by ``advance`` bytes; when ``reset_to`` is not None,
# first set it to that many bytes done (0 on a fresh start, N when resuming a partial file).
ProgressFn = Callable[[int, "int | None"], None]


class _Failure(Exception):
    """Why one URL did not give the file; ``kind`` decides the final message."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind  # "network", "http", "interrupted", "checksum", "size", "url"
        self.detail = detail


def candidate_urls(remote: RemoteFile) -> list[str]:
    """The URLs to try for ``remote``, in order: $STREAM_COLORIZE_MIRROR bases first."""
    bases = [b for b in re.split(r"[,\s]+", os.environ.get(MIRROR_ENV, "")) if b]
    urls = [f"{base.rstrip('/')}/{remote.name}" for base in bases]
    if os.environ.get(MIRROR_ONLY_ENV, "") not in ("1", "yes", "true"):
        urls += [u for u in remote.urls if u not in urls]
    return urls


def sha256_of(path: Path, hasher: hashlib._Hash | None = None) -> str:
    """Hex SHA-256 of a file, read in chunks (optionally continuing ``hasher``)."""
    hasher = hasher or hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(CHUNK):
            hasher.update(block)
    return hasher.hexdigest()


def _network_reason(exc: BaseException) -> str:
    """A short human reason for a connection-level failure."""
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, socket.gaierror):
        return "host name not found"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror.lower()
    return str(reason) or type(reason).__name__


def _open(url: str, start: int, timeout: float) -> http.client.HTTPResponse:
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if start:
        headers["Range"] = f"bytes={start}-"
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and start:
            raise _Failure("range", f"HTTP 416 for bytes {start}-") from exc
        raise _Failure("http", f"HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, FileNotFoundError):  # a file:// mirror without this file
            raise _Failure("http", "file not found") from exc
        raise _Failure("network", _network_reason(exc)) from exc
    except (TimeoutError, ConnectionError, http.client.HTTPException) as exc:
        raise _Failure("network", _network_reason(exc)) from exc
    except ValueError as exc:  # malformed URL, unknown scheme
        raise _Failure("url", str(exc)) from exc


def _range_start(response: http.client.HTTPResponse) -> int | None:
    """First byte a 206 answer carries (from Content-Range), None if it does not say."""
    match = re.match(r"\s*bytes\s+(\d+)-", response.headers.get("Content-Range", ""))
    return int(match.group(1)) if match else None


def _download_once(url: str, remote: RemoteFile, part: Path, timeout: float, progress: ProgressFn | None) -> None:
    """Bring ``part`` to the full, verified file from one URL, resuming what is already there."""
    have = part.stat().st_size if part.is_file() else 0
    if have > remote.size:
        part.unlink()
        have = 0
    hasher = hashlib.sha256()
    if have == remote.size:  # a previous run got every byte but stopped before the rename
        _check_digest(remote, part, sha256_of(part, hasher))
        return
    try:
        response = _open(url, have, timeout)
    except _Failure as failure:
        if failure.kind != "range":
            raise
        part.unlink(missing_ok=True)  # the server says our partial file is beyond its end: start over
        have = 0
        response = _open(url, 0, timeout)
    with response:
        status = getattr(response, "status", 200)
        if have and (status != 206 or _range_start(response) not in (None, have)):
            have = 0  # Range ignored (200) or answered from elsewhere: take the body from byte 0
        announced = response.headers.get("Content-Length", "")
        if announced.isdigit() and have + int(announced) != remote.size:
            part.unlink(missing_ok=True)  # a different file (an HTML error page, another version)
            raise _Failure("size", f"the mirror's file is {have + int(announced)} bytes, expected {remote.size}")
        if have:
            sha256_of(part, hasher)
        if progress:
            progress(0, have)
        written = have
        try:
            with open(part, "ab" if have else "wb") as out:
                while block := response.read(CHUNK):
                    written += len(block)
                    if written > remote.size:
                        raise _Failure("size", f"server sent more than the expected {remote.size} bytes")
                    out.write(block)
                    hasher.update(block)
                    if progress:
                        progress(len(block), None)
        except _Failure:
            part.unlink(missing_ok=True)
            raise
        except (TimeoutError, ConnectionError, http.client.HTTPException, urllib.error.URLError) as exc:
            raise _Failure("interrupted", f"{_network_reason(exc)} after {written} of {remote.size} bytes") from exc
    if written < remote.size:
        raise _Failure("interrupted", f"connection closed after {written} of {remote.size} bytes")
    _check_digest(remote, part, hasher.hexdigest())


def _check_digest(remote: RemoteFile, part: Path, got: str) -> None:
    if got != remote.sha256:
        part.unlink(missing_ok=True)
        raise _Failure("checksum", f"expected sha256 {remote.sha256}, got {got}")


def fetch_file(
    remote: RemoteFile,
    folder: Path,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    progress: ProgressFn | None = None,
    urls: list[str] | None = None,
) -> Path:
    """Download ``remote`` into ``folder`` (verified) and return its path; ModelError if no URL gives it.

    A file already there with the right size and SHA-256 is kept as it is. ``urls`` overrides
    :func:`candidate_urls`. ``progress(advance, reset_to)`` is called as bytes arrive.
    """
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / remote.name
    if final.is_file() and final.stat().st_size == remote.size and sha256_of(final) == remote.sha256:
        return final
    part = folder / f"{remote.name}.part"
    tried = urls if urls is not None else candidate_urls(remote)
    if not tried:
        raise ModelError(f"cannot download {remote.name}: no URL to try (unset {MIRROR_ONLY_ENV} or set {MIRROR_ENV})")
    failures: list[tuple[str, _Failure]] = []
    for url in tried:
        try:
            _download_once(url, remote, part, timeout, progress)
        except _Failure as failure:
            failures.append((url, failure))
            continue
        os.replace(part, final)
        return final
    raise ModelError(_failure_message(remote, folder, part, failures))


def _failure_message(remote: RemoteFile, folder: Path, part: Path, failures: list[tuple[str, _Failure]]) -> str:
    """One line saying why none of the URLs worked and what to do."""
    kinds = {f.kind for _, f in failures}
    n = len(failures)
    mirrors = f"tried {n} mirror{'s' if n != 1 else ''}"
    last_url, last = failures[-1]
    host = urllib.parse.urlsplit(last_url).netloc or last_url
    if "checksum" in kinds:
        detail = next(f.detail for _, f in failures if f.kind == "checksum")
        return (
            f"{remote.name}: checksum mismatch, the download is not the registered file ({detail}; {mirrors}); "
            f"set {MIRROR_ENV} to a trustworthy copy"
        )
    if "interrupted" in kinds and part.is_file():
        detail = next(f.detail for _, f in failures if f.kind == "interrupted")
        return (
            f"cannot download {remote.name}: interrupted ({detail}; {mirrors}); "
            f"run the same command again to resume from {part.stat().st_size} bytes"
        )
    if kinds <= {"network"}:
        return (
            f"cannot download {remote.name}: no network connection ({host}: {last.detail}; {mirrors}); "
            f"copy the files into {folder}/ or set {MIRROR_ENV} to a reachable mirror"
        )
    return (
        f"cannot download {remote.name}: no mirror has it ({host}: {last.detail}; {mirrors}); "
        f"copy the file into {folder}/ or set {MIRROR_ENV} to a mirror that has it"
    )
