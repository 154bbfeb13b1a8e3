"""The stream writer: colour frames to a network address or a pipe, as they are made.

    >>> with StreamSink(stream_target("udp://127.0.0.1:5000"), source.info, source.copy_streams) as sink:
    ...     sink.write(item)                         # a Frame with .output set, or an av.Packet
    ...     sink.commit()                            # the encoder's tail, then the connection closes

The same parts as ``FileSink`` (``video_encoder.VideoEncoder``, ``copies``), without the temporary
file and the rename: a stream has nothing to name.  ``live=True`` (live's ``--output``) tunes the
encoder for latency: no B-frames, no look-ahead, a keyframe every second so a receiver that joins
late starts within one.  Audio goes along (MPEG-TS takes what the input has; FLV gets AAC);
subtitles and data stay behind (MPEG-TS and FLV hold no text subtitles).  Every failure to send is
a MediaError naming the output by ``StreamTarget.label`` (no credentials, no stream key).
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import av

from ..config import EncodeSettings
from ..errors import MediaError
from ..frames import Frame
from .commit import Outcome
from .copies import CopiedStreams, plan_copies
from .info import VideoInfo
from .stream_targets import RW_TIMEOUT_US, StreamTarget
from .video_encoder import VideoEncoder

log = logging.getLogger("stream_colorize")

OPEN_TIMEOUT = 10.0  # seconds to connect (RTSP's ANNOUNCE, RTMP's handshake)
ANSWER_TIMEOUT = RW_TIMEOUT_US / 1e6  # seconds a server may stay silent (FFmpeg's socket timeout)
RTMP_PORT = 1935
SUFFIX = {"mpegts": ".ts", "flv": ".flv", "rtsp": ".rtsp", "hls": ".ts"}  # what the encoder checks see as the "file"


def _why(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return " ".join(str(text).split()) or type(exc).__name__


def probe_rtmp(target: StreamTarget, timeout: float = ANSWER_TIMEOUT) -> None:
    """MediaError unless an RTMP server at ``target`` answers the first handshake step in time.

    FFmpeg's RTMP protocol has no I/O timeout that PyAV can set (it opens the output with
    ``avio_open``, holding the GIL): a server that accepts and never answers would hang the whole
    process, Ctrl-C included.  C0+C1 must get at least S0 back; FFmpeg then connects afresh."""
    parts = urlsplit(target.url)
    address = (parts.hostname or "", parts.port or RTMP_PORT)
    try:
        with socket.create_connection(address, timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(b"\x03" + bytes(8) + os.urandom(1528))
            if not sock.recv(1):
                raise MediaError(f"cannot send to {target.label}: the server closed the connection")
    except TimeoutError:
        raise MediaError(f"cannot send to {target.label}: no answer within {timeout:g} s") from None
    except OSError as exc:
        raise MediaError(f"cannot send to {target.label}: {_why(exc)}") from None


class StreamSink:
    """Encode ``Frame.output`` (BGR uint8) and mux copied packets straight into a stream output."""

    def __init__(
        self,
        target: StreamTarget,
        info: VideoInfo,
        copy_streams: list[av.stream.Stream],
        options: EncodeSettings | None = None,
        live: bool = False,
    ) -> None:
        self.target = target
        self.info = info
        self.options = options or EncodeSettings()
        self.live = live
        self.frames = 0
        self.sent_bytes = 0
        self.connected = False  # the first packet went out (RTSP and RTMP connect then)
        self._closed = False
        self._began = 0.0  # when the first frame went to the muxer (RTSP and RTMP connect then)
        if target.scheme == "rtmp":
            probe_rtmp(target)
        self.hls = target.hls.begin() if target.hls is not None else None  # io/hls.py: names, commit
        url, muxer_options = (self.hls.url, self.hls.options) if self.hls else (target.url, dict(target.options))
        try:
            self.container = av.open(url, "w", format=target.format, options=muxer_options, timeout=OPEN_TIMEOUT)
        except (av.error.FFmpegError, OSError) as exc:
            if self.hls is not None:
                self.hls.finish(Outcome.FAILED)
            raise MediaError(f"cannot open {target.label}: {_why(exc)}") from exc
        name = Path("stream" + SUFFIX.get(target.format, ".ts"))
        self.video = VideoEncoder(self.container, name, info, self.options, pictures_only=False)
        kept = [s for s in copy_streams if s.type == "audio"]
        if len(kept) < len(copy_streams):
            log.info("%s: only video and audio go to a stream; subtitles and data stay behind", target.label)
        try:
            plan = plan_copies(kept, self.container, name.suffix, self.options, False)
            self.video.check()
        except BaseException:
            self.commit(Outcome.FAILED)
            raise
        self.copies = CopiedStreams(self.container, plan)
        self._pending: list[av.Packet] = []

    @property
    def dropped(self) -> int:
        """Packets of copied streams the muxer refused as damaged."""
        return self.copies.dropped

    def write(self, item: Frame | av.Packet) -> None:
        """Encode a finished Frame (its ``output``) or mux a packet of a copied stream; MediaError
        when the output is gone (a closed pipe, a dropped connection)."""
        try:
            if isinstance(item, Frame):
                self._write_frame(item)
            elif self.video.stream is None:
                self._pending.append(item)
            else:
                self.copies.write(item)
        except (av.error.FFmpegError, OSError) as exc:
            raise MediaError(f"{self._failed()} {self.target.label}: {self._reason(exc)}") from exc

    def _failed(self) -> str:
        return "lost" if self.connected else "cannot send to"

    def _reason(self, exc: BaseException) -> str:
        """Why a send failed: FFmpeg's RTSP muxer reports its own timeout as invalid data or ETIMEDOUT."""
        waited = time.monotonic() - self._began if self._began else 0.0
        timed_out = isinstance(exc, av.error.InvalidDataError) or getattr(exc, "errno", None) == errno.ETIMEDOUT
        if timed_out and not self.connected and waited >= 0.9 * ANSWER_TIMEOUT:
            return f"no answer within {ANSWER_TIMEOUT:g} s"
        return _why(exc)

    def _write_frame(self, frame: Frame) -> None:
        if self.video.stream is None:
            self._began = time.monotonic()
            stream = self.video.open(frame)
            if self.live:
                self._tune_for_latency(stream)
            elif self.hls is not None:  # the muxer cuts at keyframes: one per segment
                stream.codec_context.gop_size = max(1, round(float(self.info.rate or 25) * self.hls.segment_s))
            self.copies.open()
            pending, self._pending = self._pending, []
            for packet in pending:
                self.copies.write(packet)
        for packet in self.video.encode(frame):
            self.container.mux(packet)
            self.sent_bytes += packet.size
            self.connected = True
        self.frames += 1

    def _tune_for_latency(self, stream: av.video.stream.VideoStream) -> None:
        rate = float(self.info.rate) if self.info.rate else 25.0
        stream.codec_context.gop_size = max(1, round(rate))  # a keyframe a second: late joiners start soon
        if self.video.codec in ("libx264", "libx265"):
            stream.options = {**stream.options, "tune": "zerolatency"}
        stream.codec_context.max_b_frames = 0

    def __enter__(self) -> StreamSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.commit(Outcome.FAILED)

    def commit(self, outcome: Outcome = Outcome.DONE) -> None:
        """End the stream: the encoders' tails (unless ``FAILED``), then close.  MediaError when the
        tail cannot be sent or no frame was; later calls change nothing."""
        if self._closed:
            return
        self._closed = True
        try:
            if outcome != Outcome.FAILED and self.video.stream is not None:
                for packet in self.video.flush():
                    self.container.mux(packet)
                self.copies.flush()
        except (av.error.FFmpegError, OSError) as exc:
            outcome = Outcome.FAILED
            raise MediaError(f"{self._failed()} {self.target.label}: {_why(exc)}") from exc
        finally:
            try:
                self.container.close()
            except (av.error.FFmpegError, OSError) as exc:
                if outcome != Outcome.FAILED:
                    outcome = Outcome.FAILED
                    raise MediaError(f"{self._failed()} {self.target.label}: {_why(exc)}") from exc
            finally:
                if self.hls is not None:
                    self.hls.finish(outcome if self.frames else Outcome.FAILED)
        if outcome != Outcome.FAILED and self.frames == 0:
            raise MediaError("no video frame could be decoded from the input; nothing was sent")
