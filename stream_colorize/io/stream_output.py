"""live ``--output URL``: what is shown, sent to udp://, rtsp://, rtmp://, srt:// or stdout.

    >>> out = StreamOutput(stream_target("rtsp://server:8554/colour"), on_note=print)
    >>> run_live(spec, colorizer, options, outputs=[out])     # show() hands frames over, never waits

A LiveOutput (``io/live_outputs.py``) with a thread of its own: ``show`` drops the frame in a
small newest-wins queue, the thread encodes it (``StreamSink``, tuned for latency) and sends it.
A slow or stalled network therefore costs frames of this output only, never the live loop.  When
the connection breaks (a server restarted, a pipe closed) the output says so once, drops frames
while it waits, and connects again after 0.5, 1, 2, 4 s and then every 5 s; when it is back it says that too.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from fractions import Fraction

from ..errors import MediaError
from ..frames import Frame
from ..threads import LeakyQueue
from .info import VideoInfo
from .live_outputs import Control, LiveStatus, Shown
from .sink import Outcome
from .stream_sink import StreamSink
from .stream_targets import StreamTarget

log = logging.getLogger("stream_colorize")

FIRST_RETRY_S = 0.5  # a receiving server that restarts is usually back within seconds
MAX_RETRY_S = 5.0  # a refused connect costs nothing; a long wait costs the viewers minutes of picture


class StreamOutput:
    """Send every shown frame to a stream output, reconnecting with backoff when it breaks."""

    poll_s = 0.1

    def __init__(
        self,
        target: StreamTarget,
        fps: float | Callable[[], float | None] | None = None,
        on_note: Callable[[str], None] | None = None,
        first_retry_s: float = FIRST_RETRY_S,
    ) -> None:
        self.target = target
        self.fps = fps
        self.on_note = on_note or (lambda line: log.warning("%s", line))
        self.first_retry_s = first_retry_s
        self.sent = 0  # frames handed to the encoder
        self.connects = 0  # successful connections (1 + reconnections)
        self.losses = 0
        self.state = "starting"
        self._skipped = 0  # frames left out while waiting to reconnect
        self._queue: LeakyQueue[Shown] = LeakyQueue(4)
        self._stop = threading.Event()
        self._sink: StreamSink | None = None
        self._thread = threading.Thread(target=self._run, name="live-stream-out", daemon=True)
        self._thread.start()

    @property
    def dropped(self) -> int:
        """Frames this output left out because it was behind or disconnected."""
        return self._queue.dropped + self._skipped

    def show(self, shown: Shown | None, status: LiveStatus) -> None:
        """Hand a newly shown frame to the sending thread (returns at once)."""
        if shown is not None:
            self._queue.put(shown)

    def events(self) -> list[Control]:
        """No controls."""
        return []

    def close(self, ok: bool) -> None:
        """Send the encoder's tail and close the connection (a thread stuck in a send is left behind)."""
        self._stop.set()
        self._thread.join(5.0)

    # -- the sending thread ------------------------------------------------------------------------
    def _run(self) -> None:
        retry_at, delay = 0.0, self.first_retry_s
        while not self._stop.is_set():
            shown = self._queue.get(timeout=0.1)
            if shown is None:
                continue
            if self._sink is None:
                if time.monotonic() < retry_at:
                    self._skipped += 1
                    continue
                try:
                    self._sink = self._open(shown)
                except MediaError as exc:
                    retry_at, delay = self._lost(exc, delay)
                    continue
            try:
                self._send(self._sink, shown)
            except MediaError as exc:
                self._drop_sink()
                retry_at, delay = self._lost(exc, delay)
                continue
            if self.state != "sending":
                if self.losses:
                    self.on_note(f"{self.target.label}: sending again")
                self.state = "sending"
                delay = self.first_retry_s
        if self._sink is not None:
            try:
                self._sink.commit(Outcome.DONE)
            except MediaError as exc:
                log.info("%s", exc)
            self._sink = None
        self.state = "closed"

    def _open(self, shown: Shown) -> StreamSink:
        frame = shown.frame
        height, width = shown.image.shape[:2]
        fps = self.fps() if callable(self.fps) else self.fps  # a live source knows its rate once open
        rate = Fraction(fps).limit_denominator(1001) if fps else Fraction(30)
        time_base = frame.time_base or Fraction(1, 90000)
        info = VideoInfo(width, height, time_base, rate, None, 0.0, 8, None, 0, None, "live")
        sink = StreamSink(self.target, info, [], live=True)
        self.connects += 1
        return sink

    def _send(self, sink: StreamSink, shown: Shown) -> None:
        frame = shown.frame
        sink.write(Frame(frame.index, frame.image, frame.pts, frame.time_base, output=shown.image))
        self.sent += 1

    def _drop_sink(self) -> None:
        sink, self._sink = self._sink, None
        if sink is not None:
            try:
                sink.commit(Outcome.FAILED)
            except MediaError:
                pass

    def _lost(self, exc: MediaError, delay: float) -> tuple[float, float]:
        """Say it (once per outage) and schedule the next try; returns (when, the following delay)."""
        if self.state != "reconnecting":
            self.losses += 1
            self.on_note(f"{exc}; reconnecting (first try in {delay:g} s)")
        self.state = "reconnecting"
        return time.monotonic() + delay, min(MAX_RETRY_S, delay * 2)
