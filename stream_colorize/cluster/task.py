"""What travels between the driver and a worker: compressed packets in, an encoded segment out.

    >>> task = SegmentTask.build(segment, packets, source, settings, ".mp4", total=12)
    >>> result = SegmentWorker(settings).run(task)      # anywhere: another process, another machine
    >>> result.data                                     # the segment as a small .mp4, closed GOP

Everything here pickles (bytes, numbers, small dataclasses), so Ray and process pools move it as
it is.  No file path of the driver's machine is needed by a worker.
"""

from __future__ import annotations

from dataclasses import dataclass

import av

from ..config import Settings
from ..io.decoder import CodecParams, EncodedVideo, RawPacket, raw_packets
from ..io.info import VideoInfo
from ..io.source import MediaSource
from .plan import Segment


@dataclass(frozen=True)
class SegmentTask:
    """One segment's work: its video packets (decode order) and how to encode the result."""

    segment: Segment
    total: int  # segments in the film, for messages
    codec: CodecParams
    info: VideoInfo
    packets: tuple[RawPacket, ...]  # (data, pts, dts, keyframe)
    settings: Settings
    suffix: str  # the output's container, e.g. ".mp4": segments are written in the same one

    @classmethod
    def build(
        cls, segment: Segment, packets: list[av.Packet], source: MediaSource, settings: Settings, suffix: str,
        total: int,
    ) -> SegmentTask:  # fmt: skip
        """Copy the packets' bytes out of the demuxer into a task."""
        return cls(segment, total, CodecParams.of(source.video), source.info, raw_packets(packets), settings, suffix)

    @property
    def video(self) -> EncodedVideo:
        """The packets with their codec parameters, for ``io.stream.open_video``."""
        return EncodedVideo(self.codec, self.packets, self.info.rate)

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
