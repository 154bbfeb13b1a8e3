"""Reading packets without decoding them: a film's video packet index, its packets by position,
its copied streams' packets, and the video packets of a finished file.

    >>> index = packet_index(source)                        # PacketIndex: pts, dts, key, size
    >>> for packets in packet_ranges(source, [(0, 120), (96, 240)]): ...
    >>> with PacketFile("segment.mp4") as f: packets = list(f.video_packets())

These are the cluster's readers (segment plan, the packets each worker gets, the join) and the
frame count of an output; ``source.MediaSource`` opens the input and decodes it otherwise.
PyAV's errors pass through: each caller words them for its context.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from .inputs import open_input
from .source import MediaSource


@dataclass(frozen=True)
class PacketInfo:
    """One video packet as demuxed (decode order)."""

    pts: int | None
    dts: int | None
    key: bool
    size: int


@dataclass(frozen=True)
class PacketIndex:
    """Every video packet of a film, in decode order, with its stream's time base."""

    packets: tuple[PacketInfo, ...]
    time_base: Fraction

    def digest(self) -> str:
        """SHA-256 over every packet's timestamps, flags and size: the film's structure."""
        h = hashlib.sha256(str(self.time_base).encode())
        for p in self.packets:
            h.update(f"{p.pts},{p.dts},{int(p.key)},{p.size};".encode())
        return h.hexdigest()


def _video_packets(source: MediaSource) -> Iterator[av.Packet]:
    """The source's video packets that carry data, in decode order, nothing decoded."""
    return (packet for packet in source.container.demux(source.video) if packet.size)


def packet_index(source: MediaSource) -> PacketIndex:
    """Demux (without decoding) every packet of the source's video stream; rewinds afterwards."""
    packets = tuple(PacketInfo(p.pts, p.dts, bool(p.is_keyframe), p.size) for p in _video_packets(source))
    source.container.seek(0)
    return PacketIndex(packets, source.video.time_base or Fraction(1, 90000))


def packet_ranges(source: MediaSource, ranges: Sequence[tuple[int, int]]) -> Iterator[list[av.Packet]]:
    """One forward demux pass: for each ``(first, stop)`` in ``ranges`` (sorted by both ends), the
    video packets at positions ``first`` to ``stop - 1`` (positions count packets with data).

    Packets two ranges share are kept until both have them; nothing else is held, so memory
    stays at about one range's packets.  An input shorter than the ranges gives what it has.
    """
    if not ranges:
        return
    position = -1
    held: dict[int, av.Packet] = {}
    queue = list(ranges)
    for packet in _video_packets(source):
        position += 1
        if position >= queue[0][0]:
            held[position] = packet
        while queue and position + 1 >= queue[0][1]:
            first, stop = queue.pop(0)
            yield [held[i] for i in range(first, stop) if i in held]
            keep_from = queue[0][0] if queue else position + 1
            held = {i: p for i, p in held.items() if i >= keep_from}
        if not queue:
            return
    for first, stop in queue:  # the input ended earlier than the ranges say (it changed under us)
        yield [held[i] for i in range(first, stop) if i in held]


def copied_packets(source: MediaSource) -> Iterator[av.Packet]:
    """The packets of the source's copied streams (audio, subtitles, data) that carry data and a
    decode time, in demux order; nothing when it copies no stream."""
    if not source.copy_streams:
        return
    for packet in source.container.demux(source.copy_streams):
        if packet.dts is not None and packet.size:
            yield packet


def probe_rotation(source: MediaSource) -> None:
    """Set ``source.info.rotation`` from the first decoded frame (as ``items()`` learns it) and
    rewind; a first frame that cannot be decoded is left to whoever decodes it next."""
    try:
        for frame in source.container.decode(source.video):
            if frame.rotation:
                source.info.rotation = float(frame.rotation)
            break
    except av.error.FFmpegError:
        pass
    source.container.seek(0)


class PacketFile:
    """A finished file read packet by packet, nothing decoded (the join's segments, frame counts)."""

    def __init__(self, path: str | Path) -> None:
        self.container = open_input(path)
        try:
            self.video = self.container.streams.video[0]
        except BaseException:
            self.container.close()
            raise

    @property
    def extradata(self) -> bytes | None:
        """The video codec's extradata (SPS/PPS and the like), None when it has none."""
        ctx = self.video.codec_context
        return bytes(ctx.extradata) if ctx.extradata else None

    def video_packets(self) -> Iterator[av.Packet]:
        """The first video stream's packets that carry data, in decode order."""
        return (packet for packet in self.container.demux(self.video) if packet.size)

    def close(self) -> None:
        """Close the file."""
        self.container.close()

    def __enter__(self) -> PacketFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def count_video_packets(path: str | Path) -> int:
    """Video packets with data in a finished file (what a partial output really holds)."""
    with PacketFile(path) as file:
        return sum(1 for _ in file.video_packets())
