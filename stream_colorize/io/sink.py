"""The encoder and muxer: colour frames in, a file out, every other stream copied untouched.

    >>> with FileSink("out.mp4", source.info, source.copy_streams, EncodeOptions(crf=18)) as sink:
    ...     sink.write(item)                         # a Frame with .output set, or an av.Packet
    ...     sink.commit()                            # or commit(Outcome.PARTIAL): out.partial.mp4

The file is written under a hidden temporary name beside the output and renamed only by
``commit``: ``Outcome.DONE`` gives the final name (claimed atomically, see ``outputs.claim``),
``Outcome.PARTIAL`` a name that says so, ``Outcome.FAILED`` removes it.  Leaving the ``with``
block without a commit (an exception) is ``FAILED``: no half-written file takes a name.
Video keeps the source's timestamps and time base (variable frame rate survives), rotation and
sample aspect ratio.  Audio, subtitle and data packets are muxed as they came (``--audio-codec``
transcodes audio instead).  Streams are created at the first video frame, so a live source's
size is known by then; packets that arrive earlier wait in a small buffer.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from pathlib import Path
from typing import Any, cast

import av
import cv2
import numpy as np

from ..errors import MediaError, UsageError
from ..frames import Frame
from ..limits import QUEUE_BYTES
from .encoders import (
    PICTURE_FORMATS,
    check_audio_encoder,
    check_encoder,
    is_image_sequence,
    picture_codec,
    picture_pix_fmt,
    probe_encoder,
)
from .outputs import claim, remove_stale_temps, temp_path
from .palette import PaletteFrames
from .source import VideoInfo, describe_stream

log = logging.getLogger("stream_colorize")

BIG_PICTURE = 3840 * 2160  # pixels above which the encoder is told to hold fewer frames
SKIP_METADATA = {"duration", "encoder", "handler_name", "vendor_id"}  # rewritten by the muxer


@dataclass(frozen=True)
class EncodeOptions:
    """How to encode the video and what to do with the other streams."""

    codec: str = "auto"  # auto: libx264, or the container's own choice where it cannot hold H.264
    crf: int = 18
    preset: str = "veryfast"
    pix_fmt: str = "auto"  # auto: yuv420p, yuv420p10le for >8-bit input, yuv444p for odd sizes
    audio_codec: str = "copy"
    subtitles: bool = True


def partial_path(path: Path) -> Path:
    """Where an interrupted run's playable result goes: ``out.mp4`` -> ``out.partial.mp4``."""
    return path.with_name(f"{path.stem}.partial{path.suffix}")


def _encoder_rate(codec: str, source: av.audio.stream.AudioStream) -> int:
    """The source's sample rate, or the nearest one the encoder supports (libopus: 48 kHz...)."""
    rate = source.codec_context.sample_rate
    try:
        supported = av.Codec(codec, "w").audio_rates
    except (av.FFmpegError, ValueError) as exc:
        raise MediaError(f"unknown audio encoder {codec!r} for --audio-codec") from exc
    if supported and rate not in supported:
        rate = min(supported, key=lambda r: (abs(r - rate), -r))
    return rate


def choose_pix_fmt(options: EncodeOptions, codec: str, info: VideoInfo, width: int, height: int) -> str:
    """The encoder's pixel format for ``auto``: 4:2:0, 10-bit when the input was, 4:4:4 for odd sizes."""
    if options.pix_fmt != "auto":
        return options.pix_fmt
    if width % 2 or height % 2:
        return "yuv444p10le" if info.bit_depth > 8 and codec in ("libx264", "libx265") else "yuv444p"
    if info.bit_depth > 8 and codec in ("libx264", "libx265", "libvpx-vp9", "libsvtav1"):
        return "yuv420p10le"
    return "yuv420p"


class Outcome(StrEnum):
    """How a run ends for its output file."""

    DONE = "done"  # the output takes its final name
    PARTIAL = "partial"  # interrupted: kept, playable, as name.partial.ext
    FAILED = "failed"  # removed


