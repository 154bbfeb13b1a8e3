"""Network and pipe outputs: which names are streams rather than files, and how FFmpeg writes each.

    >>> is_stream_output("udp://127.0.0.1:5000")   # True; "out.mp4" and "./udp" are files
    >>> stream_target("-")                         # StreamTarget("pipe:1", "mpegts", ...): MPEG-TS on stdout
    >>> stream_target("rtsp://server:8554/cam")    # pushed as ffmpeg -f rtsp does (RTSP over TCP)
    >>> stream_target("srt://host:9000")           # UsageError when this FFmpeg build has no srt

| output | written as |
| --- | --- |
| ``-``, ``pipe:``, ``pipe:1`` | MPEG-TS on stdout |
| ``udp://host:port`` | MPEG-TS in 1316-byte datagrams (7 TS packets) |
| ``tcp://host:port`` | MPEG-TS to a listening socket |
| ``srt://host:port`` | MPEG-TS, where FFmpeg was built with libsrt |
| ``rtsp://host:port/path`` | RTSP ANNOUNCE/RECORD (push), over TCP |
| ``rtmp://``, ``rtmps://`` | FLV |
| ``FOLDER/NAME.m3u8`` (a file name) | HLS: a playlist and MPEG-TS segments (``io/hls.py``, ``HlsPlan.target``) |

A stream has no temporary file and no rename: it is written as it is made (``io/stream_sink.py``).
Credentials and keys in a URL never reach a message: ``redact`` shows scheme, host and port.
"""

from __future__ import annotations

import ctypes
import functools
import glob
import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import av

from ..errors import UsageError

if TYPE_CHECKING:
    from .hls import HlsPlan

# scheme -> (muxer, the FFmpeg protocol it needs)
SCHEMES: dict[str, tuple[str, str]] = {
    "udp": ("mpegts", "udp"),
    "tcp": ("mpegts", "tcp"),
    "srt": ("mpegts", "srt"),
    "rtsp": ("rtsp", "tcp"),
    "rtmp": ("flv", "rtmp"),
    "rtmps": ("flv", "rtmps"),
}
PIPE_NAMES = ("-", "pipe:", "pipe:1")
HLS_SUFFIX = ".m3u8"  # a file name with it is a playlist (io/hls.py), not a stream
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
RW_TIMEOUT_US = 5_000_000  # a connection that takes no data for 5 s is broken


@dataclass(frozen=True)
class StreamTarget:
    """What to hand FFmpeg: the URL, the muxer and its options; ``label`` is safe to print."""

    url: str
    format: str
    label: str
    options: dict[str, str] = field(default_factory=dict)
    hls: HlsPlan | None = None  # a playlist in a folder (io/hls.py)

    @property
    def scheme(self) -> str:
        """``pipe``, ``udp``, ``rtsp``, ``hls``..."""
        if self.hls is not None:
            return "hls"
        return "pipe" if self.url.startswith("pipe:") else self.url.split("://", 1)[0].lower()


def is_stream_output(name: object) -> bool:
    """True for ``-``, ``pipe:N`` and ``scheme://...`` names: outputs that are not files."""
    if not isinstance(name, str):
        return False
    return name in PIPE_NAMES or name.startswith("pipe:") or _URL.match(name) is not None


def is_hls_output(name: object) -> bool:
    """True for a file name ending in ``.m3u8`` (str, bytes or path; not a URL): an HLS playlist."""
    if not isinstance(name, (str, bytes, os.PathLike)):
        return False
    text = os.fsdecode(os.fspath(name))
    return "://" not in text and text.lower().endswith(HLS_SUFFIX)


def redact(url: str) -> str:
    """A URL without its user, password, query and (for RTMP) stream key: safe for messages."""
    if url.startswith("pipe:") or url == "-":
        return "stdout" if url in PIPE_NAMES else url
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    where = f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")
    path = parts.path
    if parts.scheme.lower() in ("rtmp", "rtmps") and path.count("/") >= 2:
        path = path.rsplit("/", 1)[0] + "/..."  # rtmp://host/app/KEY: the key is a password
    return where + path


@functools.cache
def ffmpeg_protocols() -> frozenset[str] | None:
    """The output protocols of the FFmpeg that PyAV loaded, or None where they cannot be listed."""
    folder = os.path.dirname(av.__file__)
    candidates = glob.glob(os.path.join(folder, "..", "av.libs", "libavformat*")) + glob.glob(
        os.path.join(folder, ".dylibs", "libavformat*")
    )
    for path in candidates:
        try:
            lib = ctypes.CDLL(path)
            enum = lib.avio_enum_protocols
        except (OSError, AttributeError):
            continue
        enum.restype = ctypes.c_char_p
        enum.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int]
        opaque = ctypes.c_void_p()
        names = set()
        while (name := enum(ctypes.byref(opaque), 1)) is not None:
            names.add(name.decode())
        return frozenset(names)
    return None


def writable_schemes(protocols: frozenset[str] | None = None) -> list[str]:
    """The stream outputs this FFmpeg build can write (all of them when it cannot tell)."""
    protocols = ffmpeg_protocols() if protocols is None else protocols
    return [s for s, (_, proto) in SCHEMES.items() if protocols is None or proto in protocols]


def _what_works(protocols: frozenset[str] | None) -> str:
    return ", ".join(f"{s}://" for s in writable_schemes(protocols)) + " and - (stdout)"


def stream_target(name: str, protocols: frozenset[str] | None = None) -> StreamTarget:
    """How to write the stream output ``name``; UsageError for a scheme we do not write or this
    FFmpeg build cannot (naming those it can)."""
    if name in PIPE_NAMES or name.startswith("pipe:"):
        if name not in PIPE_NAMES:
            raise UsageError(f"cannot write to {name}: the pipe output is - (stdout), pipe: or pipe:1")
        return StreamTarget("pipe:1", "mpegts", "stdout")
    if is_hls_output(name):  # checked and planned by io/hls.py instead
        raise UsageError(f"{name}: an HLS playlist is written by live --output and video's OUT, not here")
    parts = urlsplit(name)
    scheme = parts.scheme.lower()
    protocols = ffmpeg_protocols() if protocols is None else protocols
    if scheme not in SCHEMES:
        raise UsageError(f"cannot stream to {scheme}:// outputs; the stream outputs are {_what_works(protocols)}")
    muxer, protocol = SCHEMES[scheme]
    if protocols is not None and protocol not in protocols:
        raise UsageError(
            f"this FFmpeg build cannot write {scheme}:// (it has no {protocol} protocol); "
            f"it can write {_what_works(protocols)}"
        )
    if not parts.hostname or parts.port is None and scheme in ("udp", "tcp", "srt"):
        raise UsageError(f"{redact(name)}: give a host and a port, e.g. {scheme}://127.0.0.1:5000")
    url, options = name, {}
    if scheme == "udp" and "pkt_size" not in parts.query:
        url += ("&" if parts.query else "?") + "pkt_size=1316"  # whole TS packets per datagram
    if scheme == "rtsp":
        options["rtsp_transport"] = "tcp"
        # The muxer passes it to its TCP connection: connect, each answer and each send time out
        # instead of hanging (with PyAV holding the GIL while the header is written).
        options["timeout"] = str(RW_TIMEOUT_US)
    if scheme == "tcp" and "timeout" not in parts.query:
        # PyAV opens outputs without FFmpeg's I/O timeout; tcp:// reads its own from the URL
        url += ("&" if parts.query else "?") + f"timeout={RW_TIMEOUT_US}"
    return StreamTarget(url, muxer, redact(name), options)
