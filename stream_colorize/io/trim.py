"""Trimming an input as ffmpeg's ``-ss``/``-to``/``-t`` do: what is kept, and where it lands.

    >>> trim = Trim(start=60, end=90)            # seconds from the start of the video
    >>> trim.where(59.9), trim.where(75), trim.where(90)
    (-1, 0, 1)

The reader seeks to the key frame before ``start``, drops what decodes before it and shifts
everything kept by the input's first timestamp plus ``start``, so the output starts at zero
(a transport stream's clock at 3600 s included), every stream kept in step.  ``duration`` counts
from the first frame kept.  A ``start`` of 0 is no trim.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from fractions import Fraction

import av
from av.container import InputContainer

log = logging.getLogger("stream_colorize")

_EPSILON = 1e-6  # seconds: a frame exactly at a boundary is on the later side of it


@dataclass(frozen=True)
class Trim:
    """The part of an input kept: seconds from the start of its video (``-ss``, ``-to``, ``-t``)."""

    start: float | None = None
    end: float | None = None
    duration: float | None = None  # seconds of video kept, from the first frame kept

    def where(self, t: float | None) -> int:
        """-1 before ``start``, 1 at or after ``end``, 0 inside (or ``t`` unknown)."""
        if t is None:
            return 0
        if self.start and t < self.start - _EPSILON:
            return -1
        if self.end is not None and t >= self.end - _EPSILON:
            return 1
        return 0

    def past_duration(self, t: float, first: float) -> bool:
        """True once a frame at ``t`` is ``duration`` or more after the first frame kept (``first``)."""
        return self.duration is not None and t - first >= self.duration - _EPSILON

    def shift(self, stamp: int | None, time_base: Fraction | None, origin: float = 0.0) -> int | None:
        """A timestamp moved back by ``origin + start`` (``origin``: the input's first timestamp in
        seconds), so the output begins at zero as ffmpeg's does."""
        offset = origin + (self.start or 0.0)
        if not offset or stamp is None or not time_base:
            return stamp
        return stamp - round(offset / time_base)

    def shift_packet(self, packet: av.Packet, origin: float = 0.0) -> av.Packet:
        """A copied stream's packet with its pts and dts moved back by ``origin + start``."""
        if not self.start and not origin:
            return packet
        packet.pts = self.shift(packet.pts, packet.time_base, origin)
        packet.dts = self.shift(packet.dts, packet.time_base, origin)
        return packet

    def seek(self, container: InputContainer, stream: av.video.stream.VideoStream, video_start: float,
             time_base: Fraction) -> None:  # fmt: skip
        """Seek ``container`` to the key frame at or before ``start`` (nothing without a start);
        ``video_start`` is the stream's first timestamp in seconds, ``time_base`` its time base.
        An input that cannot seek (a pipe) is read from the top."""
        if not self.start:
            return
        target = video_start + self.start
        back = 0.0
        try:
            for _ in range(8):
                container.seek(int((target - back) / time_base), stream=stream, backward=True)
                landed = _first_key_time(container, stream)
                # Some demuxers (MPEG-TS's generic search) land on a key frame *after* the point
                # asked for, which would lose the frames between: seek further back until the key
                # frame is at or before it.
                if landed is None or landed <= target + _EPSILON or target - back <= video_start:
                    break
                back = max(2 * back, landed - target + 1.0)
            container.seek(int((target - back) / time_base), stream=stream, backward=True)
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            log.debug("cannot seek, reading from the start: %s", exc)


def _first_key_time(container: InputContainer, stream: av.video.stream.VideoStream) -> float | None:
    """Seconds of the first key frame packet of ``stream`` from where the container stands."""
    for count, packet in enumerate(container.demux(stream)):
        when = packet.pts if packet.pts is not None else packet.dts
        if packet.is_keyframe and when is not None and packet.time_base:
            return float(when * packet.time_base)
        if count > 2000:
            break
    return None