class FileSink:
    """Encode ``Frame.output`` (BGR uint8) and mux copied packets into one output file.

    A context manager: ``commit`` names the result; leaving the block without one removes it.
    """

    def __init__(
        self,
        path: str | Path,
        info: VideoInfo,
        copy_streams: list[av.stream.Stream],
        options: EncodeOptions | None = None,
        overwrite: bool = True,
    ) -> None:
        self.path = Path(path)
        self.info = info
        self.options = options or EncodeOptions()
        self.overwrite = overwrite  # False: never replace a file that appeared while we worked
        self.frames = 0
        self.dropped = 0  # packets of copied streams the muxer refused as damaged
        self.final_path: Path | None = None
        remove_stale_temps(self.path.parent)
        self.sequence = is_image_sequence(self.path)  # f_%05d.png: written in place, one file a frame
        self.tmp = self.path if self.sequence else temp_path(self.path)
        try:
            self.container = av.open(str(self.tmp), "w", format=self._format_name())
        except (ValueError, av.error.FFmpegError) as exc:
            self.tmp.unlink(missing_ok=True)
            raise UsageError(
                f"cannot write {self.path.name}: unknown output format {self.path.suffix!r}; use .mp4, .mkv, .mov, ..."
            ) from exc
        except OSError as exc:
            raise MediaError(f"cannot write {self.path}: {exc.strerror or exc}") from exc
        self._closed = False
        self.pictures_only = self.sequence or self.container.format.name in PICTURE_FORMATS
        self.video_codec = self._choose_video_codec()
        self._fields = self._field_mode()  # "tff"/"bff" when writing interlaced frames, else None
        try:
            self.copies = self._plan_copies(copy_streams)
            self._check_video_codec()
        except BaseException:
            self.commit(Outcome.FAILED)
            raise
        self.video: av.video.stream.VideoStream | None = None
        # Output streams by input index: copies, re-wrapped text and audio encoders alike (PyAV's
        # stubs give each kind its own class; these are used through what they share).
        self._out: dict[int, Any] = {}
        self._transcoded: dict[int, Any] = {}
        self._pending: list[av.Packet] = []
        self._rewrap: dict[int, tuple[str, str]] = {}
        self._last_pts: int | None = None
        self._resized = 0  # frames scaled to the first size
        self._shifts: dict[int, int] = {}  # per copied stream: added to timestamps after a jump back
        self._last_dts: dict[int, int] = {}
        self._copied_video = False
        self._field_graph: av.filter.Graph | None = None
        self._palette: PaletteFrames | None = None  # GIF: frames mapped to a palette of their own

    def _format_name(self) -> str | None:
        if self.sequence:
            return "image2"
        return {".ts": "mpegts", ".m2ts": "mpegts", ".mkv": "matroska", ".webm": "webm"}.get(self.path.suffix.lower())

    # -- planning ----------------------------------------------------------------------------
    def _supported(self) -> set[str] | None:
        """Codecs the output format says it takes, or None where it cannot tell (e.g. MPEG-TS)."""
        supported = self.container.supported_codecs
        return supported if len(supported) > 12 else None

    def _choose_video_codec(self) -> str:
        if self.options.codec != "auto":
            return self.options.codec
        if self.pictures_only:
            return picture_codec(self.container.format.name, self.path, self.container.default_video_codec)
        supported = self._supported()
        if supported is None or "libx264" in supported or "h264" in supported:
            return "libx264"
        return {"vp9": "libvpx-vp9", "vp8": "libvpx", "av1": "libsvtav1"}.get(
            self.container.default_video_codec, self.container.default_video_codec
        )

    def _check_video_codec(self) -> None:
        """Refuse, before any work, an encoder that is unknown, cannot start here, or does not fit."""
        codec = check_encoder(self.video_codec, self.options.preset, self.options.pix_fmt)
        supported = self._supported()
        if self.pictures_only and self.container.format.name != "image2":
            supported = set(self.container.supported_codecs)
        if supported is not None and codec.name not in supported and codec.canonical_name not in supported:
            fits = sorted(n for n in supported if _is_video_encoder(n))[:8]
            hint = f" (it takes {', '.join(fits)})" if fits else ""
            raise UsageError(f"{self.path.suffix} files cannot hold {codec.name} video{hint}; choose another --codec")
        info = self.info
        fmt = self._pix_fmt(codec, info.width or 64, info.height or 64)
        probe_encoder(codec.name, fmt, self._encoder_options())

    def _pix_fmt(self, codec: av.Codec, width: int, height: int) -> str:
        if self.pictures_only and self.options.pix_fmt == "auto":
            return picture_pix_fmt(codec)
        return choose_pix_fmt(self.options, codec.name, self.info, width, height)

    def _plan_copies(self, streams: list[av.stream.Stream]) -> list[tuple[av.stream.Stream, str]]:
        """Decide per stream: 'copy', 'transcode:<encoder>' or 'text:<codec>'; raise naming a
        stream the output can't hold."""
        plan = []
        left_out: list[str] = []
        supported = self._supported()
        fmt = self.path.suffix.lstrip(".") or self.container.format.name
        for s in streams:
            if self.pictures_only:
                left_out.append(s.type)
                continue
            if s.type == "subtitle" and not self.options.subtitles:
                continue
            if s.type == "audio" and self.options.audio_codec == "none":
                continue
            if s.type == "audio" and self.options.audio_codec != "copy":
                check_audio_encoder(self.options.audio_codec)
                plan.append((s, f"transcode:{self.options.audio_codec}"))
                if supported is not None and self.options.audio_codec not in supported:
                    raise UsageError(
                        f"{fmt} files cannot hold {self.options.audio_codec} audio; pick another --audio-codec"
                    )
                continue
            name = s.codec_context.name if s.codec_context is not None else None
            if name is not None and (supported is None or name in supported):
                plan.append((s, "copy"))
                continue
            why = f"{fmt} files cannot hold {name or 'this data'}"
            if s.type == "audio":
                encoder = self._own_audio_encoder(supported)
                if encoder is not None:
                    # "copy" is the default, so this is what a newcomer writing .webm from an .mp4
                    # gets: the container's own audio codec instead of an error.
                    log.warning("%s: %s; transcoded to %s (--audio-codec picks another encoder)",
                                describe_stream(s), why, encoder)  # fmt: skip
                    plan.append((s, f"transcode:{encoder}"))
                    continue
                suggested = "libopus" if fmt == "webm" else "aac"
                raise MediaError(
                    f"{describe_stream(s)}: {why}; "
                    f"pass --audio-codec {suggested} (or another) to transcode, or write .mkv"
                )
            target = _text_subtitle_target(name, supported)
            if s.type == "subtitle" and target is not None:
                plan.append((s, f"text:{target}"))  # same text, rewrapped for this container
                continue
            if s.type == "subtitle":
                other = "" if self.path.suffix.lower() == ".mkv" else ", or write .mkv"
                raise MediaError(f"{describe_stream(s)}: {why}; pass --no-subtitles to leave subtitles out{other}")
            log.warning("%s left out: %s", describe_stream(s), why)
        if left_out:
            kinds = " and ".join(sorted({"sound" if k == "audio" else k for k in left_out}))
            log.warning("%s left out: %s output holds pictures only", kinds, self.path.suffix or "this")
        return plan

    def _own_audio_encoder(self, supported: set[str] | None) -> str | None:
        """The encoder of the container's own audio codec (Opus for WebM), or None when this
        build has no usable one (missing, experimental, or not what the container takes)."""
        try:
            codec = av.Codec(self.container.default_audio_codec, "w")
        except (av.FFmpegError, ValueError, TypeError):
            return None
        if codec.type != "audio" or codec.experimental:
            return None
        if supported is not None and codec.name not in supported and codec.canonical_name not in supported:
            return None
        return codec.name

    # -- stream creation at the first frame ---------------------------------------------------
    def _open_streams(self, image: np.ndarray) -> None:
        height, width = image.shape[:2]
        rate = self.info.rate if self.info.rate and self.info.rate > 0 else Fraction(25)
        try:
            video = cast(av.video.stream.VideoStream, self.container.add_stream(self.video_codec, rate=rate))
        except (ValueError, av.error.FFmpegError) as exc:
            raise UsageError(f"cannot use video encoder {self.video_codec!r}: {exc}") from exc
        video.width, video.height = width, height
        video.pix_fmt = self._pix_fmt(av.Codec(self.video_codec, "w"), width, height)
        # Our RGB->YUV conversions (OpenCV's and swscale's default) use the BT.601 matrix in studio
        # range: say so, or players assume BT.709 for HD sizes and shift the colours.
        video.codec_context.colorspace = 6  # AVCOL_SPC_SMPTE170M
        video.codec_context.color_range = 2 if video.pix_fmt.startswith("yuvj") else 1  # JPEG / MPEG range
        video.codec_context.time_base = self.info.time_base
        video.time_base = self.info.time_base
        if self.info.sample_aspect_ratio:
            video.codec_context.sample_aspect_ratio = self.info.sample_aspect_ratio
        if self.info.rotation:
            video.set_display_rotation(self.info.rotation)
        video.options = dict(self._encoder_options())
        if self._fields is not None:
            video.codec_context.field_order = self.info.field_order
        if video.pix_fmt == "pal8":  # GIF: a palette made for this film, not the fixed 3-3-2 cube
            self._palette = PaletteFrames(QUEUE_BYTES)
        self.video = video
        self._add_copies()

    def _add_copies(self) -> None:
        for s, how in self.copies:
            out: Any
            if how.startswith("transcode:"):
                audio = cast(av.audio.stream.AudioStream, s)  # only audio is transcoded
                encoder = how.removeprefix("transcode:")
                out = self.container.add_stream(encoder, rate=_encoder_rate(encoder, audio))
                out.layout = audio.codec_context.layout
            elif how.startswith("text:"):
                out = self.container.add_mux_stream(how[5:], time_base=s.time_base)
                self._rewrap[s.index] = (s.codec_context.name, how[5:])
            else:
                out = self.container.add_stream_from_template(s)
            for key, value in s.metadata.items():
                if key.lower() not in SKIP_METADATA and not key.upper().startswith("DURATION"):
                    out.metadata[key] = value
            out.disposition = s.disposition
            self._out[s.index] = out
        self._transcoded = {s.index: s for s, how in self.copies if how.startswith("transcode:")}

    def _field_mode(self) -> str | None:
        """'tff'/'bff' for interlaced input that libx264 will code as fields, else None."""
        if self.video_codec != "libx264" or self.info.field_order < 2:
            return None
        return "tff" if self.info.field_order in (2, 5) else "bff"  # TT, BT: the top field is shown first

    def _encoder_options(self) -> dict[str, str]:
        opts, codec = self.options, self.video_codec
        if codec in ("libx264", "libx265"):
            found = {"crf": str(opts.crf), "preset": opts.preset}
            params = []
            if self._fields is not None:
                # Interlaced footage (TV, DV, DVD) stays interlaced: fields coded as fields, so a
                # player deinterlaces it as it did the original instead of showing combing.
                params.append(f"{self._fields}=1")
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

    # -- video encoded elsewhere (the cluster's segments) --------------------------------------
    def open_copied_video(self, template: av.video.stream.VideoStream) -> None:
        """Take video that is already encoded: a stream copied from ``template`` (codec
        parameters, extradata, rotation) instead of an encoder; then ``write_video_packet``."""
        self.video = cast(av.video.stream.VideoStream, self.container.add_stream_from_template(template))
        self.video.time_base = template.time_base
        self._copied_video = True
        self._add_copies()
        pending, self._pending = self._pending, []
        for packet in pending:
            self._write_packet(packet)

    def write_video_packet(self, packet: av.Packet) -> None:
        """Mux one encoded video packet into the stream made by ``open_copied_video``."""
        packet.stream = self.video
        try:
            self.container.mux(packet)
        except av.error.FFmpegError as exc:
            raise MediaError(f"cannot write {self.path}: {exc.strerror or exc}") from exc
        self.frames += 1

    # -- writing -----------------------------------------------------------------------------
    def write(self, item: Frame | av.Packet) -> None:
        """Encode a finished Frame (its ``output``) or mux a packet of a copied stream."""
        try:
            if isinstance(item, Frame):
                self._write_frame(item)
            elif self.video is None:
                self._pending.append(item)
            else:
                self._write_packet(item)
        except av.error.FFmpegError as exc:
            raise MediaError(f"cannot write {self.path}: {exc.strerror or exc}") from exc
        except OSError as exc:
            raise MediaError(f"cannot write {self.path}: {exc.strerror or exc}") from exc

    def _write_frame(self, frame: Frame) -> None:
        image = frame.output if frame.output is not None else frame.image
        if self.video is None:
            self._open_streams(image)
            pending, self._pending = self._pending, []
            for packet in pending:
                self._write_packet(packet)
        video = self._opened()
        if image.shape[:2] != (video.height, video.width):
            image = self._first_size(image, frame.index)
        vf = self._to_video_frame(image)
        pts = self._next_pts(frame)
        vf.pts, vf.time_base = pts, self.info.time_base
        if self._fields is not None:
            vf = self._mark_fields(vf)
        self._encode([vf] if self._palette is None else self._palette.add(vf))
        self.frames += 1

    def _encode(self, frames: list[av.VideoFrame]) -> None:
        video = self._opened()
        for vf in frames:
            for packet in video.encode(vf):
                self.container.mux(packet)

    def _opened(self) -> av.video.stream.VideoStream:
        """The output video stream, once the first frame opened it."""
        assert self.video is not None  # opened by the first frame
        return self.video

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
            mark = graph.add("setfield", self._fields)
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

    def _write_packet(self, packet: av.Packet) -> None:
        out = self._out.get(packet.stream.index)
        if out is None:
            return
        if packet.stream.index in self._transcoded:
            for frame in packet.decode():
                frame.pts = None
                for enc in out.encode(frame):
                    self.container.mux(enc)
            return
        if packet.stream.index in self._rewrap:
            rewrapped = _rewrap_text(packet, *self._rewrap[packet.stream.index])
            if rewrapped is None:
                return
            packet = rewrapped
        self._continue_timeline(packet)
        packet.stream = out
        try:
            self.container.mux(packet)
        except (av.error.InvalidDataError, av.error.ArgumentError) as exc:
            # A damaged packet of a copied stream (an old off-air capture: a cut or garbled
            # ADTS header, a timestamp going backwards): drop it and keep the rest.
            self.dropped += 1
            log.debug("dropped a damaged %s packet: %s", packet.stream.type, exc)

    def _continue_timeline(self, packet: av.Packet) -> None:
        """Timestamps that jump back by more than a second (two recordings joined) continue
        after the previous packet instead, so the rest of the stream is kept in order."""
        index = packet.stream.index
        if packet.dts is None or not packet.time_base:
            return
        shift = self._shifts.get(index, 0)
        last = self._last_dts.get(index)
        dts = packet.dts + shift
        if last is not None and dts < last and (last - dts) * packet.time_base > 1:
            step = packet.duration or 1
            shift += last + step - dts
            self._shifts[index] = shift
            dts = packet.dts + shift
            log.warning("%s: timestamps jump back (joined recordings?); continued after the previous part",
                        describe_stream(packet.stream))  # fmt: skip
        if shift:
            packet.dts = dts
            if packet.pts is not None:
                packet.pts += shift
        self._last_dts[index] = dts if last is None else max(last, dts)

    def _flush(self) -> None:
        if self.video is None:
            return
        if self._palette is not None:
            self._encode(self._palette.finish())
        if not self._copied_video:
            for packet in self.video.encode(None):
                self.container.mux(packet)
        for index, src in self._transcoded.items():
            out = self._out[index]
            for frame in src.decode(None):
                frame.pts = None
                for enc in out.encode(frame):
                    self.container.mux(enc)
            for enc in out.encode(None):
                self.container.mux(enc)

    def __enter__(self) -> FileSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.commit(Outcome.FAILED)  # a no-op after a commit

    def commit(self, outcome: Outcome = Outcome.DONE) -> Path | None:
        """Finish the file: ``DONE`` renames it to the output, ``PARTIAL`` keeps it as
        ``name.partial.ext``, ``FAILED`` deletes it.  Returns the final path (None if failed);
        MediaError when it cannot be finished (it is deleted then).  Later calls change nothing."""
        if self._closed:
            return self.final_path
        self._closed = True
        try:
            if outcome != Outcome.FAILED:
                try:
                    self._flush()
                except (av.error.FFmpegError, OSError) as exc:
                    outcome = Outcome.FAILED
                    raise MediaError(f"cannot finish {self.path}: {getattr(exc, 'strerror', None) or exc}") from exc
            try:
                self.container.close()
            except (av.error.FFmpegError, OSError) as exc:
                if outcome != Outcome.FAILED:
                    outcome = Outcome.FAILED
                    raise MediaError(f"cannot finish {self.path}: {getattr(exc, 'strerror', None) or exc}") from exc
            if outcome != Outcome.FAILED and self.frames == 0:
                outcome = Outcome.FAILED
                raise MediaError("no video frame could be decoded from the input; nothing was written")
        finally:
            if outcome == Outcome.FAILED:
                self._remove_written()
        if outcome == Outcome.FAILED:
            return None
        if self.sequence:
            self.final_path = self.path
            return self.path
        target = self.path if outcome == Outcome.DONE else partial_path(self.path)
        try:
            if outcome == Outcome.DONE:
                self.final_path = claim(self.tmp, self.path, self.overwrite)
            else:
                os.replace(self.tmp, target)
                self.final_path = target
        except OSError as exc:  # the folder turned read-only, a network share went away...
            self._remove_written()
            raise MediaError(f"cannot write {target}: {exc.strerror or exc}") from exc
        if outcome == Outcome.DONE:
            self._remove_old_partial()
        return self.final_path

    def _remove_old_partial(self) -> None:
        """The whole output is written: an earlier interrupted run's ``name.partial.ext`` (ours,
        by its name) is out of date, so it goes, with a note."""
        old = partial_path(self.path)
        try:
            if not old.is_file():
                return
            if old.is_symlink():  # a link named like our partial was made by someone else
                log.warning("left %s alone (a link); %s is the whole output", old, self.final_path)
                return
            old.unlink()
        except OSError as exc:
            log.warning("could not remove the partial output of an earlier interrupted run: %s (%s)",
                        old, exc.strerror or exc)  # fmt: skip
            return
        log.warning("removed the partial output of an earlier interrupted run: %s", old)

    def _remove_written(self) -> None:
        """Delete what this sink wrote; never raises (on a read-only or vanished folder the
        error that stopped the run is the one worth telling)."""
        try:
            if not self.sequence:
                self.tmp.unlink(missing_ok=True)
                return
            for number in range(1, self.frames + 2):  # image2 numbers from 1
                Path(str(self.path) % number).unlink(missing_ok=True)
        except (TypeError, ValueError, OSError) as exc:
            log.debug("could not remove %s: %s", self.tmp, exc)


