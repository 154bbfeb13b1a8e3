"""The web view under test: a live session serving on loopback in a thread, and plain HTTP clients.

    >>> with serving(tiny_spec, max_viewers=2) as view:        # ServeOutput on 127.0.0.1:<free>
    ...     status, headers, body = get(view, "/api/status")
    ...     parts = mjpeg_parts(view, 2)                        # [(headers, jpeg bytes, received at)]

The clients are the standard library's (http.client, socket): what a browser or curl would send.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from stream_colorize.engine import Colorizer
from stream_colorize.io.devices import parse_source
from stream_colorize.io.live_outputs import Action, Control, LiveStatus, Shown
from stream_colorize.live import LiveOptions, run_live
from stream_colorize.live_stats import LiveStats
from stream_colorize.models.spec import ModelSpec
from stream_colorize.serve.address import Listen
from stream_colorize.serve.output import ServeOutput

GRAY_SOURCE = "lavfi:testsrc2=size=320x240:rate=30,format=gray"


class Quitter:
    """A LiveOutput that sends QUIT once ``event`` is set, and keeps the last status."""

    poll_s = 0.05

    def __init__(self) -> None:
        self.event = threading.Event()
        self.status: LiveStatus | None = None

    def show(self, shown: Shown | None, status: LiveStatus) -> None:
        self.status = status

    def events(self) -> list[Control]:
        return [Control(Action.QUIT)] if self.event.is_set() else []

    def close(self, ok: bool) -> None:
        pass


class Session:
    """A running session: the web view, the quitter, the engine and, once over, its stats."""

    def __init__(self, view: ServeOutput, quitter: Quitter, engine: Colorizer) -> None:
        self.view, self.quitter, self.engine = view, quitter, engine
        self.stats: LiveStats | None = None
        self.error: BaseException | None = None

    @property
    def port(self) -> int:
        return self.view.server.port

    def shown(self) -> int:
        """Frames shown so far (0 before the first turn)."""
        return self.quitter.status.shown if self.quitter.status is not None else 0

    def wait_model(self, timeout: float = 20.0) -> None:
        """Until frames with the model's colour are shown (the first few are gray)."""
        deadline = time.monotonic() + timeout
        while self.quitter.status is None or self.quitter.status.model_s == 0:
            assert time.monotonic() < deadline, f"no model forward in {timeout} s"
            time.sleep(0.02)
        self.wait_shown(self.shown() + 2, timeout)

    def wait_shown(self, count: int, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while self.shown() < count:
            assert time.monotonic() < deadline, f"only {self.shown()} frames shown in {timeout} s"
            time.sleep(0.05)


@contextmanager
def serving(spec: ModelSpec, source: str = GRAY_SOURCE, host: str = "127.0.0.1", **view_args: Any) -> Iterator[Session]:
    """A live session with the web view on ``host``:<free port>, run in a thread; stopped on exit."""
    view = ServeOutput(Listen(host, 0), **view_args).start()
    quitter = Quitter()
    session = Session(view, quitter, Colorizer(spec, device="cpu"))

    def run() -> None:
        try:
            options = LiveOptions(headless=True, duration=120)
            session.stats = run_live(parse_source(source), session.engine, options, outputs=[view, quitter])
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            session.error = exc

    thread = threading.Thread(target=run, name="test-live")
    thread.start()
    try:
        session.wait_model()
        yield session
    finally:
        quitter.event.set()
        thread.join(20)
        view.close(False)
    assert not thread.is_alive(), "the live session did not stop"
    if session.error is not None:
        raise session.error


def connect(port: int, timeout: float = 10.0) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)


def get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """GET ``path``: (status, headers with lower-case names, body)."""
    conn = connect(port)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def post_json(port: int, path: str, body: object, headers: dict[str, str] | None = None,
              content_type: str = "application/json") -> tuple[int, dict]:  # fmt: skip
    """POST a JSON body: (status, the JSON answer)."""
    conn = connect(port)
    try:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        conn.request("POST", path, body=data, headers={"Content-Type": content_type, **(headers or {})})
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


def status_json(port: int, headers: dict[str, str] | None = None) -> dict:
    code, _, body = get(port, "/api/status", headers)
    assert code == 200, body
    return json.loads(body)


class MjpegReader:
    """A viewer of /stream.mjpg reading part after part."""

    def __init__(self, port: int, path: str = "/stream.mjpg", headers: dict[str, str] | None = None) -> None:
        self.conn = connect(port)
        self.conn.request("GET", path, headers=headers or {})
        self.response = self.conn.getresponse()
        self.status = self.response.status
        self.content_type = self.response.getheader("Content-Type", "")

    def part(self) -> tuple[dict[str, str], bytes, float]:
        """The next part: its headers, the JPEG, time.monotonic() when it had arrived."""
        response = self.response
        line = response.readline()
        while line.strip() != b"--frame":
            assert line, "the stream ended"
            line = response.readline()
        headers: dict[str, str] = {}
        while (line := response.readline().strip()) != b"":
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        data = response.read(int(headers["content-length"]))
        return headers, data, time.monotonic()

    def parts(self, count: int) -> list[tuple[dict[str, str], bytes, float]]:
        return [self.part() for _ in range(count)]

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> MjpegReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
