"""One picture's viewers: the MJPEG stream of one ``FrameHub``, its viewer cap and its wake-ups.

    >>> channel = Channel(hub, counters, loop)          # on the web server's event loop
    >>> hub.start(channel.frame_ready)                  # the encoder thread wakes the waiting viewers
    >>> return await channel.stream(request, closing=lambda: server.closing, write_timeout=10.0)

``live --serve`` has one channel; ``serve CONFIG.toml`` has one per camera.  Every viewer takes
the newest JPEG when it is ready for one (a slow viewer misses frames, never delays the others),
and a viewer that takes over ``write_timeout`` seconds to accept one frame is let go.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from aiohttp import web

from .hub import FrameHub
from .metrics import ServeCounters

log = logging.getLogger("stream_colorize")

BOUNDARY = "frame"


class FrameSignal:
    """Wakes the coroutines of one event loop that wait for a new frame, from any thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._event: asyncio.Event | None = None  # made on the loop (an Event binds to it)

    def notify(self) -> None:
        """From any thread: a new frame is there."""
        if not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(self._wake)
            except RuntimeError:  # the loop closed meanwhile
                pass

    def _wake(self) -> None:
        event, self._event = self._event, asyncio.Event()
        if event is not None:
            event.set()

    async def wait(self, timeout: float) -> None:
        """On the loop: until the next ``notify`` or ``timeout`` seconds."""
        if self._event is None:
            self._event = asyncio.Event()
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            pass


class Channel:
    """The viewers of one hub: counted against ``counters.max_viewers``, woken per new JPEG."""

    def __init__(self, hub: FrameHub, counters: ServeCounters, loop: asyncio.AbstractEventLoop,
                 name: str = "") -> None:  # fmt: skip
        self.hub = hub
        self.counters = counters
        self.name = name  # said in the viewer-cap note when there are several
        self._new_frame = FrameSignal(loop)
        self._cap_said = False

    def frame_ready(self) -> None:
        """From the encoder thread: wake the viewers waiting for a frame."""
        self._new_frame.notify()

    async def _next_frame(self, timeout: float) -> None:
        await self._new_frame.wait(timeout)

    def refuse(self) -> web.StreamResponse | None:
        """A 503 when the viewer cap is reached (said once in the log until there is room again)."""
        counters = self.counters
        if counters.viewers < counters.max_viewers:
            return None
        counters.refused += 1
        if not self._cap_said:
            self._cap_said = True
            where = f"camera {self.name}: " if self.name else ""
            log.warning("web view: %s%d viewers watching, the most allowed (--max-viewers); "
                        "more are refused with 503", where, counters.max_viewers)  # fmt: skip
        body = {"error": f"viewer limit reached ({counters.max_viewers} watching); try again later"}
        return web.json_response(body, status=503, headers={"Retry-After": "5"})

    def admit(self, headers: dict[str, str] | None = None) -> web.StreamResponse | None:
        """Count a viewer in (an MJPEG stream or a WebRTC peer), or the 503 of the cap."""
        refused = self.refuse()
        if refused is not None:
            refused.headers.update(headers or {})
            return refused
        self.counters.viewers += 1
        self.counters.viewers_total += 1
        return None

    def leave(self) -> None:
        """A viewer ``admit`` let in is gone."""
        counters = self.counters
        counters.viewers -= 1
        if counters.viewers < counters.max_viewers:
            self._cap_said = False

    async def stream(self, request: web.Request, headers: dict[str, str], closing: Callable[[], bool],
                     write_timeout: float) -> web.StreamResponse:  # fmt: skip
        """Serve one viewer until it leaves, falls behind by ``write_timeout`` or ``closing()``."""
        refused = self.admit(headers)
        if refused is not None:
            return refused
        try:
            return await self._send_frames(request, headers, closing, write_timeout)
        finally:
            self.leave()

    async def _send_frames(self, request: web.Request, headers: dict[str, str], closing: Callable[[], bool],
                           write_timeout: float) -> web.StreamResponse:  # fmt: skip
        response = web.StreamResponse(headers={
            "Content-Type": f"multipart/x-mixed-replace; boundary={BOUNDARY}", **headers,
        })  # fmt: skip
        await response.prepare(request)
        self.hub.poke()
        last = 0
        while not closing():
            if request.transport is None or request.transport.is_closing():
                break  # the viewer left
            jpeg = self.hub.latest
            if jpeg is None or jpeg.seq == last:
                await self._next_frame(1.0)
                continue
            head = (
                f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg.data)}\r\n"
                f"X-Frame-Index: {jpeg.index}\r\nX-Frame-Captured: {jpeg.captured:.6f}\r\n\r\n"
            ).encode()
            try:
                await asyncio.wait_for(response.write(head + jpeg.data + b"\r\n"), write_timeout)
            except TimeoutError:
                log.info("web view: a viewer took over %g s to take a frame; let go", write_timeout)
                if request.transport is not None:
                    request.transport.abort()
                break
            except (ConnectionError, RuntimeError):  # the viewer left
                break
            last = jpeg.seq
            self.counters.served_one(time.monotonic() - jpeg.captured)
        return response
