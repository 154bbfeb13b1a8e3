"""The video side of an output: the encoder, pixel format and options that fit the output format,
and colour frames (``Frame.output``, BGR uint8, or ``Frame.planes``, yuv420p) turned into packets.

    >>> video = VideoEncoder(container, path, info, EncodeSettings(crf=18), pictures_only=False)
    >>> video.check()                              # before any work: UsageError for a bad --codec...
    >>> video.open(first_frame)                    # the stream, at the first picture's size
    >>> for packet in video.encode(frame): container.mux(packet)
    >>> for packet in video.flush(): container.mux(packet)

The stream keeps the source's timestamps and time base (variable frame rate survives), rotation
and sample aspect ratio.  Interlaced input stays interlaced (libx264 codes the fields); a picture
whose size changes mid-stream is scaled to the first size; GIF goes through a palette made for
the film (``palette.py``); picture-only formats get their own encoder and pixel format.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import cast

import av
import cv2
import numpy as np

from ..config import EncodeSettings
from ..errors import UsageError
from ..frames import Frame
from ..limits import QUEUE_BYTES
from .encoders import (
    available_video_encoders,
    check_encoder,
    colour_pix_fmt,
    container_codecs,
    fits_size,
    picture_codec,
    picture_pix_fmt,
    probe_encoder,
    subsampled,
)
from .info import VideoInfo
from .palette import PaletteFrames

log = logging.getLogger("stream_colorize")

BIG_PICTURE = 3840 * 2160  # pixels above which the encoder is told to hold fewer frames
_MPEG12_RATES = ((24000, 1001), (24, 1), (25, 1), (30000, 1001), (30, 1), (50, 1), (60000, 1001), (60, 1))


def choose_pix_fmt(options: EncodeSettings, codec: str, info: VideoInfo, width: int, height: int) -> str:
    """The encoder's pixel format for ``auto``: 4:2:0, 10-bit when the input was, 4:4:4 for odd
    sizes; for an encoder that takes none of those (MJPEG, ProRes, PNG, GIF) a colour format it does."""
    if options.pix_fmt != "auto":
        return options.pix_fmt
    deep = info.bit_depth > 8
    if width % 2 or height % 2:
        wanted = "yuv444p10le" if deep and codec in ("libx264", "libx265") else "yuv444p"
    elif deep and codec in ("libx264", "libx265", "libvpx-vp9", "libsvtav1"):
        wanted = "yuv420p10le"
    else:
        wanted = "yuv420p"
    try:
        encoder = av.Codec(codec, "w")
    except Exception:  # noqa: BLE001 - an unknown name is check_encoder's to report
        return wanted
    if codec == "mjpeg" and wanted.startswith("yuv4"):
        wanted = "yuvj" + wanted[3:]  # MJPEG takes studio range only with -strict: full range is its own
    return colour_pix_fmt(encoder, wanted, width, height, deep)


def field_mode(codec: str, info: VideoInfo) -> str | None:
    """'tff'/'bff' for interlaced input that libx264 will code as fields, else None."""
    if codec != "libx264" or info.field_order < 2:
        return None
    return "tff" if info.field_order in (2, 5) else "bff"  # TT, BT: the top field is shown first


def _picture(frame: Frame) -> np.ndarray:
    """The frame's picture as BGR or gray (yuv420p planes converted back: a rare path, see encode)."""
    if frame.planes is not None:
        return cv2.cvtColor(frame.planes, cv2.COLOR_YUV2BGR_I420)
    return frame.output if frame.output is not None else frame.image


def _size(frame: Frame) -> tuple[int, int]:
    """(height, width) of the frame's picture."""
    if frame.planes is not None:
        rows, width = frame.planes.shape
        return rows * 2 // 3, width
    height, width = (frame.output if frame.output is not None else frame.image).shape[:2]
    return height, width


