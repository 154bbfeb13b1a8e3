"""The web view's HTTP server: aiohttp on a thread and event loop of its own.

    >>> server = WebServer(Listen("127.0.0.1", 8080), hub, counters, status=lambda: last, on_control=queue.append)
    >>> server.start()        # bound when it returns: UsageError for an address in use
    >>> server.stop()

Routes: ``/`` (the page), ``/stream.mjpg`` (multipart JPEG, newest frame per viewer),
``/snapshot.jpg``, ``/api/status`` (JSON), ``/api/control`` (POST JSON, see ``controls``) and
``/metrics`` (Prometheus) and ``/webrtc/offer`` (POST JSON offer -> answer, see ``webrtc``; 501 without
aiortc), and ``/hls/NAME`` (the playlist and segments of an ``--output NAME.m3u8``, see ``hls_files``).
With a token every route wants it, as ``Authorization: Bearer`` or
``?token=``; without one (loopback only) the Host header must name this machine, so a web page
elsewhere cannot reach the server through a DNS name that points at 127.0.0.1.  The access log
is off: a token in a query string never reaches a log.
"""

from __future__ import annotations

import asyncio
import errno
import hmac
import json
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from aiohttp import web

from ..errors import UsageError
from ..io.hls import HlsPlan
from ..io.live_outputs import Control, LiveStatus
from .address import Listen
from .channel import Channel
from .controls import MAX_BODY, BadControl, parse_control
from .hls_files import hls_response
from .hub import FrameHub
from .metrics import ServeCounters, prometheus_text, status_json
from .page import PAGE

log = logging.getLogger("stream_colorize")
# aiohttp's own records (a malformed request, a viewer gone mid-write) are the viewers' business: never
# on the session's terminal, where Python's last-resort handler would print them with the request line.
logging.getLogger("aiohttp").addHandler(logging.NullHandler())

WRITE_TIMEOUT = 10.0  # seconds a viewer may take to accept one frame before it is let go
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",  # the controls cannot be clicked through another site's frame
    "Referrer-Policy": "no-referrer",  # nor a token leak through a Referer
    "Cache-Control": "no-store",
}
CSP = "default-src 'self'; img-src 'self' blob:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _host_name(header: str) -> str:
    """The host part of a Host header (``[::1]:8080`` -> ``[::1]``, ``a.b:80`` -> ``a.b``)."""
    if header.startswith("["):
        return header[: header.find("]") + 1]
    return header.rpartition(":")[0] if ":" in header else header


