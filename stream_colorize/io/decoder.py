"""Decoding compressed video packets that travelled without their file (a cluster worker's input).

    >>> video = EncodedVideo(CodecParams.of(source.video), raw_packets(packets), rate)
    >>> stream = open_video(video)                # PacketStream: a VideoStream, gray frames
    >>> for frame in stream.frames(): ...         # pts as in the input; stream.stats counts damage

Everything in ``EncodedVideo`` pickles (bytes, numbers), so it can be decoded on another machine.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import cast

import av

from ..frames import Frame
from .picture import frame_picture
from .stats import SourceStats

RawPacket = tuple[bytes, int | None, int | None, bool]  # (data, pts, dts, keyframe)


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


def raw_packets(packets: list[av.Packet]) -> tuple[RawPacket, ...]:
    """Demuxed packets as plain data (bytes, pts, dts, keyframe), copied out of the demuxer."""
    return tuple((bytes(p), p.pts, p.dts, bool(p.is_keyframe)) for p in packets)


def _owned_packet(data: bytes) -> av.Packet:
    """A packet holding a copy of ``data`` in memory FFmpeg owns.

    ``av.Packet(data)`` would lend Python's bytes, and freeing them takes the GIL: a decoder
    dropped with frames in flight (a stopped segment) has its frame threads wait for the GIL
    that the thread freeing the decoder holds while it waits for them, a deadlock.
    """
    packet = av.Packet(len(data))
    packet.update(data)
    return packet


@dataclass(frozen=True)
class EncodedVideo:
    """Compressed video packets in decode order and what decodes them."""

    codec: CodecParams
    packets: tuple[RawPacket, ...]
    rate: Fraction | None = None  # the nominal frame rate, when known


class PacketStream:
    """A ``VideoStream`` decoding ``EncodedVideo`` into gray ``Frame``s (pts from the input).

    Also a pipeline source (``items()``, ``stop()``).  ``stats.corrupt`` counts the packets the
    decoder refused, ``stats.damaged`` the frames it concealed.
    """

    def __init__(self, video: EncodedVideo) -> None:
        self.video = video
        self.fps = float(video.rate) if video.rate else 0.0
        self.time_base: Fraction = video.codec.time_base
        self.stats = SourceStats()
        self._stopped = False

    def stop(self) -> None:
        """Make ``frames()`` end at the next packet."""
        self._stopped = True

    def frames(self) -> Iterator[Frame]:
        """Decoded frames in presentation order."""
        decoder = self.video.codec.decoder()
        for data, pts, dts, key in self.video.packets:
            if self._stopped:
                return
            packet = _owned_packet(data)
            packet.pts, packet.dts, packet.time_base = pts, dts, self.time_base
            packet.is_keyframe = key
            try:
                decoded = decoder.decode(packet)
            except (av.error.InvalidDataError, av.error.FFmpegError):
                self.stats.corrupt += 1
                continue
            yield from map(self._frame, decoded)
        try:
            rest = decoder.decode(None)
        except (av.error.InvalidDataError, av.error.FFmpegError):
            rest = []
        yield from map(self._frame, rest)

    items = frames  # the pipeline's name for it

    def _frame(self, frame: av.VideoFrame) -> Frame:
        if frame.is_corrupt:
            self.stats.damaged += 1
        index = self.stats.frames
        self.stats.kept(float(frame.pts * self.time_base) if frame.pts is not None else None)
        return Frame(index, frame_picture(frame), frame.pts, self.time_base)

    def close(self) -> None:
        """Nothing to release (the decoder goes with ``frames()``)."""
