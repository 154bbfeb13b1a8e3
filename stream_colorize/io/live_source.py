"""Live inputs: a ``VideoStream`` (io/stream.py) wrapped in a reader thread that paces files, keeps
only the newest frames and reconnects when a stream drops.

    >>> frames = LeakyQueue(2)
    >>> source = LiveSource(parse_source("rtsp://127.0.0.1:8554/live"), frames, retries=5)
    >>> source.open(); source.start()              # open() raises MediaError with one clear line
    >>> frame = frames.get(timeout=1.0)            # Frame: image, index, pts, captured time

Cameras and network streams run at their own pace; files and lavfi graphs are paced here by
their timestamps, so they play at their own rate.  A consumer that falls behind never makes the
source wait: the queue drops its oldest frame (and counts the drop), which keeps latency bounded.
Every network wait has a timeout (PyAV's ``timeout=(open, read)``).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import av

from ..errors import MediaError
from ..frames import Frame
from ..threads import LeakyQueue
from .devices import SourceSpec
from .stream import VideoStream, open_video

log = logging.getLogger("stream_colorize")


def _host_of(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{host}:{parts.port}" if parts.port else host


def describe_open_error(exc: BaseException, spec: SourceSpec, open_timeout: float, elapsed: float = 0.0) -> str:
    """One line saying why ``spec`` could not be opened and what to try.

    ``elapsed`` is how long the attempt took: FFmpeg's RTSP demuxer reports an interrupted
    (timed-out) open as invalid data, so running into the timeout counts as "no answer".
    """
    name = spec.display_name
    # the error's own words, not str(exc): that holds the URL, whose port may read "40131"
    said = str(getattr(exc, "strerror", "") or "")
    if isinstance(exc, av.error.HTTPUnauthorizedError) or re.search(r"\b401\b", said):
        return f"{name}: the server refused access (401 Unauthorized); put user:password@ in the URL"
    if isinstance(exc, av.error.HTTPForbiddenError):
        return f"{name}: the server forbids this stream (403 Forbidden)"
    if isinstance(exc, av.error.HTTPNotFoundError):
        return f"{name}: the server has no such stream (404 Not Found); check the path in the URL"
    if isinstance(exc, av.error.HTTPError):
        return f"{name}: the server answered with an error ({exc.strerror})"
    if isinstance(exc, ConnectionRefusedError):
        return f"{name}: connection refused by {_host_of(spec.text)}; is the server running and the port right?"
    timed_out = spec.kind == "network" and elapsed >= 0.9 * open_timeout
    if isinstance(exc, (av.error.ExitError, TimeoutError)) or timed_out:
        return f"{name}: no answer within {open_timeout:g} s; check the address or raise --timeout"
    if isinstance(exc, FileNotFoundError) and spec.kind == "camera":
        return f"no camera at {spec.call.file} ({spec.text}); plug one in or give another index or device"
    if isinstance(exc, av.error.OSError) and spec.kind == "network":
        return f"{name}: cannot reach the server ({exc.strerror}); check the host name"
    if isinstance(exc, av.error.InvalidDataError):
        return f"{name}: not a video FFmpeg can read ({exc.strerror})"
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return f"cannot open {name}: {reason}"


class LiveSource:
    """A reader thread from one SOURCE into a LeakyQueue, with pacing and reconnection.

    ``status`` is a short text for the overlay: ``"connecting"``, ``"playing"``,
    ``"reconnecting (2/5)"``, ``"ended"`` or ``"failed"``.  After the thread stops, ``error``
    holds a MediaError when it gave up; a file or lavfi graph that ends is not an error.
    """

    def __init__(
        self,
        spec: SourceSpec,
        out: LeakyQueue[Frame] | None = None,
        retries: int = 5,
        open_timeout: float = 10.0,
        read_timeout: float = 5.0,
        color: Callable[[], bool] = lambda: False,
        on_audio: Callable[[av.Packet], None] | None = None,
        backoff: tuple[float, float] = (0.5, 8.0),
    ) -> None:
        self.spec = spec
        self.out: LeakyQueue[Frame] = out if out is not None else LeakyQueue(2)
        self.retries = retries
        self.open_timeout = open_timeout
        self.read_timeout = read_timeout
        self.color = color
        self.on_audio = on_audio
        self.backoff = backoff
        self.status = "connecting"
        self.error: MediaError | None = None
        self.frames_read = 0
        self.reconnects = 0
        self.fps = 0.0
        self.paused = threading.Event()
        self._stop = threading.Event()
        self._reader: VideoStream | None = None
        self._thread: threading.Thread | None = None
        self._index = 0

    # -- opening ----------------------------------------------------------------------------
    def _open_reader(self) -> VideoStream:
        call = self.spec.call
        began = time.monotonic()
        try:
            return open_video(call, color=self.color, timeout=(self.open_timeout, self.read_timeout),
                              on_audio=self.on_audio)  # fmt: skip
        except MediaError as exc:
            raise MediaError(f"{self.spec.display_name}: {exc}") from exc
        except (av.FFmpegError, OSError, ValueError) as exc:
            fallback = self.spec.fallback
            if fallback is not None and not isinstance(exc, FileNotFoundError):
                log.warning("PyAV cannot open %s (%s); trying OpenCV's capture", self.spec.display_name, exc)
                try:
                    return open_video(fallback, color=self.color)
                except MediaError:
                    pass
            elapsed = time.monotonic() - began
            raise MediaError(describe_open_error(exc, self.spec, self.open_timeout, elapsed)) from exc

    def open(self) -> None:
        """Open the source now, in the caller's thread; MediaError with one line if it cannot."""
        self._reader = self._open_reader()
        self.fps = self._reader.fps
        self.status = "playing"

    @property
    def audio_stream(self):
        """The input audio stream whose packets go to ``on_audio`` (None when there is none)."""
        return getattr(self._reader, "audio", None)

    # -- the thread -------------------------------------------------------------------------
    def start(self) -> None:
        """Start the reader thread (opening first if ``open`` was not called)."""
        if self._reader is None:
            self.open()
        self._thread = threading.Thread(target=self._run, name="live-source", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Ask the thread to stop and wait for it (at most about one read timeout)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout if timeout is not None else self.read_timeout + 1.0)

    @property
    def running(self) -> bool:
        """True while the reader thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def _pump(self, reader: VideoStream) -> None:
        """Read until the stream ends or fails; pace files and lavfi by their timestamps."""
        paced = not self.spec.live
        start_wall = time.monotonic()
        first_pts: float | None = None
        fallback_step = 1.0 / reader.fps if reader.fps > 0 else 1.0 / 30
        count = 0
        for frame in reader.frames():
            if self._stop.is_set():
                return
            if self.paused.is_set() and paced:
                pause_began = time.monotonic()
                while self.paused.is_set() and not self._stop.is_set():
                    time.sleep(0.02)
                start_wall += time.monotonic() - pause_began
            pts = frame.pts
            if paced:
                seconds = float(pts * reader.time_base) if pts is not None and reader.time_base else None
                if seconds is None:
                    seconds = count * fallback_step + (first_pts or 0.0)
                if first_pts is None:
                    first_pts = seconds
                delay = start_wall + (seconds - first_pts) - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    return
            frame.index, frame.captured = self._index, time.monotonic()  # numbered across reconnections
            self.out.put(frame)
            self._index += 1
            count += 1
            self.frames_read += 1
            if self.spec.live and self.status != "playing":
                self.status = "playing"

    def _run(self) -> None:
        attempt = 0
        reader = self._reader
        while not self._stop.is_set():
            reason = "the stream ended"
            read_before = self.frames_read
            try:
                if reader is None:
                    reader = self._open_reader()
                    self.reconnects += 1
                    log.warning("reconnected to %s", self.spec.display_name)
                self._pump(reader)
                if self._stop.is_set():
                    break
                if not self.spec.live:
                    self.status = "ended"
                    break
            except MediaError as exc:
                reason = str(exc)
            except (av.FFmpegError, OSError, ValueError) as exc:
                if isinstance(exc, av.error.ExitError):
                    reason = f"no data for {self.read_timeout:g} s"
                else:
                    reason = getattr(exc, "strerror", None) or str(exc)
                if not self.spec.live:
                    self.status = "failed"
                    self.error = MediaError(f"{self.spec.display_name}: decoding failed ({reason})")
                    break
            finally:
                if reader is not None:
                    reader.close()
                    reader = None
            if self._stop.is_set():
                break
            if self.frames_read > read_before:
                attempt = 0  # it played for a while: a fresh drop gets the full set of retries
            attempt += 1
            if attempt > self.retries:
                self.status = "failed"
                self.error = MediaError(
                    f"lost {self.spec.display_name} ({reason}); gave up after {self.retries} "
                    "reconnection attempts (raise --retries to keep trying longer)"
                )
                break
            self.status = f"reconnecting ({attempt}/{self.retries})"
            reason = _without_name(reason, self.spec.display_name)
            log.warning("%s: %s; reconnecting (%d/%d)", self.spec.display_name, reason, attempt, self.retries)
            delay = min(self.backoff[0] * 2 ** (attempt - 1), self.backoff[1])
            if self._stop.wait(delay):
                break
        self._reader = None


def _without_name(reason: str, name: str) -> str:
    """An error text without the source's name, for a note that names it already."""
    for prefix in (f"cannot open {name}: ", f"{name}: "):
        if reason.startswith(prefix):
            return reason[len(prefix):]
    return reason.replace(name, "the source")
