"""A dress rehearsal of an output before any work: the same format, encoder and streams, in memory.

    >>> rehearse(container, path, info, options, plan, "libx264")   # UsageError naming what does not fit

Several combinations pass every check FFmpeg's lists allow and fail only when the muxer writes
its header or trailer ("av1 only supported in MP4 and AVIF", AAC in MPEG-PS, VP8 in MOV): after
minutes of work, as a bare "Invalid argument".  Writing two tiny frames and the planned streams
into a container in memory asks the muxer itself, in a few milliseconds, and its own words make
the error line.  The format's codec list is only a hint here: where it leaves out what the muxer
takes (PNG or GIF video in Matroska) the rehearsal lets it through.
"""

from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np

from ..config import EncodeSettings
from ..errors import UsageError
from ..frames import Frame
from .avlog import capturing_libav, clear_libav_messages, recent_libav_messages
from .copies import CopiedStreams, Plan
from .info import VideoInfo
from .video_encoder import VideoEncoder

__all__ = ["rehearse"]


def _small(side: int, base: int) -> int:
    """A small side with the same parity (odd sizes matter to 4:2:0 encoders)."""
    return side if 0 < side <= base else base + (side % 2)


def rehearse(
    container: av.container.OutputContainer,
    path: Path,
    info: VideoInfo,
    options: EncodeSettings,
    plan: Plan,
    codec: str,
    unlisted: str | None = None,
) -> None:
    """Write two small frames (encoder ``codec``) and the planned streams into ``container``'s
    format in memory; UsageError when the muxer refuses (``unlisted``: the message to give when the format's list
    does not name the codec either)."""
    width, height = _small(info.width, 96), _small(info.height, 64)
    picture = np.zeros((height, width, 3), np.uint8)
    clear_libav_messages()
    try:
        with capturing_libav(), av.open(io.BytesIO(), "w", format=container.format.name) as trial:
            video = VideoEncoder(trial, path, info, options, pictures_only=False)
            step = max(1, round(1 / ((info.rate or 25) * info.time_base))) if info.time_base else 1
            for index in range(2):
                frame = Frame(index, picture[..., 0], index * step, info.time_base, output=picture)
                if video.stream is None:
                    video.open(frame)
                    CopiedStreams(trial, plan).open()
                for packet in video.encode(frame):
                    trial.mux(packet)
            for packet in video.flush():
                trial.mux(packet)
    except (av.error.FFmpegError, ValueError, OSError, UsageError) as exc:
        if unlisted is not None:
            raise UsageError(unlisted) from exc
        said = [m.split(": ", 1)[-1] for m in recent_libav_messages() if m]
        why = said[-1] if said else (getattr(exc, "strerror", None) or str(exc))
        audio = sorted({how.removeprefix("transcode:") if how.startswith("transcode:") else _codec(s)
                        for s, how in plan if s.type == "audio"})  # fmt: skip
        what = f"{codec} video" + (f" and {', '.join(audio)} audio" if audio else "")
        raise UsageError(
            f"{path.suffix or container.format.name} files cannot take {what} (FFmpeg: {why.rstrip('.')}); "
            "choose another --codec or --audio-codec, or write .mkv"
        ) from exc


def _codec(stream: av.stream.Stream) -> str:
    return stream.codec_context.name if stream.codec_context is not None else stream.type
