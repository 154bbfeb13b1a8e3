"""Media sources: open a file or URL with PyAV, decode its video to gray frames, pass the rest on.

    >>> with MediaSource("film.mkv") as source:
    ...     for item in source.items():             # Frame or av.Packet, in demux order
    ...         if isinstance(item, Frame): print(item.index, item.pts, item.image.shape)

``items()`` yields one ``Frame`` per decoded video frame (gray uint8 by default, which is all
the model and the merge need) and, unchanged, every packet of the streams a sink should copy
(audio, subtitles, data).  Decoding errors in the middle are skipped and counted in ``stats``; a
file that ends early is noticed and reported there too.  ``stop()`` makes ``items()`` end at the
next packet, from any thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from ..errors import InputNotFoundError, MediaError
from ..frames import Frame
from ..limits import MAX_VIDEO_PIXELS, check_picture_size
from .devices import NETWORK_SCHEMES
from .inputs import open_input

log = logging.getLogger("stream_colorize")

_URL_PREFIXES = tuple(f"{scheme}://" for scheme in NETWORK_SCHEMES)
COPY_KINDS = ("audio", "subtitle", "data")


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


@dataclass
class SourceStats:
    """What the source saw: frames decoded, packets skipped as corrupt, an early end."""

    frames: int = 0
    corrupt: int = 0  # video packets that gave no frame (undecodable, skipped)
    damaged: int = 0  # frames decoded from damaged data (kept, concealed by the decoder)
    truncated: bool = False
    last_time: float | None = None
    note: str = ""
    first_time: float | None = None  # of the first frame kept
    limit_reached: bool = False  # stopped by ``duration`` or ``end``, not by the input ending

    @property
    def seconds(self) -> float:
        """Seconds of video kept (first to last frame kept, plus one frame's time if known)."""
        if self.first_time is None or self.last_time is None or self.frames == 0:
            return 0.0
        span = self.last_time - self.first_time
        return span + span / max(self.frames - 1, 1) if self.frames > 1 else 0.0


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


def _bit_depth(stream: av.video.stream.VideoStream) -> int:
    try:
        fmt = stream.codec_context.format
        return max(c.bits for c in fmt.components) if fmt is not None else 8
    except (AttributeError, ValueError):
        return 8


class MediaSource:
    """A demuxer and video decoder for one input (file path or URL).

    ``gray=True`` decodes straight to 8-bit luma, several times cheaper downstream than BGR.
    ``timeout`` (seconds) bounds opening and each read for network inputs; RTSP uses TCP.
    ``duration`` stops after that many seconds of video (needed for endless live streams).
    ``start`` and ``end`` (seconds from the start of the video, as ffmpeg's ``-ss``/``-to``) trim
    the input: it is seeked to the key frame before ``start``, earlier frames and packets are
    dropped, and everything kept is shifted so the output starts where the input did.
    ``copy_kinds`` selects the stream types whose packets ``items()`` passes through.
    """

    def __init__(
        self,
        name: str | Path,
        *,
        gray: bool = True,
        timeout: float = 10.0,
        duration: float | None = None,
        copy_kinds: tuple[str, ...] = COPY_KINDS,
        options: dict[str, str] | None = None,
        input_format: str | None = None,
        start: float | None = None,
        end: float | None = None,
    ) -> None:
        self.name = str(name)
        self.gray = gray
        self.duration = duration
        self.start = start or None  # seconds from the video's start (ffmpeg's -ss)
        self.end = end  # seconds from the video's start (ffmpeg's -to)
        self.stats = SourceStats()
        self._stop = threading.Event()
        self.container = self._open(name, timeout, options, input_format)
        try:
            videos = self.container.streams.video
            if not videos:
                kinds = ", ".join(sorted({s.type for s in self.container.streams})) or "nothing"
                raise MediaError(f"{self.name} has no video stream (it holds {kinds}); give a video file")
            self.video = main_video_stream(list(videos))
            for other in videos:
                if other is not self.video:
                    cover = "cover art " if other.disposition & av.stream.Disposition.attached_pic else ""
                    log.warning("%s%s left out: only stream #%d is colorized",
                                cover, describe_stream(other), self.video.index)  # fmt: skip
            if self.video.codec_context is None:
                raise MediaError(f"{self.name}: no decoder for its video codec")
            if self._looks_like_image():
                raise MediaError(f"{self.name} is a still image, not a video; use 'stream-colorize image' for photos")
            self.video.thread_type = "AUTO"
            self.copy_streams = [s for s in self.container.streams if s.type in copy_kinds and s is not self.video]
            self.info = self._info()
            check_picture_size(self.name, self.info.width, self.info.height, MAX_VIDEO_PIXELS, "a video picture")
            if self.info.width * self.info.height > 3840 * 2160:
                # Frame threads each hold whole pictures (50 MB apiece at 8K): slices only.
                self.video.thread_type = "SLICE"
        except BaseException:
            self.container.close()
            raise

    # -- opening -----------------------------------------------------------------------------
    def _open(self, name: str | Path, timeout: float, options: dict | None, input_format: str | None):
        opts = dict(options or {})
        text = str(name)
        if not is_url(text) and input_format is None:
            path = Path(text)
            if not path.exists():
                raise InputNotFoundError(f"input not found: {path}")
            if path.is_dir():
                raise MediaError(f"{path} is a folder; give a video file (or a folder as both input and output)")
        try:
            return open_input(
                text, options=opts, format=input_format, timeout=(timeout, timeout) if is_url(text) else None
            )
        except av.error.FileNotFoundError as exc:
            raise InputNotFoundError(f"input not found: {text}") from exc
        except av.error.PermissionError as exc:
            raise MediaError(f"cannot read {text}: permission denied") from exc
        except (av.error.InvalidDataError, av.error.EOFError, av.error.TimeoutError) as exc:
            if is_url(text):  # a server that accepts the connection and then says nothing
                raise MediaError(f"no answer from {text} within {timeout:g} s (is the stream running?)") from exc
            raise MediaError(f"{text} is not a media file FFmpeg can read, or it is damaged (invalid data)") from exc
        except av.error.FFmpegError as exc:
            raise MediaError(f"cannot open {text}: {exc.strerror or exc}") from exc
        except OSError as exc:
            raise MediaError(f"cannot open {text}: {exc.strerror or exc}") from exc

    def _looks_like_image(self) -> bool:
        # An animated GIF is footage (old clips often come as GIFs); everything else read by an
        # image demuxer is a still.
        fmt = self.container.format.name or ""
        return fmt.endswith("_pipe") or fmt == "image2"

    def _info(self) -> VideoInfo:
        v = self.video
        ctx = v.codec_context
        duration = None
        if v.duration is not None and v.time_base:
            duration = float(v.duration * v.time_base)
        elif _tag_seconds(v.metadata.get("DURATION")) is not None:  # Matroska's per-stream tag
            duration = _tag_seconds(v.metadata.get("DURATION"))
        elif self.container.duration and not any(s.type == "subtitle" for s in self.container.streams):
            # The container's duration is its longest stream's: subtitles may outlast the video.
            duration = self.container.duration / 1_000_000
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

    # -- reading -----------------------------------------------------------------------------
    def stop(self) -> None:
        """Make ``items()`` finish at the next packet (thread-safe)."""
        self._stop.set()

    def _picture(self, frame: av.VideoFrame) -> np.ndarray:
        return frame_picture(frame, self.gray)

    @property
    def video_start(self) -> float:
        """The video stream's first timestamp in seconds (where ``start``/``end`` count from)."""
        v = self.video
        return float(v.start_time * v.time_base) if v.start_time is not None and v.time_base else 0.0

    def _seek_to_start(self) -> None:
        if not self.start:
            return
        v = self.video
        try:
            self.container.seek(int((self.video_start + self.start) / self.info.time_base), stream=v, backward=True)
        except (av.error.FFmpegError, OSError, ValueError) as exc:  # unseekable (a pipe): read from the top
            log.debug("cannot seek, reading from the start: %s", exc)

    def _outside(self, t: float | None) -> int:
        """-1 before ``start``, 1 at or after ``end``, 0 inside (or unknown)."""
        if t is None:
            return 0
        t -= self.video_start
        if self.start and t < self.start - 1e-6:
            return -1
        if self.end is not None and t >= self.end - 1e-6:
            return 1
        return 0

    def _shift_packet(self, packet: av.Packet) -> av.Packet:
        if self.start and packet.time_base:
            shift = round(self.start / packet.time_base)
            if packet.pts is not None:
                packet.pts -= shift
            if packet.dts is not None:
                packet.dts -= shift
        return packet

    @property
    def fps(self) -> float:
        """The nominal frame rate, 0 when unknown (``VideoStream``)."""
        return float(self.info.rate) if self.info.rate else 0.0

    @property
    def time_base(self) -> Fraction:
        """The time base of the frames' pts (``VideoStream``)."""
        return self.info.time_base

    def frames(self) -> Iterator[Frame]:
        """The decoded video frames only, copied streams left out (``io.stream.VideoStream``)."""
        for item in self.items():
            if isinstance(item, Frame):
                yield item

    def items(self) -> Iterator[Frame | av.Packet]:
        """Frames of the video and packets of the copied streams, in demux order."""
        index = 0
        video_packets = 0
        first_time: float | None = None
        streams = [self.video, *self.copy_streams]
        self._seek_to_start()
        demux = self.container.demux(streams)
        while not self._stop.is_set():
            try:
                packet = next(demux)
            except StopIteration:
                break
            except av.error.EOFError:
                break
            except (av.error.InvalidDataError, av.error.FFmpegError) as exc:
                # A damaged container: keep what decoded and say so.
                self.stats.truncated = True
                self.stats.note = f"reading stopped early ({exc.strerror or exc})"
                break
            if packet.stream is not self.video:
                if packet.dts is not None and packet.size:
                    when = packet.pts if packet.pts is not None else packet.dts
                    if self._outside(float(when * packet.time_base) if packet.time_base else None) == 0:
                        yield self._shift_packet(packet)
                continue
            if packet.size:
                video_packets += 1
            damaged = packet.is_corrupt
            try:
                frames = packet.decode()
            except (av.error.InvalidDataError, av.error.FFmpegError) as exc:
                self.stats.corrupt += 1
                log.debug("skipped a corrupt video packet: %s", exc)
                continue
            for frame in frames:
                if frame.width * frame.height > MAX_VIDEO_PIXELS:  # grew mid-stream: keep what was done
                    self.stats.truncated = True
                    self.stats.note = (
                        f"stopped at {index} frames: the picture grew to {frame.width}x{frame.height}, "
                        f"above the {MAX_VIDEO_PIXELS / 1e6:.0f}-megapixel limit"
                    )
                    self._stop.set()
                    break
                if damaged or frame.is_corrupt:
                    self.stats.damaged += 1
                if frame.rotation and index == 0:
                    self.info.rotation = float(frame.rotation)
                tb = frame.time_base or self.video.time_base
                t = float(frame.pts * tb) if frame.pts is not None and tb else None
                where = self._outside(t)
                if where < 0:
                    continue  # before -ss: decoded only to reach the first kept frame
                if where > 0:
                    self.stats.limit_reached = True
                    self._stop.set()
                    break
                pts = frame.pts - round(self.start / tb) if self.start and frame.pts is not None else frame.pts
                item = Frame(index, self._picture(frame), pts, tb)
                if t is not None:
                    first_time = t if first_time is None else first_time
                    if self.duration is not None and t - first_time >= self.duration:
                        self.stats.limit_reached = True
                        self._stop.set()
                        break
                    self.stats.first_time = first_time
                    self.stats.last_time = t
                index += 1
                self.stats.frames = index
                yield item
        if not self._stop.is_set():
            # The decoder drops frames it cannot rebuild without raising: count them too.
            self.stats.corrupt = max(self.stats.corrupt, video_packets - index)
        self._check_truncated()

    def _check_truncated(self) -> None:
        info, stats = self.info, self.stats
        if self._stop.is_set() or stats.truncated or info.duration is None or stats.last_time is None:
            return
        frame_time = float(1 / info.rate) if info.rate else 0.1
        start = float(self.video.start_time * self.info.time_base) if self.video.start_time is not None else 0.0
        if stats.last_time - start + 3 * frame_time < info.duration * 0.98:
            stats.truncated = True
            stats.note = (
                f"the input ends early: video decoded up to {stats.last_time - start:.2f} s of {info.duration:.2f} s"
            )

    def close(self) -> None:
        """Close the input."""
        self.container.close()

    def __enter__(self) -> MediaSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _tag_seconds(text: str | None) -> float | None:
    """Seconds from a Matroska DURATION tag such as '00:01:02.500000000'; None if absent or odd."""
    try:
        hours, minutes, seconds = (text or "").split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except ValueError:
        return None


def frame_picture(frame: av.VideoFrame, gray: bool = True) -> np.ndarray:
    """A decoded frame as the pipeline's picture: full-range gray uint8, or BGR when ``gray`` is False."""
    if not gray:
        return frame.to_ndarray(format="bgr24")
    if frame.format.name in ("yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "gray"):
        plane = frame.planes[0]
        y = np.frombuffer(memoryview(plane), np.uint8).reshape(plane.height, plane.line_size)[:, : frame.width]
        if frame.format.name.startswith("yuvj") or frame.format.name == "gray" or frame.color_range == 2:
            return y.copy()
        # studio-range luma (16..235) to full-range gray; cv2.LUT is ~4x faster than numpy
        # indexing here and releases the GIL for the other stages
        return cv2.LUT(y, _LIMITED_TO_FULL)
    return frame.to_ndarray(format="gray")


def _limited_to_full_table() -> np.ndarray:
    levels = (np.arange(256, dtype=np.float32) - 16.0) * (255.0 / 219.0)
    return np.clip(levels + 0.5, 0, 255).astype(np.uint8)


_LIMITED_TO_FULL = _limited_to_full_table()
