"""Reading video frames: one small protocol, and ``open_video`` to get a reader for any input.

    >>> source = open_video("film.mkv", trim=Trim(start=60))              # MediaSource: a file or URL
    >>> stream = open_video(OpenCall("/dev/video0", "v4l2"), timeout=(10, 5))  # live (PyAV or OpenCV)
    >>> stream = open_video(EncodedVideo(codec, packets))                  # PacketStream: a segment
    >>> for frame in stream.frames():                                     # Frame: image, index, pts, time base
    ...     ...
    >>> stream.close()

A ``VideoStream`` yields ``frames.Frame`` objects in decode order with the source's timestamps.
Every PyAV input (file, URL, device, lavfi graph) is read by ``source.MediaSource``: gray decoded
straight from luma, or BGR while ``colour()`` says so (side by side on screen needs the original
in colour), with packet pass-through, trimming and damage accounting; ``OpenCVStream`` is the
fallback for cameras FFmpeg cannot address, ``decoder.PacketStream`` decodes packets that came
without their file.  What makes a live source out of a stream (pacing files by their timestamps,
newest frame wins, reconnection) is ``live_source.LiveSource``; reading packets without decoding
them (the cluster's plan and join) is ``packets``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Protocol, overload

import av
import cv2

from ..errors import MediaError
from ..frames import Frame
from .decoder import EncodedVideo, PacketStream
from .devices import OpenCall
from .source import COPY_KINDS, MediaSource
from .trim import Trim

_NO_TRIM = Trim()


class VideoStream(Protocol):
    """What every frame reader offers."""

    @property
    def fps(self) -> float:
        """The nominal rate, 0 when unknown."""
        ...

    @property
    def time_base(self) -> Fraction | None:
        """The time base of ``Frame.pts``; None when the library gives no timestamps."""
        ...

    def frames(self) -> Iterator[Frame]:
        """Decoded frames in order, until the stream ends (a live stream's read error raises)."""
        ...

    def close(self) -> None:
        """Release the input."""
        ...


@overload
def open_video(
    spec: str | Path, *, color: bool | Callable[[], bool] = ..., timeout: float = ..., trim: Trim = ...,
    copy_kinds: tuple[str, ...] = ...,
) -> MediaSource: ...  # fmt: skip
@overload
def open_video(
    spec: OpenCall, *, color: bool | Callable[[], bool] = ..., timeout: tuple[float, float] = ...,
    on_audio: Callable[[av.Packet], None] | None = ...,
) -> VideoStream: ...  # fmt: skip
@overload
def open_video(spec: EncodedVideo) -> PacketStream: ...
def open_video(
    spec: str | Path | OpenCall | EncodedVideo,
    *,
    color: bool | Callable[[], bool] = False,
    timeout: float | tuple[float, float] = 10.0,
    trim: Trim = _NO_TRIM,
    copy_kinds: tuple[str, ...] = COPY_KINDS,
    on_audio: Callable[[av.Packet], None] | None = None,
) -> VideoStream:
    """A reader for ``spec``: a file or URL (the file pipeline, eval, the cluster's driver), a live
    ``OpenCall`` (camera, stream, file or lavfi graph played live), or ``EncodedVideo`` (a segment's
    packets, decoded by a cluster worker).

    ``colour``: BGR pictures instead of gray, always or while ``colour()`` says so.  ``timeout``:
    seconds for network inputs, (open, read) for live.  ``trim`` and ``copy_kinds``: see
    ``MediaSource``.  ``on_audio`` (live): hear the input's audio packets as they are read.
    A file's problems raise ``MediaError`` with one line; a live call lets PyAV's errors through
    for ``LiveSource`` to word.
    """
    if isinstance(spec, EncodedVideo):
        return PacketStream(spec)
    if isinstance(spec, OpenCall):
        if spec.backend == "opencv":
            return OpenCVStream(spec, color if callable(color) else (lambda: bool(color)))
        return MediaSource(
            spec.file, color=color, timeout=timeout, options=dict(spec.options), input_format=spec.format,
            copy_kinds=("audio",) if on_audio is not None else (), on_packet=on_audio, live=True,
        )  # fmt: skip
    return MediaSource(spec, color=color, timeout=timeout, trim=trim, copy_kinds=copy_kinds)


class OpenCVStream:
    """A camera through ``cv2.VideoCapture`` (the fallback where FFmpeg cannot address it)."""

    audio = None

    def __init__(self, call: OpenCall, color: Callable[[], bool]) -> None:
        target: int | str = int(call.file) if call.file.isdigit() else call.file
        self.capture = cv2.VideoCapture(target)
        if not self.capture.isOpened():
            raise MediaError(f"OpenCV cannot open camera {call.file}")
        self.color = color
        self.fps = float(self.capture.get(cv2.CAP_PROP_FPS) or 0.0)
        self.time_base: Fraction | None = None

    def frames(self) -> Iterator[Frame]:
        """Captured frames (gray, or BGR while ``colour()``) until the camera stops giving them."""
        index = 0
        while True:
            ok, image = self.capture.read()
            if not ok:
                return
            yield Frame(index, image if self.color() else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
            index += 1

    def close(self) -> None:
        """Release the camera."""
        self.capture.release()