def _is_video_encoder(name: str) -> bool:
    try:
        return av.Codec(name, "w").type == "video"
    except Exception:  # noqa: BLE001 - not an encoder
        return False


TEXT_SUBTITLES = ("mov_text", "subrip", "srt", "webvtt", "text")


def _text_subtitle_target(codec: str | None, supported: set[str] | None) -> str | None:
    """A plain-text subtitle codec this container holds, for a plain-text subtitle stream."""
    if codec not in TEXT_SUBTITLES or supported is None:
        return None
    return next((c for c in ("subrip", "mov_text", "webvtt") if c in supported), None)


def _rewrap_text(packet: av.Packet, source: str, target: str) -> av.Packet | None:
    """The same subtitle text in another plain-text codec's packet layout (timing unchanged);
    None for an empty cue (mov_text's gap fillers)."""
    data = bytes(packet)
    if source == "mov_text":  # 16-bit big-endian length, the text, then optional style boxes
        data = data[2 : 2 + int.from_bytes(data[:2], "big")]
    if not data:
        return None
    if target == "mov_text":
        data = len(data).to_bytes(2, "big") + data
    out = av.Packet(data)
    out.pts, out.dts, out.duration, out.time_base = packet.pts, packet.dts, packet.duration, packet.time_base
    out.stream = packet.stream
    return out