class VideoEncoder:
    """The output's video stream and its encoder: chosen at once, opened at the first frame."""

    def __init__(
        self,
        container: av.container.OutputContainer,
        path: Path,
        info: VideoInfo,
        options: EncodeSettings,
        pictures_only: bool,
    ) -> None:
        self.container, self.path, self.info, self.options = container, path, info, options
        self.pictures_only = pictures_only
        self.codec = self._choose_codec()
        self.fields = field_mode(self.codec, info)  # "tff"/"bff" when writing interlaced frames
        self.stream: av.video.stream.VideoStream | None = None
        self._last_pts: int | None = None
        self._resized = 0  # frames scaled to the first size
        self._field_graph: av.filter.Graph | None = None
        self._palette: PaletteFrames | None = None  # GIF: frames mapped to a palette of their own
        self._i420: dict[tuple[int, int], bool] = {}  # takes_i420 by picture size, before the stream opens

    # -- choosing ----------------------------------------------------------------------------
    def _choose_codec(self) -> str:
        if self.options.codec != "auto":
            return self.options.codec
        container = self.container
        if self.pictures_only:
            return picture_codec(container.format.name, self.path, container.default_video_codec)
        supported = container_codecs(container)
        if supported is None or "libx264" in supported or "h264" in supported:
            return "libx264"
        return {"vp9": "libvpx-vp9", "vp8": "libvpx", "av1": "libsvtav1"}.get(
            container.default_video_codec, container.default_video_codec
        )

    def check(self, lenient: bool = False) -> str | None:
        """Refuse, before any work, an encoder that is unknown, cannot start here, or does not fit.

        ``lenient``: a codec the format's list leaves out is not refused here but its message
        returned, for ``rehearsal.rehearse`` to give only if the muxer refuses it too (the lists
        miss some: PNG video in Matroska)."""
        if not self.pictures_only and self.container.default_video_codec == "none":
            raise UsageError(
                f"{self.path} is an audio-only kind of file ({self.path.suffix}); the output must hold video: "
                "write .mp4, .mkv, .mov or .webm"
            )
        codec = check_encoder(self.codec, self.options.preset, self.options.pix_fmt)
        supported = container_codecs(self.container)
        if self.pictures_only and self.container.format.name != "image2":
            supported = set(self.container.supported_codecs)
        if supported is not None and codec.name not in supported and codec.canonical_name not in supported:
            fits = [n for n in available_video_encoders() if {n, av.Codec(n, "w").canonical_name} & supported]
            hint = f" (it takes {', '.join(fits)})" if fits else ""
            message = f"{self.path.suffix} files cannot hold {codec.name} video{hint}; choose another --codec"
            if not lenient:
                raise UsageError(message)
            unlisted: str | None = message
        else:
            unlisted = None
        width, height = self.info.width or 64, self.info.height or 64
        fmt = self._pix_fmt(codec, width, height)
        if not fits_size(fmt, width, height):
            across, down = subsampled(fmt)
            if across and down:
                kind, need = "4:2:0", "an even width and height"
            else:
                kind, need = ("4:2:2", "an even width") if across else ("4:4:0", "an even height")
            if self.options.pix_fmt != "auto":
                raise UsageError(
                    f"--pix-fmt {fmt} is {kind} (colour at half resolution), which needs {need}; the input is "
                    f"{width}x{height}: use --pix-fmt yuv444p (or leave --pix-fmt out)"
                )
            raise UsageError(
                f"{codec.name} writes only {kind} pictures ({fmt}), which need {need}; the input is {width}x{height}: "
                "use another --codec (libx264 writes odd sizes as 4:4:4)"
            )
        self._check_rate(codec.name)
        probe_encoder(codec.name, fmt, self._encoder_options())
        return unlisted

    def _check_rate(self, codec: str) -> None:
        """MPEG-1/2 video knows only the broadcast and film frame rates: refuse others up front."""
        if codec not in ("mpeg1video", "mpeg2video"):
            return
        rate = self._rate()
        known = [Fraction(n, d) for n, d in _MPEG12_RATES]
        if rate not in known:
            rates = ", ".join(f"{float(r):g}" for r in known)
            raise UsageError(
                f"{codec} cannot code {float(rate):g} frames a second (only {rates}); choose another --codec"
            )

    def _rate(self) -> Fraction:
        info = self.info
        return info.rate if info.rate and info.rate > 0 else Fraction(25)

    def takes_i420(self, height: int, width: int) -> bool:
        """Whether a picture of this size goes to the encoder as 8-bit yuv420p planes unchanged, so
        the merge may make those planes itself (``lab.merge_ab_i420``) instead of a BGR frame.
        Safe to call from another thread than the one that encodes."""
        if self.pictures_only or width % 2 or height % 2:
            return False
        stream = self.stream
        if stream is not None:
            return stream.pix_fmt == "yuv420p" and (stream.height, stream.width) == (height, width)
        if (height, width) not in self._i420:
            fmt = self._pix_fmt(av.Codec(self.codec, "w"), width, height)
            self._i420[height, width] = fmt == "yuv420p"
        return self._i420[height, width]

    def _pix_fmt(self, codec: av.Codec, width: int, height: int) -> str:
        if self.pictures_only and self.options.pix_fmt == "auto":
            return picture_pix_fmt(codec)
        return choose_pix_fmt(self.options, codec.name, self.info, width, height)

    def _encoder_options(self) -> dict[str, str]:
        opts, codec = self.options, self.codec
        if codec in ("libx264", "libx265"):
            found = {"crf": str(opts.crf), "preset": opts.preset}
            params = []
            if self.fields is not None:
                # Interlaced footage (TV, DV, DVD) stays interlaced: fields coded as fields, so a
                # player deinterlaces it as it did the original instead of showing combing.
                params.append(f"{self.fields}=1")
            if codec == "libx264" and self.info.width * self.info.height > BIG_PICTURE:
                # Above 4K each frame x264 holds costs ~50 MB, and veryfast alone peaks at 1.9 GB
                # on 8K: no look-ahead, no B-frames and two threads (1.1 GB, ~10 % more bits)
                # keep the whole run under 2 GB (bench/memory.py).
                params += ["rc-lookahead=0", "bframes=0"]
                found["threads"] = "2"
            if codec == "libx265":
                found["x265-params"] = "log-level=error"  # no version banner on the terminal
            elif params:
                found["x264-params"] = ":".join(params)
            if self.path.suffix.lower() == ".avi":
                found["bf"] = "0"  # AVI has no presentation timestamps: B-frames would come back out of order
            return found
        if codec in ("libvpx", "libvpx-vp9"):
            return {"crf": str(opts.crf), "b": "0", "deadline": "good", "cpu-used": "4", "row-mt": "1"}
        if codec == "libsvtav1":
            return {"crf": str(opts.crf), "preset": "8"}
        return {}

    # -- the stream, at the first frame --------------------------------------------------------
    def open(self, frame: Frame) -> av.video.stream.VideoStream:
        """Add the video stream to the container, sized like ``frame``'s picture."""
        height, width = _size(frame)
        info = self.info
        rate = self._rate()
        try:
            video = cast(av.video.stream.VideoStream, self.container.add_stream(self.codec, rate=rate))
        except (ValueError, av.error.FFmpegError) as exc:
            raise UsageError(f"cannot use video encoder {self.codec!r}: {exc}") from exc
        video.width, video.height = width, height
        video.pix_fmt = self._pix_fmt(av.Codec(self.codec, "w"), width, height)
        # Our RGB->YUV conversions (OpenCV's and swscale's default) use the BT.601 matrix in studio
        # range: say so, or players assume BT.709 for HD sizes and shift the colours.
        video.codec_context.colorspace = 6  # AVCOL_SPC_SMPTE170M
        video.codec_context.color_range = 2 if video.pix_fmt.startswith("yuvj") else 1  # JPEG / MPEG range
        # MPEG-1/2 take only their frame rate's own tick (PyAV rescales each frame's pts to it).
        video.codec_context.time_base = 1 / rate if self.codec in ("mpeg1video", "mpeg2video") else info.time_base
        video.time_base = info.time_base
        if info.sample_aspect_ratio:
            video.codec_context.sample_aspect_ratio = info.sample_aspect_ratio
        if info.rotation:
            video.set_display_rotation(info.rotation)
        video.options = dict(self._encoder_options())
        if self.fields is not None:
            video.codec_context.field_order = info.field_order
        if video.pix_fmt == "pal8":  # GIF: a palette made for this film, not the fixed 3-3-2 cube
            self._palette = PaletteFrames(QUEUE_BYTES)
        self.stream = video
        return video

    def _opened(self) -> av.video.stream.VideoStream:
        assert self.stream is not None, "open() comes first"
        return self.stream

    # -- frames to packets ---------------------------------------------------------------------
    def encode(self, frame: Frame) -> Iterator[av.Packet]:
        """The packets the encoder gives for ``frame`` (often none yet: it holds a few)."""
        video = self._opened()
        if frame.planes is not None and _size(frame) == (video.height, video.width) and video.pix_fmt == "yuv420p":
            vf = av.VideoFrame.from_ndarray(frame.planes, format="yuv420p")  # merged in the encoder's own planes
        else:
            image = _picture(frame)
            if image.shape[:2] != (video.height, video.width):
                image = self._first_size(image, frame.index)
            vf = self._to_video_frame(image)
        vf.pts, vf.time_base = self._next_pts(frame), self.info.time_base
        if self.fields is not None:
            vf = self._mark_fields(vf)
        yield from self._encode([vf] if self._palette is None else self._palette.add(vf))

    def flush(self) -> Iterator[av.Packet]:
        """The packets still held: the palette's frames, then the encoder's."""
        video = self._opened()
        if self._palette is not None:
            yield from self._encode(self._palette.finish())
        yield from video.encode(None)

    def _encode(self, frames: Iterable[av.VideoFrame]) -> Iterator[av.Packet]:
        video = self._opened()
        for vf in frames:
            yield from video.encode(vf)

    def _first_size(self, image: np.ndarray, index: int) -> np.ndarray:
        """A picture whose size changed mid-stream (joined captures, a camera switching mode),
        scaled to the output's size, which is the first picture's; said once."""
        height, width = image.shape[:2]
        video = self._opened()
        if not self._resized:
            log.warning(
                "the picture size changes from %dx%d to %dx%d at frame %d: scaled to the first size",
                video.width, video.height, width, height, index,
            )  # fmt: skip
        self._resized += 1
        return cv2.resize(image, (video.width, video.height), interpolation=cv2.INTER_AREA)

    def _mark_fields(self, vf: av.VideoFrame) -> av.VideoFrame:
        """Flag the frame interlaced with the input's field order (libx264 reads it per frame)."""
        if self._field_graph is None:
            graph = av.filter.Graph()
            src = graph.add_buffer(width=vf.width, height=vf.height, format=vf.format, time_base=vf.time_base)
            mark = graph.add("setfield", self.fields)
            src.link_to(mark)
            mark.link_to(graph.add("buffersink"))
            graph.configure()
            self._field_graph = graph
        self._field_graph.push(vf)
        return cast(av.VideoFrame, self._field_graph.pull())

    def _to_video_frame(self, image: np.ndarray) -> av.VideoFrame:
        """BGR or gray uint8 to a VideoFrame; straight to yuv420p with OpenCV where possible
        (about 5x cheaper than swscale's bgr24 conversion, same BT.601 studio-range result)."""
        height, width = image.shape[:2]
        if image.ndim == 2 and self._palette is not None:  # the palette's filters take one format
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        if image.ndim == 3 and self._opened().pix_fmt == "yuv420p" and not (width % 2 or height % 2):
            yuv = np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420), np.uint8)
            return av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        return av.VideoFrame.from_ndarray(image, format="gray" if image.ndim == 2 else "bgr24")

    def _next_pts(self, frame: Frame) -> int:
        """The source pts in the source time base, made strictly increasing."""
        tb = self.info.time_base
        pts = frame.pts
        if pts is not None and frame.time_base is not None and frame.time_base != tb:
            pts = round(pts * frame.time_base / tb)
        if pts is None or (self._last_pts is not None and pts <= self._last_pts):
            step = max(1, round(1 / ((self.info.rate or Fraction(25)) * tb)))
            pts = 0 if self._last_pts is None else self._last_pts + step
        self._last_pts = pts
        return pts
