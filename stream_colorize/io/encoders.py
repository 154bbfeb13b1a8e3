"""Video encoders: checked before any work starts, so a bad name, preset or pixel format is one
clear line that names what is available, not a libav log line and "Invalid argument" at the end.

    >>> check_encoder("libx264", preset="ultraslowx", pix_fmt="auto")
    UsageError: libx264 has no preset 'ultraslowx'; presets: ultrafast, superfast, ...
    >>> probe_encoder("h264_nvenc", "yuv420p")
    UsageError: video encoder h264_nvenc is built in but cannot start here (...); use libx264, ...

Formats that hold pictures but no sound (GIF, animated PNG, image sequences ``f_%05d.png``) get
their own encoder and pixel format here too.  ``config.EncodeSettings`` is what the user asked for: the
video encoder's settings and what becomes of the other streams.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import cast

import av

from ..errors import UsageError
from .avlog import capturing_libav, clear_libav_messages, recent_libav_messages

X26X_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow",
                "placebo")  # fmt: skip
PRESET_ENCODERS = ("libx264", "libx265")  # the encoders --preset applies to
SOFTWARE_VIDEO_ENCODERS = ("libx264", "libx265", "libvpx-vp9", "libvpx", "libsvtav1", "libaom-av1", "mpeg4",
                           "ffv1", "prores_ks", "mjpeg", "gif", "png")  # fmt: skip

# Formats with pictures only: their own encoder, and every other stream is left out.
PICTURE_FORMATS = ("gif", "apng", "image2", "webp")
IMAGE_SEQUENCE_CODECS = {".png": "png", ".jpg": "mjpeg", ".jpeg": "mjpeg", ".bmp": "bmp", ".tif": "tiff",
                         ".tiff": "tiff", ".ppm": "ppm", ".pgm": "pgm"}  # fmt: skip
# Pixel formats for the picture encoders (the first one the encoder takes wins); pal8 (GIF) is
# written through a palette made for the film (see palette.py).
PICTURE_PIX_FMTS = ("rgb24", "yuvj420p", "bgr24", "pal8", "bgr8")


# Formats whose own list (FFmpeg's codec tag tables) is too short to trust, with what their
# muxers really take (Ogg: libavformat/oggenc.c; MPEG-PS: mpegenc.c).
KNOWN_FORMAT_CODECS = {
    "ogv": {"libvpx", "vp8", "theora", "libtheora", "libopus", "opus", "vorbis", "libvorbis", "flac", "speex"},
    "ogg": {"libvpx", "vp8", "theora", "libtheora", "libopus", "opus", "vorbis", "libvorbis", "flac", "speex"},
    "mpeg": {"mpeg1video", "mpeg2video", "h264", "libx264", "mp2", "mp3", "libmp3lame", "ac3", "pcm_dvd",
             "dvd_subtitle"},
}  # fmt: skip
# The subtitle codecs an MPEG transport stream holds (bitmap DVB and teletext, no plain text).
TS_SUBTITLES = ("dvb_subtitle", "dvb_teletext")
# Per format, the audio encoder used when the input's audio does not fit and no --audio-codec is
# given (the format's own default where this is missing: FLAC for Ogg is lossless but large).
OWN_AUDIO = {"ogv": "libopus", "ogg": "libopus"}


def container_codecs(container: av.container.OutputContainer) -> set[str] | None:
    """Codecs the output format says it takes, or None where it cannot tell (e.g. MPEG-TS)."""
    known = KNOWN_FORMAT_CODECS.get(container.format.name)
    if known is not None:
        return set(known)
    supported = container.supported_codecs
    return supported if len(supported) > 12 else None


def is_image_sequence(path: Path) -> bool:
    """True for an image-sequence pattern such as ``frames/f_%05d.png``."""
    return "%" in path.name and path.suffix.lower() in IMAGE_SEQUENCE_CODECS


def available_video_encoders() -> list[str]:
    """The common software video encoders this FFmpeg build has."""
    return [name for name in SOFTWARE_VIDEO_ENCODERS if name in av.codecs_available and is_video_encoder(name)]


def is_video_encoder(name: str) -> bool:
    """True when ``name`` is a video encoder of this FFmpeg build."""
    try:
        return av.Codec(name, "w").type == "video"
    except Exception:  # noqa: BLE001 - any failure means "not usable"
        return False


AUDIO_ENCODERS = ("aac", "libopus", "libmp3lame", "ac3", "flac", "pcm_s16le", "libvorbis", "opus", "mp2")


def check_audio_encoder(name: str) -> None:
    """UsageError unless ``name`` is an audio encoder of this build (for --audio-codec)."""
    try:
        ok = av.Codec(name, "w").type == "audio"
    except Exception:  # noqa: BLE001 - unknown name
        ok = False
    if not ok:
        have = [n for n in AUDIO_ENCODERS if n in av.codecs_available and _is_audio_encoder(n)]
        raise UsageError(f"{name!r} is not an audio encoder; --audio-codec takes copy, none, or {', '.join(have)}")


def _is_audio_encoder(name: str) -> bool:
    try:
        return av.Codec(name, "w").type == "audio"
    except Exception:  # noqa: BLE001 - not an encoder
        return False


def picture_codec(format_name: str, path: Path, default: str) -> str:
    """The encoder for a picture-only format: by the file suffix for image sequences."""
    if format_name == "image2":
        return IMAGE_SEQUENCE_CODECS.get(path.suffix.lower(), default)
    return default


def check_encoder(name: str, preset: str, pix_fmt: str) -> av.Codec:
    """The encoder ``name``; UsageError naming the alternatives when it, its preset or the pixel
    format is not available."""
    try:
        codec = av.Codec(name, "w")
    except Exception as exc:  # noqa: BLE001 - PyAV raises several types for unknown names
        choices = ", ".join(available_video_encoders())
        raise UsageError(f"unknown video encoder {name!r} for --codec; available: {choices}") from exc
    if codec.type != "video":
        raise UsageError(f"{name!r} is not a video encoder; available: {', '.join(available_video_encoders())}")
    if codec.name in PRESET_ENCODERS and preset not in X26X_PRESETS:
        raise UsageError(f"{codec.name} has no preset {preset!r}; presets: {', '.join(X26X_PRESETS)}")
    if pix_fmt != "auto":
        formats = [f.name for f in (codec.video_formats or [])]
        try:
            av.VideoFormat(pix_fmt)
        except (ValueError, TypeError) as exc:
            hint = f"; {codec.name} takes {', '.join(formats)}" if formats else ""
            raise UsageError(f"unknown pixel format {pix_fmt!r} for --pix-fmt{hint}") from exc
        if formats and pix_fmt not in formats:
            raise UsageError(f"{codec.name} cannot encode {pix_fmt}; it takes {', '.join(formats)}")
    return codec


def probe_encoder(name: str, pix_fmt: str, options: dict[str, str] | None = None) -> None:
    """Open ``name`` on a tiny picture to learn early that it cannot start on this machine
    (a hardware encoder without its hardware, a library that refuses the options)."""
    ctx = cast(av.VideoCodecContext, av.CodecContext.create(name, "w"))  # a video encoder by its name
    ctx.width, ctx.height = 64, 64
    ctx.pix_fmt = pix_fmt
    ctx.time_base = Fraction(1, 25)
    ctx.framerate = Fraction(25)
    if options:
        ctx.options = dict(options)
    clear_libav_messages()
    try:
        with capturing_libav():
            ctx.open()
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        said = [m for m in recent_libav_messages() if m]
        why = said[-1] if said else (getattr(exc, "strerror", None) or str(exc))
        others = ", ".join(n for n in available_video_encoders() if n != name)
        raise UsageError(f"video encoder {name} cannot start on this machine ({why}); use one of: {others}") from exc
    # PyAV frees the context when it is collected (CodecContext has no close()).


def picture_pix_fmt(codec: av.Codec) -> str:
    """A pixel format a picture encoder (png, mjpeg, gif...) takes, preferring full colour."""
    formats = [f.name for f in (codec.video_formats or [])]
    return next((f for f in PICTURE_PIX_FMTS if f in formats), formats[0] if formats else "rgb24")


# Colour formats tried, in order, when an encoder does not take the usual one: 8-bit first,
# full-range JPEG YUV for MJPEG (which refuses studio range), then 10-bit (ProRes), RGB (PNG) and
# GIF's palette (written through palette.py).  Never gray or one bit, which would drop the colour.
_COLOUR_FMTS_8 = ("yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "yuv422p10le",
                  "yuv444p10le", "yuv420p10le", "rgb24", "bgr24", "gbrp", "pal8")  # fmt: skip
_COLOUR_FMTS_10 = ("yuv420p10le", "yuv422p10le", "yuv444p10le", "yuv444p12le", *_COLOUR_FMTS_8)


def subsampled(pix_fmt: str) -> tuple[bool, bool]:
    """(horizontally, vertically): whether ``pix_fmt`` halves the colour planes that way."""
    try:
        planes = av.VideoFormat(pix_fmt, 2, 2).components
    except (ValueError, TypeError):
        return False, False
    if len(planes) < 2 or pix_fmt.startswith(("rgb", "bgr", "gbr", "pal", "gray", "ya")):
        return False, False
    return planes[1].width < 2, planes[1].height < 2


def fits_size(pix_fmt: str, width: int, height: int) -> bool:
    """False when ``pix_fmt`` halves the colour in a direction whose side is odd (4:2:0 at 161x121)."""
    across, down = subsampled(pix_fmt)
    return not ((across and width % 2) or (down and height % 2))


def colour_pix_fmt(codec: av.Codec, wanted: str, width: int, height: int, deep: bool) -> str:
    """``wanted`` when ``codec`` takes it, else the first colour format it takes that fits the size
    (``deep``: 10-bit first); ``wanted`` again when none does (``probe_encoder`` then says why)."""
    formats = [f.name for f in (codec.video_formats or [])]
    if not formats or wanted in formats:
        return wanted
    order = _COLOUR_FMTS_10 if deep else _COLOUR_FMTS_8
    taken = [f for f in order if f in formats]
    return next((f for f in taken if fits_size(f, width, height)), taken[0] if taken else wanted)
