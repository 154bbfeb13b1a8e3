"""Joining: the segments' video packets, in order, with the input's audio and subtitles, into OUT.

    >>> frames = join_segments(files, "film.mkv", Path("film_colour.mkv"), settings)

The video is copied packet for packet from the segment files (no re-encode) by ``io/muxer.PacketMuxer``;
every other stream comes from the input exactly as a plain run copies it, through the same parts as
``FileSink`` (its plan of copies, text-subtitle rewrapping, ``--audio-codec`` transcoding, hidden
temporary file and atomic rename).  Packets of the two sides are merged by time, so the muxer's interleaving
buffer stays small.  Segments must agree on the codec parameters of the first one (the same
encoder with the same settings gives the same SPS/PPS); a segment that does not is named.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from pathlib import Path

import av

from ..config import Settings
from ..errors import MediaError
from ..io.commit import Outcome
from ..io.encoders import is_image_sequence
from ..io.inputs import open_input
from ..io.muxer import PacketMuxer
from ..io.packets import PacketFile, copied_packets
from ..io.source import MediaSource
from ..io.stream import open_video
from ..io.trim import Trim

# Outputs joined from segments kept in the same container.
SAME_CONTAINER = (".mp4", ".m4v", ".mov", ".3gp", ".mkv", ".webm")
# Outputs whose own segment files do not join (their muxers move a file's timestamps so that none
# is negative, which shifts the first segment against the rest): their segments are kept in
# Matroska, whose timestamps come back as written; the MPEG-TS muxer turns the H.264 into the
# byte stream it carries by itself.
VIA_MATROSKA = (".ts", ".m2ts", ".mts", ".flv")


def segment_suffix(output: Path) -> str | None:
    """The container the segments of ``output`` are kept in; None when ``output`` cannot be joined
    from segments (pictures: GIF, an image sequence; AVI, MPEG-PS, ASF: timestamps the join
    cannot carry over), so it is made in one pass."""
    suffix = output.suffix.lower()
    if is_image_sequence(output):
        return None
    if suffix in SAME_CONTAINER:
        return suffix
    return ".mkv" if suffix in VIA_MATROSKA else None


def _time(packet: av.Packet) -> float:
    stamp = packet.dts if packet.dts is not None else packet.pts
    return float(stamp * packet.time_base) if stamp is not None and packet.time_base else 0.0


def _video_packets(files: list[Path], extradata: bytes | None) -> Iterator[tuple[float, int, av.Packet]]:
    for n, path in enumerate(files):
        try:
            with PacketFile(path) as segment:
                if segment.extradata != extradata:
                    raise MediaError(
                        f"segment {n + 1} was encoded with other codec parameters than segment 1 "
                        "(workers with different encoder versions?); it cannot be joined"
                    )
                packets = list(segment.video_packets())
                _fill_dts(packets)
                for packet in packets:
                    yield _time(packet), 0, packet
        except av.error.FFmpegError as exc:
            raise MediaError(f"segment {n + 1} ({path.name}) is unreadable: {exc.strerror or exc}") from exc


def _fill_dts(packets: list[av.Packet]) -> None:
    """Give packets the decode timestamps some demuxers leave out (Matroska at a segment's start).

    Decode order shows the presentation times in sorted order, shifted by the encoder's delay;
    the delay comes from the packets whose dts is known (or the least that keeps dts <= pts).
    """
    pts = [p.pts for p in packets if p.pts is not None]
    if all(p.dts is not None for p in packets) or len(pts) < len(packets):
        return
    ordered = sorted(pts)
    known = [ordered[j] - p.dts for j, p in enumerate(packets) if p.dts is not None]
    delay = max(known) if known else max(ordered[j] - pts[j] for j in range(len(packets)))
    for j, packet in enumerate(packets):
        if packet.dts is None:
            packet.dts = ordered[j] - delay


# Copied streams are read this far past ``until`` before stopping: muxers interleave audio a little
# out of time order, so the first packet past the cut does not mean all later ones are.
UNTIL_SLACK = 5.0


def _copied_packets(source: MediaSource, until: float | None = None) -> Iterator[tuple[float, int, av.Packet]]:
    for packet in copied_packets(source):
        at = _time(packet)
        if until is not None and at >= until:
            if at >= until + UNTIL_SLACK:
                return
            continue
        yield at, 1, packet


def join_segments(
    files: list[Path],
    input: str | Path,
    output: Path,
    settings: Settings,
    until: float | None = None,
    overwrite: bool = True,
) -> tuple[Path, int]:
    """Write ``output`` from the segment files and the input's other streams; return (path, frames).

    ``until`` (seconds of the input): the first segments of an interrupted job; the copied streams
    are cut there and the result is kept as ``name.partial.ext`` instead of ``output``.  Without
    ``overwrite`` an ``output`` that appeared meanwhile is not replaced (``outputs.claim``).
    """
    if not files:
        raise MediaError("no segments to join")
    source = open_video(input, copy_kinds=settings.encode.copy_kinds)
    try:
        with PacketMuxer(output, source.info, source.copy_streams, settings.encode, overwrite=overwrite) as muxer:
            with open_input(files[0]) as first:
                template = first.streams.video[0]
                extradata = bytes(template.codec_context.extradata) if template.codec_context.extradata else None
                muxer.open_video(template)
            video, copied = _video_packets(files, extradata), _copied_packets(source, until)
            merged = heapq.merge(video, copied, key=lambda t: (t[0], t[1]))
            origin, untrimmed = source.origin, Trim()  # the output starts at zero, as a plain run's does
            for _, kind, packet in merged:
                untrimmed.shift_packet(packet, origin)
                if kind == 0:
                    muxer.write_video(packet)
                else:
                    muxer.write(packet)
            path = muxer.commit(Outcome.DONE if until is None else Outcome.PARTIAL)
    finally:
        source.close()
    assert path is not None
    return path, muxer.frames
