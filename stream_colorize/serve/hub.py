"""The newest frame, as JPEG, for any number of viewers: the live loop never waits for one of them.

    >>> hub = FrameHub(quality=80)
    >>> hub.start(notify)                  # notify(): called from the encoder thread after each JPEG
    >>> hub.put(shown)                     # the live loop: keeps a reference, never encodes, never blocks
    >>> hub.latest                         # Jpeg(seq, data, captured, ...) or None
    >>> hub.stop()

``put`` only swaps a reference and sets an event.  An encoder thread of its own turns the newest
picture into a JPEG when someone wants it (a viewer is watching): a frame that arrives while it
encodes replaces the one waiting, so the encoder, like each viewer, always takes the newest.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from ..io.live_outputs import Shown


@dataclass(frozen=True)
class Jpeg:
    """One encoded frame."""

    seq: int  # 1, 2, ... in the order the frames were shown
    data: bytes
    index: int  # the source frame's index
    captured: float  # time.monotonic() when the source decoded it
    encoded: float  # time.monotonic() when this JPEG was ready


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    """A BGR or gray picture as JPEG bytes."""
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # cv2 refuses only empty or odd-typed pictures, which the live loop never makes
        raise ValueError("cannot encode the frame as JPEG")
    return data.tobytes()


class FrameHub:
    """The newest shown frame and its JPEG; encodes only while ``wanted()`` says someone watches."""

    def __init__(self, quality: int = 80, wanted: Callable[[], bool] = lambda: True) -> None:
        self.quality = quality
        self.wanted = wanted
        self.latest: Jpeg | None = None
        self.encoded = 0  # JPEGs made
        self.encode_s: deque[float] = deque(maxlen=60)  # the last encodes' times
        self._pending: Shown | None = None
        self._newest: Shown | None = None  # kept for a snapshot while nobody watches
        self._taken: Shown | None = None  # the frame the encoder took last (being encoded, or encoded)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._notify: Callable[[], None] = lambda: None
        self.on_put: Callable[[], None] = lambda: None  # called by put (the live loop's thread): WebRTC's wake-up
        self._thread: threading.Thread | None = None

    def start(self, notify: Callable[[], None]) -> None:
        """Start the encoder thread; ``notify()`` is called after each new JPEG."""
        self._notify = notify
        self._thread = threading.Thread(target=self._run, name="serve-jpeg", daemon=True)
        self._thread.start()

    def put(self, shown: Shown) -> None:
        """Hand over a newly shown frame (the live loop's thread; returns at once)."""
        with self._lock:
            self._newest = self._pending = shown
        self._wake.set()
        self.on_put()

    def poke(self) -> None:
        """A viewer arrived: encode the newest frame now even if it came while nobody watched.

        Not when the encoder has already taken it: while it encodes, ``latest`` still holds the
        previous frame, and asking again would encode the same frame twice (a new viewer got its
        first frame twice under load)."""
        with self._lock:
            newest = self._newest
            if newest is not None and newest is not self._taken:
                self._pending = newest
        self._wake.set()

    def stop(self) -> None:
        """Stop the encoder thread."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(2.0)

    @property
    def newest(self) -> Shown | None:
        """The last frame shown (encoded or not)."""
        return self._newest

    def snapshot(self) -> bytes | None:
        """The newest frame as JPEG: the encoded one when it is the newest, else encoded now."""
        newest, latest = self._newest, self.latest
        if newest is None:
            return None
        if latest is not None and latest.index == newest.frame.index:
            return latest.data
        return encode_jpeg(newest.image, self.quality)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(0.5)
            self._wake.clear()
            with self._lock:
                shown, self._pending = self._pending, None
                if shown is None or shown is self._taken or not self.wanted():
                    continue  # a frame nobody watches is left for poke() or a snapshot
                self._taken = shown
            began = time.monotonic()
            data = encode_jpeg(shown.image, self.quality)
            now = time.monotonic()
            self.encode_s.append(now - began)
            self.encoded += 1
            self.latest = Jpeg(self.encoded, data, shown.frame.index, shown.frame.captured, now)
            self._notify()
