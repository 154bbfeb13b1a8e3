"""The segment plan: where a film is cut into independent pieces, from its video packets alone.

    >>> index = scan_video(source)                        # demux only (io.packets): pts, dts, keyframe flags
    >>> plan = plan_segments(index, seconds=30, warmup=24)
    >>> plan.segments[3].start_time, plan.segments[3].frames

Segments start at keyframes, so each decodes on its own.  They are about ``seconds`` long
(between half and one and a half times that); inside that window a keyframe the encoder put in
early (its GOP is shorter than the film's usual GOP: x264 and most encoders do that at a scene
cut) is preferred, so a segment tends to begin with a new shot.  Each segment also names a
warm-up: up to ``warmup`` frames before its start that the worker decodes and runs through the
model and the smoother without writing them, so the smoothing carries across the seam.  The
packets to decode for that start at the keyframe at or before the first warm-up frame.

A segment's frames are those whose pts lies in ``[start_pts, end_pts)``.  When the next GOP
opens with leading pictures (open GOP: frames shown before its keyframe), the packets sent with
a segment run on past the next keyframe until those leading pictures are included.
"""

from __future__ import annotations

import bisect
import statistics
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import av

from ..errors import MediaError
from ..io.packets import PacketIndex, packet_index, packet_ranges
from ..io.source import MediaSource

DEFAULT_SEGMENT_SECONDS = 30.0
DEFAULT_WARMUP = 48  # frames; the smoother's past weighs 0.97 (a memory of ~33 frames): 24 left a visible seam


@dataclass(frozen=True)
class Segment:
    """A piece of the film colourized on its own.  Packet numbers are positions in decode order."""

    index: int
    read_from: int  # first packet sent (the warm-up's keyframe)
    read_to: int  # one past the last packet sent
    start_pts: int | None  # first frame written (None: from the film's start)
    end_pts: int | None  # frames at or after this belong to the next segment (None: to the end)
    warm_pts: int | None  # frames in [warm_pts, start_pts) warm the smoother up, unwritten
    frames: int  # frames written
    start_time: float  # seconds, for messages
    end_time: float

    def label(self, total: int) -> str:
        """'segment 3 of 12 (60.0-90.0 s)' for messages."""
        return f"segment {self.index + 1} of {total} ({self.start_time:.1f}-{self.end_time:.1f} s)"


@dataclass(frozen=True)
class SegmentPlan:
    """The segments of one film and the parameters that produced them."""

    segments: tuple[Segment, ...]
    time_base: Fraction
    seconds: float
    warmup: int

    @property
    def frames(self) -> int:
        """Frames in the whole film."""
        return sum(s.frames for s in self.segments)


def scan_video(source: MediaSource) -> PacketIndex:
    """Every packet of the source's video stream, demuxed without decoding (``io.packets``); rewinds."""
    try:
        return packet_index(source)
    except (av.error.InvalidDataError, av.error.FFmpegError) as exc:
        raise MediaError(f"{source.name}: cannot read its packets to plan segments ({exc.strerror or exc})") from exc


def _keyframe_choice(times: list[float], keys: list[int], gop: float, lo: float, hi: float, target: float) -> int:
    """Among keyframe positions ``keys`` with time in [lo, hi], the best next segment start."""
    window = [k for k in keys if lo <= times[k] <= hi]
    if not window:
        later = [k for k in keys if times[k] > lo]
        return later[0] if later else -1
    position = {k: n for n, k in enumerate(keys)}

    def early(k: int) -> bool:  # an encoder-inserted keyframe: the GOP before it was cut short
        n = position[k]
        return n > 0 and times[k] - times[keys[n - 1]] < 0.9 * gop

    cuts = [k for k in window if early(k)]
    return min(cuts or window, key=lambda k: abs(times[k] - target))


def plan_segments(
    index: PacketIndex, seconds: float = DEFAULT_SEGMENT_SECONDS, warmup: int = DEFAULT_WARMUP
) -> SegmentPlan:
    """Cut the film at keyframes into segments of about ``seconds``; see the module docstring."""
    if seconds <= 0:
        raise ValueError("seconds must be > 0")
    packets = index.packets
    if not packets:
        raise MediaError("the video stream holds no packets; nothing to colorize")
    if any(p.pts is None for p in packets):
        raise MediaError("the video packets carry no presentation timestamps, so the film cannot be cut into segments")
    pts_of = [p.pts for p in packets if p.pts is not None]  # every one, as just checked
    tb = index.time_base
    times = [float(pts * tb) for pts in pts_of]
    keys = [i for i, p in enumerate(packets) if p.key]
    if not keys or keys[0] != 0:
        keys = [0, *[k for k in keys if k != 0]]
    gaps = [times[b] - times[a] for a, b in zip(keys, keys[1:])]
    gop = statistics.median(gaps) if gaps else 0.0
    film_start, film_end = min(times), max(times)

    starts = [0]
    while True:
        t0 = times[starts[-1]]
        nxt = _keyframe_choice(times, keys, gop, t0 + 0.5 * seconds, t0 + 1.5 * seconds, t0 + seconds)
        if nxt < 0 or film_end - times[nxt] < 0.5 * seconds:
            break  # no later keyframe, or the rest is too short to stand alone: it joins this segment
        starts.append(nxt)

    pts_sorted = sorted(pts_of)
    segments = []
    for n, first in enumerate(starts):
        stop = starts[n + 1] if n + 1 < len(starts) else len(packets)
        start_pts = None if n == 0 else pts_of[first]
        end_pts = None if stop == len(packets) else pts_of[stop]
        lo = 0 if start_pts is None else bisect.bisect_left(pts_sorted, start_pts)
        hi = len(pts_sorted) if end_pts is None else bisect.bisect_left(pts_sorted, end_pts)
        frames = hi - lo
        warm_pts, read_from = None, first
        if start_pts is not None and warmup > 0 and lo > 0:
            warm_pts = pts_sorted[max(0, lo - warmup)]
            read_from = max(k for k in keys if k <= first and pts_of[k] <= warm_pts)
        read_to = stop
        if end_pts is not None:
            # leading pictures of an open GOP follow its keyframe but are shown before it
            j = stop + 1
            while j < len(packets) and pts_of[j] < end_pts:
                j += 1
            read_to = j if j > stop + 1 else stop
        segments.append(
            Segment(
                index=n,
                read_from=read_from,
                read_to=read_to,
                start_pts=start_pts,
                end_pts=end_pts,
                warm_pts=warm_pts,
                frames=frames,
                start_time=(times[first] if n else film_start) - film_start,
                end_time=(times[stop] if end_pts is not None else film_end + _frame_time(times)) - film_start,
            )
        )
    return SegmentPlan(tuple(segments), tb, float(seconds), int(warmup))


def _frame_time(times: list[float]) -> float:
    ordered = sorted(times)
    steps = [b - a for a, b in zip(ordered, ordered[1:]) if b > a]
    return statistics.median(steps) if steps else 0.0


def segment_packets(
    source: MediaSource, plan: SegmentPlan, wanted: list[int]
) -> Iterator[tuple[Segment, list[av.Packet]]]:
    """One forward demux pass: each wanted segment (in order) with the video packets to send it
    (``io.packets.packet_ranges``: a warm-up shared with the previous segment is read once)."""
    todo = [plan.segments[n] for n in sorted(wanted)]
    yield from zip(todo, packet_ranges(source, [(seg.read_from, seg.read_to) for seg in todo]))