class WebServer:
    """The aiohttp application, its runner and the loop thread they live on."""

    def __init__(
        self,
        listen: Listen,
        hub: FrameHub,
        counters: ServeCounters,
        status: Callable[[], LiveStatus | None],
        on_control: Callable[[Control], None],
        token: str | None = None,
        write_timeout: float = WRITE_TIMEOUT,
    ) -> None:
        self.listen = listen
        self.write_timeout = write_timeout
        self.hub = hub
        self.counters = counters
        self.status = status
        self.on_control = on_control
        self._token = token.encode() if token is not None else None
        self.port = listen.port  # the bound port (listen.port 0: the system's choice)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="serve-http", daemon=True)
        self._runner: web.AppRunner | None = None
        self.channel = Channel(hub, counters, self._loop)  # the MJPEG viewers (serve/channel.py)
        self._closing = False
        self.webrtc: Any = None  # webrtc.WebRtcPeers once started, when aiortc is installed
        self.hls: HlsPlan | None = None  # live --output NAME.m3u8: its folder, served under /hls/

    # -- life --------------------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> None:
        """Bind and serve; UsageError when the address cannot be had."""
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        try:
            future.result(timeout)
        except OSError as exc:
            self._stop_loop()
            where = f"{self.listen.host}:{self.listen.port}"
            if exc.errno == errno.EADDRINUSE:
                raise UsageError(f"cannot serve on {where}: the address is in use (pick another port)") from None
            if exc.errno in (errno.EADDRNOTAVAIL, errno.EACCES):
                raise UsageError(f"cannot serve on {where}: {exc.strerror}") from None
            raise UsageError(f"cannot serve on {where}: {exc.strerror or exc}") from None
        except BaseException:
            self._stop_loop()
            raise
        self._started()

    def _started(self) -> None:
        """Bound: start encoding frames for the viewers."""
        self.hub.start(self.channel.frame_ready)

    def _app(self) -> web.Application:
        """The application with its routes (``serve`` with several cameras builds its own)."""
        app = web.Application(middlewares=[self._guard], client_max_size=MAX_BODY)
        app.router.add_get("/", self._page)
        app.router.add_get("/stream.mjpg", self._stream)
        app.router.add_get("/snapshot.jpg", self._snapshot)
        app.router.add_get("/api/status", self._status)
        app.router.add_post("/api/control", self._control)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_post("/webrtc/offer", self._offer)
        app.router.add_get("/hls/{name}", self._hls)
        try:
            from .webrtc import WebRtcPeers
        except ImportError:  # the extra without aiortc: the page plays MJPEG
            pass
        else:
            self.webrtc = WebRtcPeers(self.hub, self.counters, self._admit, self.channel.leave)
            self.hub.on_put = self.webrtc.frame_shown
        return app

    async def _start(self) -> None:
        runner = web.AppRunner(self._app(), access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.listen.host, self.listen.port, reuse_address=True)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        if runner.addresses:
            self.port = int(runner.addresses[0][1])

    def stop(self) -> None:
        """Close every connection and stop the loop thread."""
        self._stopping()
        if not self._thread.is_alive():
            return
        self._closing = True
        if self.webrtc is not None:
            self._close_on_loop(self.webrtc.close_all(), "the WebRTC peers")
        if self._runner is not None:
            self._close_on_loop(self._runner.cleanup(), "the server")
        self._stop_loop()

    def _close_on_loop(self, closing: Coroutine[Any, Any, None], what: str) -> None:
        """Run ``closing`` on the server's loop, waiting up to 5 s; a failure is only logged."""
        future = asyncio.run_coroutine_threadsafe(closing, self._loop)
        try:
            future.result(5.0)
        except Exception as exc:  # noqa: BLE001 - closing: nothing left to save
            log.debug("web view: closing %s: %s", what, exc)

    def _stopping(self) -> None:
        """Stop encoding frames for the viewers."""
        self.hub.stop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5.0)
        if not self._thread.is_alive():
            self._loop.close()

    # -- access ------------------------------------------------------------------------------
    def _authorized(self, request: web.Request) -> bool:
        if self._token is None:
            return True
        given = ""
        header = request.headers.get("Authorization", "")
        if header[:7].lower() == "bearer ":
            given = header[7:].strip()
        elif "token" in request.query:
            given = request.query["token"]
        return hmac.compare_digest(given.encode(), self._token)

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self._token is None and _host_name(request.host).lower() not in LOCAL_HOSTS | {self.listen.host}:
            return _error(421, "this server answers to localhost only (start it with --token to serve a network)")
        if not self._authorized(request):
            self.counters.unauthorized += 1
            response = _error(401, "missing or wrong token: open the page as /?token=... or send Authorization: Bearer")
            response.headers["WWW-Authenticate"] = 'Bearer realm="stream-colorize"'
            return response
        answer = await handler(request)
        if not answer.prepared:
            answer.headers.update(SECURITY_HEADERS)
        return answer

    # -- routes ------------------------------------------------------------------------------
    async def _page(self, request: web.Request) -> web.StreamResponse:
        response = web.Response(text=PAGE, content_type="text/html")
        response.headers["Content-Security-Policy"] = CSP
        return response

    async def _status(self, request: web.Request) -> web.StreamResponse:
        body = status_json(self.status(), self.counters, list(self.hub.encode_s))
        body["hls"] = f"/hls/{self.hls.playlist.name}" if self.hls is not None else None
        return web.json_response(body)

    async def _hls(self, request: web.Request) -> web.StreamResponse:
        if self.hls is None:
            return _error(404, "no HLS here: start live with --output NAME.m3u8 beside --serve")
        token = request.query.get("token") if self._token is not None else None
        return await hls_response(self.hls, request.match_info["name"], token)

    async def _metrics(self, request: web.Request) -> web.StreamResponse:
        text = prometheus_text(self.status(), self.counters)
        return web.Response(text=text, content_type="text/plain", charset="utf-8",
                            headers={"X-Prometheus-Format": "0.0.4"})  # fmt: skip

    async def _snapshot(self, request: web.Request) -> web.StreamResponse:
        data = await asyncio.get_running_loop().run_in_executor(None, self.hub.snapshot)
        if data is None:
            return _error(503, "no frame yet")
        return web.Response(body=data, content_type="image/jpeg")

    async def _control(self, request: web.Request) -> web.StreamResponse:
        control = await read_control(request)
        if isinstance(control, web.Response):
            return control
        self.on_control(control)
        return web.json_response({"ok": True})

    def _admit(self) -> web.StreamResponse | None:
        """Count a WebRTC peer in as a viewer, or the 503 of the viewer cap (with our headers)."""
        return self.channel.admit(SECURITY_HEADERS)

    async def _offer(self, request: web.Request) -> web.StreamResponse:
        if self.webrtc is None:
            return _error(501, "WebRTC needs aiortc on the server (pip install \"stream-colorize[serve]\"); "
                          "use /stream.mjpg")  # fmt: skip
        return await self.webrtc.answer(request)

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        return await self.channel.stream(request, SECURITY_HEADERS, lambda: self._closing, self.write_timeout)


async def read_control(request: web.Request) -> Control | web.Response:
    """The control a POST carries, or the error response to send back."""
    if request.content_type != "application/json":  # a form on another site cannot post JSON unasked
        return _error(415, "send the control as application/json")
    try:
        return parse_control(json.loads(await request.read()))
    except web.HTTPRequestEntityTooLarge:
        return _error(413, "a control is a small JSON object")
    except (BadControl, ValueError, UnicodeDecodeError) as exc:
        return _error(400, str(exc) if isinstance(exc, BadControl) else "the body is not JSON")


def _error(status: int, message: str) -> web.Response:
    """A JSON error body of one line, with the security headers."""
    body: dict[str, Any] = {"error": message}
    return web.json_response(body, status=status, headers=SECURITY_HEADERS)
