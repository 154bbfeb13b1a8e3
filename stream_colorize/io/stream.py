"""Reading video frames: one small protocol, a backend per library.

    >>> stream = PyAVStream(call, open_timeout=10, read_timeout=5)   # files, URLs, devices, lavfi
    >>> stream = OpenCVStream(call)                                   # cameras FFmpeg cannot address
    >>> for frame in stream.frames():                                 # Frame: image, index, pts, time base
    ...     ...
    >>> stream.close()

A ``VideoStream`` yields ``frames.Frame`` objects in decode order with the source's timestamps;
``colour()`` is asked per frame whether the picture should be BGR (side by side on screen needs
the original in colour) or gray, which PyAV decodes straight from luma (``source.frame_picture``).
What makes a live source out of a stream (pacing files by their timestamps, newest frame wins,
reconnection) is ``live_source.LiveSource``; the file pipeline's ``source.MediaSource`` is the
PyAV stream with packet pass-through, trimming and damage accounting, and offers ``frames()`` too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from fractions import Fraction
from typing import Protocol

import av
import cv2

from ..errors import MediaError
from ..frames import Frame
from .devices import OpenCall
from .inputs import open_input
from .source import frame_picture


def _gray_only() -> bool:
    return False


class VideoStream(Protocol):
    """What every frame reader offers."""

    fps: float  # the nominal rate, 0 when unknown
    time_base: Fraction | None  # of ``Frame.pts``; None when the library gives no timestamps

    def frames(self) -> Iterator[Frame]:
        """Decoded frames in order, until the stream ends (a read error raises)."""
        ...

    def close(self) -> None:
        """Release the input (never raises)."""
        ...


class PyAVStream:
    """The video stream of one PyAV container; audio packets go to ``on_audio`` when given."""

    def __init__(
        self,
        call: OpenCall,
        open_timeout: float,
        read_timeout: float,
        on_audio: Callable[[av.Packet], None] | None = None,
        colour: Callable[[], bool] = _gray_only,
    ) -> None:
        self.container = open_input(
            call.file, format=call.format, options=dict(call.options), timeout=(open_timeout, read_timeout)
        )
        if not self.container.streams.video:
            self.container.close()
            raise MediaError("no video stream")
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = "AUTO"
        self.on_audio = on_audio
        self.colour = colour
        self.audio = self.container.streams.audio[0] if on_audio is not None and self.container.streams.audio else None
        rate = self.stream.average_rate or self.stream.guessed_rate
        self.fps = float(rate) if rate else 0.0
        self.time_base: Fraction | None = self.stream.time_base

    def frames(self) -> Iterator[Frame]:
        """Decoded video frames (gray, or BGR while ``colour()``); audio packets go to ``on_audio``."""
        streams = [self.stream] + ([self.audio] if self.audio is not None else [])
        index = 0
        for packet in self.container.demux(streams):
            if packet.stream is self.stream:
                for decoded in packet.decode():
                    assert isinstance(decoded, av.VideoFrame)  # a video stream's packets decode to pictures
                    yield Frame(index, frame_picture(decoded, gray=not self.colour()), decoded.pts, self.time_base)
                    index += 1
            elif packet.dts is not None and packet.size and self.on_audio is not None:
                self.on_audio(packet)

    def close(self) -> None:
        """Close the container (a broken stream's error on closing is not news)."""
        try:
            self.container.close()
        except Exception:  # noqa: BLE001 - closing a broken stream must not mask the real error
            pass


class OpenCVStream:
    """A camera through ``cv2.VideoCapture`` (the fallback where FFmpeg cannot address it)."""

    audio = None

    def __init__(self, call: OpenCall, colour: Callable[[], bool] = _gray_only) -> None:
        target: int | str = int(call.file) if call.file.isdigit() else call.file
        self.capture = cv2.VideoCapture(target)
        if not self.capture.isOpened():
            raise MediaError(f"OpenCV cannot open camera {call.file}")
        self.colour = colour
        self.fps = float(self.capture.get(cv2.CAP_PROP_FPS) or 0.0)
        self.time_base: Fraction | None = None

    def frames(self) -> Iterator[Frame]:
        """Captured frames (gray, or BGR while ``colour()``) until the camera stops giving them."""
        index = 0
        while True:
            ok, image = self.capture.read()
            if not ok:
                return
            yield Frame(index, image if self.colour() else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
            index += 1

    def close(self) -> None:
        """Release the camera."""
        self.capture.release()
