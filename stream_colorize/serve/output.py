"""``--serve``: the web view as a live output (``io/live_outputs.LiveOutput``).

    >>> view = ServeOutput(parse_listen("8080"))     # token=..., max_viewers=10
    >>> view.start()                                  # listening when it returns (UsageError if it cannot)
    >>> run_live(spec, colorizer, options, outputs=[view])   # closes it at the end

``show`` hands the frame to the hub (a reference swap) and keeps the status: the live loop never
waits for a viewer, an encode or the network.  The controls viewers send wait in a deque until
the loop's next ``events()``.
"""

from __future__ import annotations

import logging
from collections import deque

from ..io.hls import HlsPlan
from ..io.live_outputs import Control, LiveStatus, Shown
from .address import Listen, check_exposure, check_token
from .hub import FrameHub
from .metrics import ServeCounters
from .server import WRITE_TIMEOUT, WebServer

log = logging.getLogger("stream_colorize")

DEFAULT_MAX_VIEWERS = 10


class ServeOutput:
    """A web page, an MJPEG stream, a snapshot, the figures and the controls, over HTTP."""

    poll_s = 0.05

    def __init__(
        self,
        listen: Listen,
        token: str | None = None,
        max_viewers: int = DEFAULT_MAX_VIEWERS,
        quality: int = 80,
        write_timeout: float = WRITE_TIMEOUT,
    ) -> None:
        if token is not None:
            check_token(token)
        check_exposure(listen, token)
        self.token_required = token is not None
        self.counters = ServeCounters(max_viewers=max(1, int(max_viewers)))
        self.hub = FrameHub(quality, wanted=lambda: self.counters.viewers > self.counters.peers)  # MJPEG
        self._status: LiveStatus | None = None
        self._controls: deque[Control] = deque(maxlen=64)
        self.server = WebServer(listen, self.hub, self.counters, lambda: self._status, self._controls.append, token,
                                write_timeout)  # fmt: skip
        self._started = False

    @property
    def url(self) -> str:
        """The page's address (the token is never in it)."""
        return Listen(self.server.listen.host, self.server.port).url()

    def share_hls(self, plan: HlsPlan) -> None:
        """Serve the folder of an HLS output under ``/hls/`` (only the names its muxer makes)."""
        self.server.hls = plan

    def start(self) -> ServeOutput:
        """Listen (UsageError for an address in use or not ours)."""
        self.server.start()
        self._started = True
        return self

    def show(self, shown: Shown | None, status: LiveStatus) -> None:
        """Keep the newest frame and this turn's numbers (returns at once)."""
        self._status = status
        if shown is not None:
            self.hub.put(shown)

    def events(self) -> list[Control]:
        """The controls viewers sent since the last turn."""
        out: list[Control] = []
        while self._controls:
            out.append(self._controls.popleft())
        return out

    def close(self, ok: bool) -> None:
        """Stop serving (viewers' connections close)."""
        if self._started:
            self._started = False
            self.server.stop()
