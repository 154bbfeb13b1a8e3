"""The one PyAV reader: files, URLs, devices and lavfi graphs, decoded to gray (or BGR) frames.

    >>> with MediaSource("film.mkv") as source:
    ...     for item in source.items():             # Frame or av.Packet, in demux order
    ...         if isinstance(item, Frame): print(item.index, item.pts, item.image.shape)

``items()`` yields one ``Frame`` per decoded video frame (gray uint8 by default, which is all
the model and the merge need) and, unchanged, every packet of the streams a sink should copy
(audio, subtitles, data); ``frames()`` (the ``stream.VideoStream`` protocol) yields the frames
and hands those packets to ``on_packet``.  A file's decoding errors in the middle are skipped
and counted in ``stats``; a file that ends early is noticed and reported there too (``stats``).
``stop()`` makes ``items()`` end at the next packet, from any thread.  A ``live`` reader (see
``stream.open_video``) lets PyAV's errors through instead, so that ``live_source.LiveSource``
can word them and reconnect.  Trimming is ``trim.Trim``; what the video is, ``info``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import av

from ..errors import InputNotFoundError, MediaError
from ..frames import Frame
from ..limits import MAX_VIDEO_PIXELS, check_picture_size
from .info import VideoInfo, describe_stream, is_url, main_video_stream, video_info
from .inputs import Timeout, is_stdin, open_input
from .picture import frame_picture
from .stats import SourceStats
from .trim import Trim

__all__ = ["COPY_KINDS", "MediaSource"]

log = logging.getLogger("stream_colorize")

COPY_KINDS = ("audio", "subtitle", "data")
_NO_TRIM = Trim()


class MediaSource:
    """A demuxer and video decoder for one input (file path, URL, device or lavfi graph).

    ``colour`` asks for BGR pictures instead of gray: always (True) or while ``colour()`` says so
    (live's side by side); gray is decoded straight from luma, several times cheaper downstream.
    ``timeout`` (seconds, or (open, read) seconds) bounds opening and each read for network inputs;
    RTSP uses TCP.  ``trim`` keeps part of the input (ffmpeg's ``-ss``/``-to``/``-t``).
    ``copy_kinds`` selects the stream types whose packets ``items()`` passes through and
    ``frames()`` hands to ``on_packet``.  ``options`` and ``input_format`` go to FFmpeg.
    ``live``: a live input (camera, stream, or a file or graph played live): the first video
    stream is read, a file's checks (still image, picture size) are left out, and PyAV's errors
    pass through unworded (a read or decode error ends ``frames()`` with it); only its first audio
    stream is copied.
    """

    def __init__(
        self,
        name: str | Path,
        *,
        color: bool | Callable[[], bool] = False,
        timeout: float | tuple[float, float] = 10.0,
        trim: Trim = _NO_TRIM,
        copy_kinds: tuple[str, ...] = COPY_KINDS,
        on_packet: Callable[[av.Packet], None] | None = None,
        options: dict[str, str] | None = None,
        input_format: str | None = None,
        live: bool = False,
    ) -> None:
        self.name = str(name)
        self._color: Callable[[], bool] = color if callable(color) else (lambda: bool(color))
        self.trim = trim
        self.on_packet = on_packet
        self.live = live
        self.stats = SourceStats()
        self._stop = threading.Event()
        self.container = self._open(timeout, options, input_format)
        try:
            self.video = self._pick_video()
            if self.video.codec_context is None:  # live: LiveSource names the source (URL password masked)
                raise MediaError(f"{'' if live else self.name + ': '}no decoder for its video codec")
            if not live and self._looks_like_image():
                raise MediaError(f"{self.name} is a still image, not a video; use 'stream-colorize image' for photos")
            self.video.thread_type = "AUTO"
            streams = self.container.streams
            if live:
                self.copy_streams = list(streams.audio[:1]) if "audio" in copy_kinds else []
            else:
                self.copy_streams = [s for s in streams if s.type in copy_kinds and s is not self.video]
            self.info: VideoInfo = video_info(self.container, self.video)
            if not live:
                check_picture_size(self.name, self.info.width, self.info.height, MAX_VIDEO_PIXELS, "a video picture")
            if self.info.width * self.info.height > 3840 * 2160:
                # Frame threads each hold whole pictures (50 MB apiece at 8K): slices only.
                self.video.thread_type = "SLICE"
        except BaseException:
            self.container.close()
            raise

    # -- opening -----------------------------------------------------------------------------
    def _open(self, timeout: float | tuple[float, float], options: dict | None, input_format: str | None):
        text, opts = self.name, dict(options or {})
        limits: Timeout = timeout if isinstance(timeout, tuple) else (timeout, timeout)
        if self.live:  # LiveSource words the errors (and decides whether to reconnect)
            return open_input(text, options=opts, format=input_format, timeout=limits)
        if not is_url(text) and not is_stdin(text) and input_format is None:
            path = Path(text)
            if not path.exists():
                raise InputNotFoundError(f"input not found: {path}")
            if path.is_dir():
                raise MediaError(f"{path} is a folder; give a video file (or a folder as both input and output)")
        try:
            return open_input(text, options=opts, format=input_format, timeout=limits if is_url(text) else None)
        except av.error.FileNotFoundError as exc:
            raise InputNotFoundError(f"input not found: {text}") from exc
        except av.error.PermissionError as exc:
            raise MediaError(f"cannot read {text}: permission denied") from exc
        except (av.error.InvalidDataError, av.error.EOFError, av.error.TimeoutError) as exc:
            if is_url(text):  # a server that accepts the connection and then says nothing
                seconds = timeout[0] if isinstance(timeout, tuple) else timeout
                raise MediaError(f"no answer from {text} within {seconds:g} s (is the stream running?)") from exc
            raise MediaError(f"{text} is not a media file FFmpeg can read, or it is damaged (invalid data)") from exc
        except av.error.FFmpegError as exc:
            raise MediaError(f"cannot open {text}: {exc.strerror or exc}") from exc
        except OSError as exc:
            raise MediaError(f"cannot open {text}: {exc.strerror or exc}") from exc

    def _pick_video(self) -> av.video.stream.VideoStream:
        videos = list(self.container.streams.video)
        if not videos:
            if self.live:
                raise MediaError("no video stream")
            kinds = ", ".join(sorted({s.type for s in self.container.streams})) or "nothing"
            raise MediaError(f"{self.name} has no video stream (it holds {kinds}); give a video file")
        if self.live:
            return videos[0]
        video = main_video_stream(videos)
        for other in videos:
            if other is not video:
                cover = "cover art " if other.disposition & av.stream.Disposition.attached_pic else ""
                log.warning("%s%s left out: only stream #%d is colorized", cover, describe_stream(other), video.index)
        return video

    def _looks_like_image(self) -> bool:
        # An animated GIF is footage (old clips often come as GIFs); everything else read by an
        # image demuxer is a still.
        fmt = self.container.format.name or ""
        return fmt.endswith("_pipe") or fmt == "image2"

    # -- the VideoStream protocol ------------------------------------------------------------
    @property
    def fps(self) -> float:
        """The nominal frame rate, 0 when unknown."""
        return float(self.info.rate) if self.info.rate else 0.0

    @property
    def time_base(self) -> Fraction:
        """The time base of the frames' pts."""
        return self.info.time_base

    @property
    def audio(self) -> av.audio.stream.AudioStream | None:
        """The first audio stream whose packets are passed on (None when there is none)."""
        return next((s for s in self.copy_streams if isinstance(s, av.audio.stream.AudioStream)), None)

    def frames(self) -> Iterator[Frame]:
        """The decoded video frames; the copied streams' packets go to ``on_packet`` (if given)."""
        for item in self.items():
            if isinstance(item, Frame):
                yield item
            elif self.on_packet is not None:
                self.on_packet(item)

    def close(self) -> None:
        """Close the input (a broken live stream's error on closing is not news)."""
        try:
            self.container.close()
        except Exception:  # noqa: BLE001 - closing a broken stream must not mask the real error
            if not self.live:
                raise

    # -- reading -----------------------------------------------------------------------------
    def stop(self) -> None:
        """Make ``items()`` finish at the next packet (thread-safe)."""
        self._stop.set()

    @property
    def video_start(self) -> float:
        """The video stream's first timestamp in seconds (where ``start``/``end`` count from)."""
        v = self.video
        return float(v.start_time * v.time_base) if v.start_time is not None and v.time_base else 0.0

    @property
    def origin(self) -> float:
        """Seconds every kept timestamp is moved back by besides ``-ss``: the input's first
        timestamp (a transport stream's clock may stand at hours), so the output starts at zero as
        ffmpeg's does.  The earliest stream counts, so audio and video keep their offset; a
        negative start (an MP4's edit list) and live inputs are left as they are."""
        if self.live:
            return 0.0
        start = self.container.start_time  # in AV_TIME_BASE units, the earliest stream's
        seconds = start / av.time_base if start is not None else self.video_start
        return max(0.0, min(seconds, self.video_start) if self.video.start_time is not None else seconds)

    def _past_duration(self, packet: av.Packet) -> bool:
        """True for a copied packet at or after the end ``-t`` sets (from the first frame kept, or
        from where that frame is due while none is yet): demuxers read audio a little ahead of the
        video, and ffmpeg cuts every stream at the same time."""
        trim, when = self.trim, packet.pts if packet.pts is not None else packet.dts
        if trim.duration is None or when is None or not packet.time_base:
            return False
        first = self.stats.first_time
        if first is None:
            first = self.video_start + (trim.start or 0.0)
        return trim.past_duration(float(when * packet.time_base), first)

    def _since_start(self, stamp: int | None, time_base: Fraction | None) -> float | None:
        return float(stamp * time_base) - self.video_start if stamp is not None and time_base else None

    def items(self) -> Iterator[Frame | av.Packet]:
        """Frames of the video and packets of the copied streams, in demux order."""
        index = 0
        video_packets = 0
        trim, stats = self.trim, self.stats
        origin = self.origin
        trim.seek(self.container, self.video, self.video_start, self.info.time_base)
        demux = self.container.demux([self.video, *self.copy_streams])
        while not self._stop.is_set():
            try:
                packet = next(demux)
            except StopIteration:
                break
            except (av.error.InvalidDataError, av.error.FFmpegError) as exc:
                if self.live:
                    raise
                if not isinstance(exc, av.error.EOFError):  # a damaged container: keep what decoded and say so
                    stats.stopped_early(f"reading stopped early ({exc.strerror or exc})")
                break
            if packet.stream is not self.video:
                if packet.dts is not None and packet.size:
                    when = packet.pts if packet.pts is not None else packet.dts
                    if trim.where(self._since_start(when, packet.time_base)) == 0 and not self._past_duration(packet):
                        yield trim.shift_packet(packet, origin)
                continue
            if packet.size:
                video_packets += 1
            damaged = packet.is_corrupt
            try:
                frames = packet.decode()
            except (av.error.InvalidDataError, av.error.FFmpegError) as exc:
                if self.live:
                    raise
                stats.corrupt += 1
                log.debug("skipped a corrupt video packet: %s", exc)
                continue
            for frame in frames:
                assert isinstance(frame, av.VideoFrame)  # a video stream's packets decode to pictures
                if not self.live and frame.width * frame.height > MAX_VIDEO_PIXELS:  # grew: keep what was done
                    stats.stopped_early(
                        f"stopped at {index} frames: the picture grew to {frame.width}x{frame.height}, "
                        f"above the {MAX_VIDEO_PIXELS / 1e6:.1f}-megapixel limit (8192x4352)"
                    )
                    self._stop.set()
                    break
                if damaged or frame.is_corrupt:
                    stats.damaged += 1
                if frame.rotation and index == 0:
                    self.info.rotation = float(frame.rotation)
                tb = frame.time_base or self.video.time_base
                where = trim.where(self._since_start(frame.pts, tb))
                if where < 0:
                    stats.before_start += 1
                    continue  # before -ss: decoded only to reach the first kept frame
                t = float(frame.pts * tb) if frame.pts is not None and tb else None
                first = stats.first_time if stats.first_time is not None else t
                if where > 0 or (t is not None and first is not None and trim.past_duration(t, first)):
                    stats.limit_reached = True
                    self._stop.set()
                    break
                item = Frame(index, frame_picture(frame, not self._color()), trim.shift(frame.pts, tb, origin), tb)
                stats.kept(t)
                index += 1
                yield item
        if not self._stop.is_set():
            v = self.video
            start = float(v.start_time * self.info.time_base) if v.start_time is not None else 0.0
            stats.finish(video_packets, self.info.duration, self.info.rate, start)

    def __enter__(self) -> MediaSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
