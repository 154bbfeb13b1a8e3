"""What a live SOURCE argument means, and the exact PyAV open call for it, per operating system.

    >>> spec = parse_source("0", platform="linux")
    >>> spec.call.file, spec.call.format          # ('/dev/video0', 'v4l2')
    >>> parse_source("rtsp://cam/stream").call.options   # {'rtsp_transport': 'tcp'}

A SOURCE is one of: nothing (the first camera), a camera index (``0``) or device (``/dev/video2``,
``avfoundation:FaceTime HD Camera``, ``dshow:video=USB Camera``), a network URL (rtsp, rtsps,
rtmp, http, https, udp, srt, ...), ``lavfi:<filtergraph>`` (a synthetic FFmpeg source), or a file.
Nothing here opens anything; :mod:`stream_colorize.io.live_source` does.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from ..errors import MediaError, UsageError
from .inputs import is_stdin

SourceKind = Literal["camera", "network", "file", "lavfi"]
NETWORK_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "rtp", "srt", "tcp")
# Device formats a user may name explicitly as FORMAT:TARGET.
DEVICE_FORMATS = ("v4l2", "video4linux2", "avfoundation", "dshow", "x11grab", "gdigrab")
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")


@dataclass(frozen=True)
class OpenCall:
    """Arguments of ``av.open(file, format=format, options=options)``, or an OpenCV capture.

    ``backend`` is ``"pyav"`` normally; ``"opencv"`` means ``cv2.VideoCapture(file)`` (an index
    as a string of digits, or a path), used where FFmpeg cannot address the device.
    """

    file: str
    format: str | None = None
    options: dict[str, str] = field(default_factory=dict)
    backend: Literal["pyav", "opencv"] = "pyav"


@dataclass(frozen=True)
class SourceSpec:
    """A parsed SOURCE: its kind, how to open it, and how to name it in messages."""

    kind: SourceKind
    text: str
    call: OpenCall
    fallback: OpenCall | None = None  # tried when the main call fails (cameras: OpenCV)

    @property
    def live(self) -> bool:
        """Live sources run at their own pace and may reconnect; files and lavfi are paced by us."""
        return self.kind in ("camera", "network")

    @property
    def display_name(self) -> str:
        """The source for messages, with any password in a URL masked."""
        return redact_url(self.text) if self.kind == "network" else self.text


def redact_url(url: str) -> str:
    """Replace the password of ``scheme://user:pass@host/...`` by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def platform_family(platform: str | None = None) -> str:
    """``linux``, ``darwin`` or ``win32`` (other Unixes count as linux: they use v4l2 if anything)."""
    platform = platform or sys.platform
    if platform.startswith("win") or platform == "cygwin":
        return "win32"
    if platform == "darwin":
        return "darwin"
    return "linux"


def _camera_options(size: str | None, fps: float | None, family: str) -> dict[str, str]:
    options: dict[str, str] = {}
    if size:
        if not re.fullmatch(r"[1-9]\d*x[1-9]\d*", size):
            raise UsageError(f"camera size must look like 1280x720, not {size!r}")
        options["video_size"] = size
    if fps:
        options["framerate"] = f"{fps:g}"
    elif family == "darwin":
        # avfoundation refuses to open unless the rate matches a mode; 30 is every webcam's.
        options["framerate"] = "30"
    return options


def camera_call(
    device: int | str, platform: str | None = None, size: str | None = None, fps: float | None = None
) -> tuple[OpenCall, OpenCall | None]:
    """The PyAV call for a camera index or device name on ``platform``, and the OpenCV fallback.

    Linux: v4l2 on ``/dev/videoN``.  macOS: avfoundation, ``"N:none"`` (video device N, no audio)
    or a device name.  Windows: dshow needs a device *name* (``video=NAME``); an index goes to
    OpenCV's DirectShow capture, which enumerates devices by number.
    """
    family = platform_family(platform)
    options = _camera_options(size, fps, family)
    is_index = isinstance(device, int) or str(device).isdigit()
    index = int(device) if is_index else None
    if family == "linux":
        path = f"/dev/video{index}" if index is not None else str(device)
        return OpenCall(path, "v4l2", options), OpenCall(str(index) if index is not None else path, backend="opencv")
    if family == "darwin":
        target = f"{index}:none" if index is not None else str(device)
        fallback = OpenCall(str(index), backend="opencv") if index is not None else None
        return OpenCall(target, "avfoundation", options), fallback
    if index is not None:
        return OpenCall(str(index), backend="opencv"), None
    name = str(device)
    target = name if name.startswith(("video=", "audio=")) else f"video={name}"
    return OpenCall(target, "dshow", options), None


