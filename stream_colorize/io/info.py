"""What an input's video is: the stream a reader picks, its properties, names for messages.

    >>> video = main_video_stream(list(container.streams.video))   # the film, not its cover art
    >>> info = video_info(container, video)                         # VideoInfo: size, rate, ...

Nothing here reads a packet; ``source.MediaSource`` opens and reads, ``sink.FileSink`` takes a
``VideoInfo`` to reproduce the picture.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
from av.container import InputContainer

from .devices import NETWORK_SCHEMES
from .inputs import open_input

_URL_PREFIXES = tuple(f"{scheme}://" for scheme in NETWORK_SCHEMES)


@dataclass
class VideoInfo:
    """The input video's properties a sink needs to reproduce it."""

    width: int
    height: int
    time_base: Fraction
    rate: Fraction | None
    sample_aspect_ratio: Fraction | None
    rotation: float
    bit_depth: int
    pix_fmt: str | None
    frames: int  # 0 when unknown
    duration: float | None  # seconds, None when unknown
    codec: str
    extra: dict = field(default_factory=dict)
    field_order: int = 0  # FFmpeg's AVFieldOrder: 0 unknown, 1 progressive, 2-5 interlaced (TT, BB, TB, BT)


def is_url(name: str | Path) -> bool:
    """True for network inputs (rtsp://, http://, ...)."""
    return str(name).lower().startswith(_URL_PREFIXES)


def describe_stream(stream: av.stream.Stream) -> str:
    """'stream #N (type codec, language)' for messages."""
    codec = stream.codec_context.name if stream.codec_context is not None else (stream.metadata.get("codec") or "data")
    lang = stream.metadata.get("language")
    return f"stream #{stream.index} ({stream.type} {codec}{', ' + lang if lang else ''})"


def main_video_stream(videos: list[av.video.stream.VideoStream]) -> av.video.stream.VideoStream:
    """The film among a file's video streams: the first that is not a still picture.

    Cover art and thumbnails are video streams too (flagged ``attached_pic``, or a single frame
    with no frame rate); they come first in some files, and colorizing them would lose the film.
    """

    def still(v: av.video.stream.VideoStream) -> bool:
        return bool(v.disposition & av.stream.Disposition.attached_pic) or v.frames == 1 or not v.average_rate

    return next((v for v in videos if not still(v)), videos[0])


def video_info(container: InputContainer, v: av.video.stream.VideoStream) -> VideoInfo:
    """The properties of video stream ``v`` of ``container`` (it must have a decoder)."""
    ctx = v.codec_context
    duration = None
    if v.duration is not None and v.time_base:
        duration = float(v.duration * v.time_base)
    elif _tag_seconds(v.metadata.get("DURATION")) is not None:  # Matroska's per-stream tag
        duration = _tag_seconds(v.metadata.get("DURATION"))
    elif container.duration and not any(s.type == "subtitle" for s in container.streams):
        # The container's duration is its longest stream's: subtitles may outlast the video.
        duration = container.duration / 1_000_000
    # Some demuxers (raw DV) report the time base as the average rate (60000 fps): skip
    # rates no film has and take the next estimate.
    rates = [r for r in (v.average_rate, v.guessed_rate, v.base_rate) if r and 0 < r <= 1000]
    rate = rates[0] if rates else None
    return VideoInfo(
        width=ctx.width,
        height=ctx.height,
        time_base=v.time_base or Fraction(1, 90000),
        rate=Fraction(rate) if rate else None,
        sample_aspect_ratio=v.sample_aspect_ratio,
        rotation=0.0,
        bit_depth=_bit_depth(v),
        pix_fmt=ctx.pix_fmt,
        frames=int(v.frames or 0),
        duration=duration,
        codec=ctx.name,
        field_order=int(ctx.field_order or 0),
    )


def _bit_depth(stream: av.video.stream.VideoStream) -> int:
    try:
        fmt = stream.codec_context.format
        return max(c.bits for c in fmt.components) if fmt is not None else 8
    except (AttributeError, ValueError):
        return 8


def _tag_seconds(text: str | None) -> float | None:
    """Seconds from a Matroska DURATION tag such as '00:01:02.500000000'; None if absent or odd."""
    try:
        hours, minutes, seconds = (text or "").split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except ValueError:
        return None


@dataclass(frozen=True)
class ImageHeader:
    """What an image file's header says, before its pixels are decoded."""

    width: int
    height: int
    bits: int  # per channel: 8, 16, 32 (float)
    alpha: bool  # it has a transparency plane


def image_header(path: Path) -> ImageHeader | None:
    """The size, bit depth and transparency from an image file's header, without decoding its
    pixels; None if unknown."""
    try:
        with open_input(path) as container:
            ctx = container.streams.video[0].codec_context
            if not (ctx.width and ctx.height):
                return None
            fmt = ctx.format
            components = list(fmt.components) if fmt is not None else []
            bits = max((c.bits for c in components), default=8)
            alpha = any(c.is_alpha for c in components) or fmt is None or fmt.name.startswith("pal")
            return ImageHeader(int(ctx.width), int(ctx.height), int(bits), bool(alpha))
    except Exception:  # noqa: BLE001 - any failure: fall back to decoding
        return None
