"""Fetch against a real HTTP server on 127.0.0.1 serving generated files.

    $ pytest tests/test_fetch.py -q

``FileServer`` (also used by test_models_cli.py) serves bytes per path with a mode: ``ok`` (Range
honoured with 206), ``ignore_range`` (always 200 and the whole file), ``truncate`` (full
Content-Length announced, half the body sent, connection closed), ``corrupt`` (one byte flipped),
``oversize`` (extra bytes after the file). It records every request as (path, Range header).
"""

from __future__ import annotations

import hashlib
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from stream_colorize.errors import ModelError
from stream_colorize.models.fetch import MIRROR_ENV, MIRROR_ONLY_ENV, candidate_urls, fetch_file
from stream_colorize.models.registry import RemoteFile


class FileServer:
    """Serves ``files`` (path → bytes) on a random loopback port while in a ``with`` block."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = dict(files)
        self.modes: dict[str, str] = {}
        self.requests: list[tuple[str, str | None]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def base(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def url(self, path: str) -> str:
        """Full URL of a served path."""
        return f"{self.base}/{path}"

    def __enter__(self) -> FileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                path = self.path.lstrip("/")
                range_header = self.headers.get("Range")
                owner.requests.append((path, range_header))
                if path not in owner.files:
                    self.send_error(404)
                    return
                data = owner.files[path]
                mode = owner.modes.get(path, "ok")
                if mode == "corrupt":
                    data = data[:10] + bytes([data[10] ^ 0xFF]) + data[11:]
                elif mode == "oversize":
                    data = data + b"surprise" * 1000
                start = 0
                match = re.fullmatch(r"bytes=(\d+)-", range_header or "")
                if match and mode != "ignore_range":
                    start = int(match.group(1))
                if start >= len(data) and start:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = data[start:]
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                if mode == "truncate":
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up on a file it knew was wrong

        return Handler


def closed_port() -> int:
    """A loopback port nobody listens on (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_blob(size: int = 2_500_000, seed: int = 7) -> bytes:
    """Random bytes (bigger than one read chunk, so downloads take several reads)."""
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


def remote_for(data: bytes, name: str = "blob.bin", urls: tuple[str, ...] = ()) -> RemoteFile:
    """A registry file describing ``data``."""
    return RemoteFile(name, len(data), hashlib.sha256(data).hexdigest(), urls)


DATA = make_blob()
REMOTE = remote_for(DATA)


@pytest.fixture
def server():
    """A server with the blob at good/, bad/ and other/ (modes set per test)."""
    with FileServer({f"{d}/blob.bin": DATA for d in ("good", "bad", "other")}) as srv:
        yield srv


@pytest.fixture(autouse=True)
def _no_env_mirror(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    monkeypatch.delenv(MIRROR_ONLY_ENV, raising=False)


def test_good_download_lands_verified_and_is_not_fetched_twice(server: FileServer, tmp_path: Path) -> None:
    path = fetch_file(REMOTE, tmp_path / "m", urls=[server.url("good/blob.bin")], timeout=5)
    assert path == tmp_path / "m" / "blob.bin"
    assert path.read_bytes() == DATA
    assert not (tmp_path / "m" / "blob.bin.part").exists()
    assert server.requests == [("good/blob.bin", None)]
    fetch_file(REMOTE, tmp_path / "m", urls=[server.url("good/blob.bin")], timeout=5)
    assert len(server.requests) == 1  # intact file kept, no second request


def test_progress_callback_counts_every_byte(server: FileServer, tmp_path: Path) -> None:
    seen = []
    fetch_file(REMOTE, tmp_path, urls=[server.url("good/blob.bin")], progress=lambda n, r: seen.append((n, r)))
    assert seen[0] == (0, 0)
    assert sum(n for n, _ in seen) == len(DATA)


def test_corrupt_mirror_is_skipped_for_the_next_one(server: FileServer, tmp_path: Path) -> None:
    server.modes["bad/blob.bin"] = "corrupt"
    urls = [server.url("bad/blob.bin"), server.url("good/blob.bin")]
    path = fetch_file(REMOTE, tmp_path, urls=urls, timeout=5)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == REMOTE.sha256
    assert [p for p, _ in server.requests] == ["bad/blob.bin", "good/blob.bin"]
    assert server.requests[1][1] is None  # the corrupt .part was deleted, not resumed


def test_checksum_mismatch_everywhere_fails_clearly_and_leaves_nothing(server: FileServer, tmp_path: Path) -> None:
    server.modes["bad/blob.bin"] = "corrupt"
    corrupt = DATA[:10] + bytes([DATA[10] ^ 0xFF]) + DATA[11:]
    with pytest.raises(ModelError) as info:
        fetch_file(REMOTE, tmp_path, urls=[server.url("bad/blob.bin")], timeout=5)
    message = str(info.value)
    assert "\n" not in message
    assert "blob.bin" in message and "checksum mismatch" in message
    assert REMOTE.sha256 in message and hashlib.sha256(corrupt).hexdigest() in message
    assert list(tmp_path.iterdir()) == []


def test_interrupted_download_resumes_with_range(server: FileServer, tmp_path: Path) -> None:
    server.modes["good/blob.bin"] = "truncate"
    with pytest.raises(ModelError, match="interrupted.*run the same command again"):
        fetch_file(REMOTE, tmp_path, urls=[server.url("good/blob.bin")], timeout=5)
    part = tmp_path / "blob.bin.part"
    assert not (tmp_path / "blob.bin").exists()
    have = part.stat().st_size
    assert 0 < have < len(DATA)
    assert part.read_bytes() == DATA[:have]

    server.modes["good/blob.bin"] = "ok"
    path = fetch_file(REMOTE, tmp_path, urls=[server.url("good/blob.bin")], timeout=5)
    assert server.requests[-1] == ("good/blob.bin", f"bytes={have}-")
    assert path.read_bytes() == DATA
    assert not part.exists()


def test_interrupted_mirror_is_resumed_from_the_next_mirror(server: FileServer, tmp_path: Path) -> None:
    server.modes["bad/blob.bin"] = "truncate"
    path = fetch_file(REMOTE, tmp_path, urls=[server.url("bad/blob.bin"), server.url("good/blob.bin")], timeout=5)
    assert path.read_bytes() == DATA
    (_, first_range), (_, second_range) = server.requests
    assert first_range is None and re.fullmatch(r"bytes=\d+-", second_range)


def test_server_ignoring_range_restarts_from_zero(server: FileServer, tmp_path: Path) -> None:
    server.modes["good/blob.bin"] = "ignore_range"
    (tmp_path / "blob.bin.part").write_bytes(b"\0" * 1000)  # wrong bytes: appending would fail the checksum
    path = fetch_file(REMOTE, tmp_path, urls=[server.url("good/blob.bin")], timeout=5)
    assert server.requests == [("good/blob.bin", "bytes=1000-")]
    assert path.read_bytes() == DATA


def test_partial_file_beyond_the_server_end_starts_over(server: FileServer, tmp_path: Path) -> None:
    server.files["good/small.bin"] = DATA[:5000]
    (tmp_path / "small.bin.part").write_bytes(DATA[:5500])
    remote = remote_for(DATA[:6000], "small.bin")  # the mirror holds a shorter file than registered
    with pytest.raises(ModelError, match="no mirror has it .*file is 5000 bytes, expected 6000"):
        fetch_file(remote, tmp_path, urls=[server.url("good/small.bin")], timeout=5)
    # 416 for the resume, then a fresh request from byte 0, whose length gives the wrong file away
    assert server.requests == [("good/small.bin", "bytes=5500-"), ("good/small.bin", None)]
    assert list(tmp_path.iterdir()) == []


def test_oversized_answer_is_cut_off_and_discarded(server: FileServer, tmp_path: Path) -> None:
    server.modes["bad/blob.bin"] = "oversize"
    with pytest.raises(ModelError, match=f"file is {len(DATA) + 8000} bytes, expected {len(DATA)}"):
        fetch_file(REMOTE, tmp_path, urls=[server.url("bad/blob.bin")], timeout=5)
    assert list(tmp_path.iterdir()) == []


def test_missing_on_every_mirror(server: FileServer, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"no mirror has it .*HTTP 404.*tried 2 mirrors"):
        fetch_file(REMOTE, tmp_path, urls=[server.url("nope/blob.bin"), server.url("gone/blob.bin")], timeout=5)
    assert list(tmp_path.iterdir()) == []


def test_refused_connection_says_no_network(tmp_path: Path) -> None:
    urls = [f"http://127.0.0.1:{closed_port()}/blob.bin", f"http://127.0.0.1:{closed_port()}/x/blob.bin"]
    with pytest.raises(ModelError) as info:
        fetch_file(REMOTE, tmp_path / "zhang", urls=urls, timeout=5)
    message = str(info.value)
    assert "no network connection" in message and "connection refused" in message
    assert "tried 2 mirrors" in message and str(tmp_path / "zhang") in message
    assert not (tmp_path / "zhang" / "blob.bin").exists()


def test_silent_server_times_out(tmp_path: Path) -> None:
    with socket.socket() as sock:  # accepts connections (backlog) but never answers
        sock.bind(("127.0.0.1", 0))
        sock.listen(4)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/blob.bin"
        with pytest.raises(ModelError, match="timed out"):
            fetch_file(REMOTE, tmp_path, urls=[url], timeout=0.5)


def test_mirror_env_comes_first_and_mirror_only_drops_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    remote = remote_for(b"abc", "f.bin", ("https://example.invalid/f.bin",))
    monkeypatch.setenv(MIRROR_ENV, "http://m1/base/, http://m2")
    assert candidate_urls(remote) == ["http://m1/base/f.bin", "http://m2/f.bin", "https://example.invalid/f.bin"]
    monkeypatch.setenv(MIRROR_ONLY_ENV, "1")
    assert candidate_urls(remote) == ["http://m1/base/f.bin", "http://m2/f.bin"]


def test_env_mirror_is_used_before_a_dead_registry_url(
    server: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    remote = remote_for(DATA, "blob.bin", (f"http://127.0.0.1:{closed_port()}/blob.bin",))
    monkeypatch.setenv(MIRROR_ENV, server.base + "/other")
    assert fetch_file(remote, tmp_path, timeout=5).read_bytes() == DATA
    assert server.requests == [("other/blob.bin", None)]


def test_a_stale_wrong_file_under_the_final_name_is_replaced(server: FileServer, tmp_path: Path) -> None:
    (tmp_path / "blob.bin").write_bytes(b"old and wrong")
    path = fetch_file(REMOTE, tmp_path, urls=[server.url("good/blob.bin")], timeout=5)
    assert path.read_bytes() == DATA


def test_file_url_mirror_for_offline_copies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stick = tmp_path / "stick"
    stick.mkdir()
    (stick / "blob.bin").write_bytes(DATA)
    monkeypatch.setenv(MIRROR_ENV, stick.as_uri())
    monkeypatch.setenv(MIRROR_ONLY_ENV, "1")
    assert fetch_file(REMOTE, tmp_path / "cache", timeout=5).read_bytes() == DATA
    monkeypatch.setenv(MIRROR_ENV, (tmp_path / "empty").as_uri())
    with pytest.raises(ModelError, match="no mirror has it.*file not found"):
        fetch_file(remote_for(b"x", "other.bin"), tmp_path / "cache", timeout=5)
