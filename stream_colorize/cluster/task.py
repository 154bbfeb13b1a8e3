"""What travels between the driver and a worker: compressed packets in, an encoded segment out.

    >>> task = SegmentTask.build(segment, packets, source, settings, ".mp4", total=12)
    >>> result = SegmentWorker(settings).run(task)      # anywhere: another process, another machine
    >>> result.data                                     # the segment as a small .mp4, closed GOP

Everything here pickles (bytes, numbers, small dataclasses), so Ray and process pools move it as
it is.  No file path of the driver's machine is needed by a worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import cast

import av

from ..config import Settings
from ..io.source import MediaSource, VideoInfo
from .plan import Segment


@dataclass(frozen=True)
class CodecParams:
    """Enough of the input's video codec parameters to open its decoder elsewhere."""

    name: str
    extradata: bytes | None
    width: int
    height: int
    pix_fmt: str | None
    time_base: Fraction

    @classmethod
    def of(cls, stream: av.video.stream.VideoStream) -> CodecParams:
        """The parameters of a demuxed video stream."""
        ctx = stream.codec_context
        return cls(
            ctx.name, bytes(ctx.extradata) if ctx.extradata else None, ctx.width, ctx.height, ctx.pix_fmt,
            stream.time_base or Fraction(1, 90000),
        )  # fmt: skip

    def decoder(self) -> av.VideoCodecContext:
        """A fresh decoder for these parameters (frame threads on)."""
        ctx = cast(av.VideoCodecContext, av.CodecContext.create(self.name, "r"))  # a video codec by its name
        if self.extradata:
            ctx.extradata = self.extradata
        if self.width and self.height:
            ctx.width, ctx.height = self.width, self.height
        if self.pix_fmt:
            try:
                ctx.pix_fmt = self.pix_fmt
            except (ValueError, AttributeError):
                pass
        ctx.thread_type = "AUTO"
        return ctx


@dataclass(frozen=True)
class SegmentTask:
    """One segment's work: its video packets (decode order) and how to encode the result."""

    segment: Segment
    total: int  # segments in the film, for messages
    codec: CodecParams
    info: VideoInfo
    packets: tuple[tuple[bytes, int | None, int | None, bool], ...]  # (data, pts, dts, keyframe)
    settings: Settings
    suffix: str  # the output's container, e.g. ".mp4": segments are written in the same one

    @classmethod
    def build(
        cls, segment: Segment, packets: list[av.Packet], source: MediaSource, settings: Settings, suffix: str,
        total: int,
    ) -> SegmentTask:  # fmt: skip
        """Copy the packets' bytes out of the demuxer into a task."""
        data = tuple((bytes(p), p.pts, p.dts, bool(p.is_keyframe)) for p in packets)
        return cls(segment, total, CodecParams.of(source.video), source.info, data, settings, suffix)

    @property
    def size(self) -> int:
        """Bytes of compressed video in the task."""
        return sum(len(p[0]) for p in self.packets)


@dataclass(frozen=True)
class SegmentResult:
    """An encoded segment and what it cost."""

    index: int
    data: bytes  # the segment as a file in the output's container
    frames: int
    model_runs: int
    seconds: float  # wall time the worker spent on it
    damaged: int  # frames decoded from damaged data (concealed by the decoder)
    worker: str  # host:pid, for the journal
