"""WebRTC for the web view (aiortc): one peer connection per viewer, fed the newest shown frame.

    >>> peers = WebRtcPeers(hub, counters, admit, leave)      # on the server's event loop
    >>> answer = await peers.answer(request)                  # POST /webrtc/offer: JSON offer -> JSON answer
    >>> await peers.close_all()                               # the session ends

The page sends its offer with every ICE candidate in it (no trickle); the answer comes back the
same way.  No STUN or TURN server is configured (aiortc would otherwise ask Google's): on a LAN
or the loopback the host candidates meet.  Each peer's track hands its encoder the newest shown
frame whenever the encoder is ready for one, so a peer that encodes or sends slowly skips frames
and never holds back the live loop or the other viewers; the encoders run on aiortc's executor
threads.  A peer counts as a viewer (the ``--max-viewers`` cap) from its offer until its
connection closes or fails, or until ``CONNECT_TIMEOUT`` passes without it connecting.
"""

from __future__ import annotations

import asyncio
import fractions
import json
import logging
import time
from collections.abc import Callable

from aiohttp import web
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from av import VideoFrame

from ..io.live_outputs import Shown
from .channel import FrameSignal
from .hub import FrameHub
from .metrics import ServeCounters

log = logging.getLogger("stream_colorize")

VIDEO_CLOCK = 90_000  # RTP's video clock rate
TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK)
MAX_OFFER = 64 * 1024  # bytes: a browser's offer is a few kB
CONNECT_TIMEOUT = 20.0  # seconds an offer may hold a viewer's place without connecting


class BadOffer(ValueError):
    """A request body that is not a WebRTC offer this server can answer (the message says why)."""


def parse_offer(body: bytes) -> RTCSessionDescription:
    """``{"type": "offer", "sdp": "v=0..."}`` with a video section, as a session description."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadOffer("the body is not JSON") from None
    if not isinstance(data, dict) or data.get("type") != "offer" or not isinstance(data.get("sdp"), str):
        raise BadOffer('send {"type": "offer", "sdp": "..."}, the browser\'s RTCSessionDescription')
    sdp = data["sdp"]
    if not sdp.startswith("v=0") or "\nm=video " not in sdp:
        raise BadOffer("the offer has no video section (add a recvonly video transceiver)")
    return RTCSessionDescription(sdp=sdp, type="offer")


class NewestFrameTrack(MediaStreamTrack):
    """A video track whose every ``recv`` is the newest shown frame not sent yet."""

    kind = "video"

    def __init__(self, hub: FrameHub, new_frame: FrameSignal) -> None:
        super().__init__()
        self.hub = hub
        self._new_frame = new_frame
        self._last: Shown | None = None
        self._pts = -1
        self._start = time.monotonic()

    async def recv(self) -> VideoFrame:
        """The next frame to encode: waits for one newer than the last (the newest wins)."""
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            shown = self.hub.newest
            if shown is not None and shown is not self._last:
                break
            await self._new_frame.wait(1.0)
        self._last = shown
        frame = VideoFrame.from_ndarray(shown.image, format="bgr24")
        # The capture clock paces the frames: the browser plays them as they were taken.
        pts = int((shown.frame.captured - self._start) * VIDEO_CLOCK)
        self._pts = max(pts, self._pts + 1)
        frame.pts, frame.time_base = self._pts, TIME_BASE
        return frame


class WebRtcPeers:
    """The peer connections of one web view, made and closed on the server's event loop."""

    def __init__(
        self,
        hub: FrameHub,
        counters: ServeCounters,
        admit: Callable[[], web.StreamResponse | None],
        leave: Callable[[], None],
        connect_timeout: float = CONNECT_TIMEOUT,
    ) -> None:
        self.hub = hub
        self.counters = counters
        self._admit, self._leave = admit, leave
        self.connect_timeout = connect_timeout
        self._peers: set[RTCPeerConnection] = set()
        self._loop = asyncio.get_running_loop()
        self._new_frame = FrameSignal(self._loop)
        self._closing = False

    def frame_shown(self) -> None:
        """From the live loop's thread: a new frame is in the hub (wakes the tracks, if any)."""
        if self._peers:
            self._new_frame.notify()

    async def answer(self, request: web.Request) -> web.StreamResponse:
        """``POST /webrtc/offer``: the answer as JSON, or a one-line JSON error (400, 413, 415, 503)."""
        if request.content_type != "application/json":
            return _error(415, "send the offer as application/json")
        if (request.content_length or 0) > MAX_OFFER:
            return _error(413, f"an offer is at most {MAX_OFFER} bytes")
        body = b""
        while chunk := await request.content.readany():
            body += chunk
            if len(body) > MAX_OFFER:
                return _error(413, f"an offer is at most {MAX_OFFER} bytes")
        try:
            offer = parse_offer(body)
        except BadOffer as exc:
            return _error(400, str(exc))
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        try:
            pc.addTrack(NewestFrameTrack(self.hub, self._new_frame))
            await pc.setRemoteDescription(offer)  # parses and checks the offer: nothing is gathered yet
        except Exception as exc:  # noqa: BLE001 - aiortc says a bad SDP in many ways
            await pc.close()
            log.debug("web view: an offer could not be answered: %s", exc)
            return _error(400, "the offer could not be answered (no video codec in common, or a malformed SDP)")
        # A peer first, a viewer second (and the other way round in _close): never counted as an MJPEG
        # viewer, for which the hub would encode JPEGs, not even between the two.
        self.counters.peers += 1
        refused = self._admit()
        if refused is not None:
            self.counters.peers -= 1
            await pc.close()
            return refused
        self.counters.peers_total += 1
        self._peers.add(pc)
        try:
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:  # noqa: BLE001 - as above
            await self._close(pc)
            log.debug("web view: an offer could not be answered: %s", exc)
            return _error(400, "the offer could not be answered (no video codec in common, or a malformed SDP)")
        if self._closing:
            await self._close(pc)
            return _error(503, "the session is ending")

        @pc.on("connectionstatechange")
        async def changed() -> None:
            if pc.connectionState in ("failed", "closed"):
                await self._close(pc)

        self._loop.call_later(self.connect_timeout, self._give_up_unless_connected, pc)
        local = pc.localDescription
        return web.json_response({"type": local.type, "sdp": local.sdp})

    def _give_up_unless_connected(self, pc: RTCPeerConnection) -> None:
        if pc in self._peers and pc.connectionState != "connected":
            log.info("web view: a WebRTC viewer did not connect in %g s; let go", self.connect_timeout)
            asyncio.ensure_future(self._close(pc))

    async def _close(self, pc: RTCPeerConnection) -> None:
        if pc not in self._peers:
            return
        self._peers.discard(pc)
        self._leave()
        self.counters.peers -= 1
        try:
            await pc.close()
        except Exception as exc:  # noqa: BLE001 - closing: nothing left to save
            log.debug("web view: closing a peer: %s", exc)

    async def close_all(self) -> None:
        """Close every peer connection (the session ends)."""
        self._closing = True
        await asyncio.gather(*(self._close(pc) for pc in list(self._peers)))


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)