def network_call(url: str, rtsp_transport: str = "tcp") -> OpenCall:
    """The PyAV call for a network URL: RTSP over TCP unless told otherwise."""
    if rtsp_transport not in ("tcp", "udp"):
        raise UsageError(f"--rtsp-transport must be tcp or udp, not {rtsp_transport!r}")
    scheme = url.split("://", 1)[0].lower()
    # Not fflags=nobuffer: it throws away what FFmpeg reads while it learns the stream's format,
    # about a second of a UDP feed; kept, those frames arrive at once and the live queue catches up.
    options: dict[str, str] = {}
    if scheme in ("rtsp", "rtsps"):
        options["rtsp_transport"] = rtsp_transport
    return OpenCall(url, None, options)


def parse_source(
    text: str | None,
    platform: str | None = None,
    rtsp_transport: str = "tcp",
    camera_size: str | None = None,
    camera_fps: float | None = None,
) -> SourceSpec:
    """Classify a SOURCE argument and build its open call (nothing is opened here)."""
    if text is None or text == "":
        text = "0"
    if is_stdin(text):  # a pipe plays like a file: paced by its timestamps, over at its end
        return SourceSpec("file", text, OpenCall("pipe:0"))
    match = _SCHEME.match(text)
    if match:
        scheme = match.group(1).lower()
        if scheme not in NETWORK_SCHEMES and scheme != "file":
            raise UsageError(f"unsupported URL scheme {scheme!r}; use one of {', '.join(NETWORK_SCHEMES)}")
        if scheme == "file":
            return _file_source(text[len("file://") :], text)
        if not urlsplit(text).hostname and scheme not in ("udp", "rtp", "srt", "tcp"):
            raise UsageError(f"URL {redact_url(text)!r} names no host")
        return SourceSpec("network", text, network_call(text, rtsp_transport))
    if text.startswith("lavfi:"):
        graph = text[len("lavfi:") :]
        if not graph:
            raise UsageError("lavfi: needs a filter graph, e.g. lavfi:testsrc2=size=640x480:rate=30")
        return SourceSpec("lavfi", text, OpenCall(graph, "lavfi"))
    prefix, sep, rest = text.partition(":")
    if sep and prefix.lower() in DEVICE_FORMATS and rest:
        fmt = "v4l2" if prefix.lower() == "video4linux2" else prefix.lower()
        if fmt in ("v4l2", "avfoundation", "dshow"):
            family = {"v4l2": "linux", "avfoundation": "darwin", "dshow": "win32"}[fmt]
            call, fallback = camera_call(rest, family, camera_size, camera_fps)
            return SourceSpec("camera", text, call, fallback)
        return SourceSpec("camera", text, OpenCall(rest, fmt, _camera_options(camera_size, camera_fps, "linux")))
    if text.isdigit():
        call, fallback = camera_call(int(text), platform, camera_size, camera_fps)
        return SourceSpec("camera", text, call, fallback)
    if platform_family(platform) == "linux" and text.startswith("/dev/"):
        call, fallback = camera_call(text, platform, camera_size, camera_fps)
        return SourceSpec("camera", text, call, fallback)
    return _file_source(text, text)


def _file_source(path_text: str, text: str) -> SourceSpec:
    path = Path(path_text).expanduser()
    if not path.exists():
        raise MediaError(
            f"source not found: {text} (give a camera index, a device, a URL, lavfi:<graph> or an existing file)"
        )
    if path.is_dir():
        raise MediaError(f"source {text} is a folder, not a video")
    if not os.access(path, os.R_OK):
        raise MediaError(f"cannot read {text}: permission denied")
    return SourceSpec("file", text, OpenCall(str(path)))
