"""Live input from a real MPEG-TS over UDP sender on loopback (ffmpeg, started by the test)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time

import pytest

from stream_colorize.frames import Frame
from stream_colorize.io.devices import parse_source
from stream_colorize.io.live_source import LiveSource
from stream_colorize.threads import LeakyQueue

SENT = 50  # frames the sender numbers and sends, at 25 fps


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg command line as the sender")
def test_a_udp_stream_is_read_from_its_first_frames() -> None:
    """The frames FFmpeg reads while it learns the stream's format are kept, not thrown away: a
    recording of a UDP feed starts where the feed did (it lost about a second before)."""
    port = _free_udp_port()
    sender_args = ["ffmpeg", "-loglevel", "error", "-re", "-f", "lavfi",
                   "-i", f"testsrc=size=160x120:rate=25:duration={SENT / 25}",
                   "-c:v", "mpeg2video", "-f", "mpegts", f"udp://127.0.0.1:{port}?pkt_size=1316"]  # fmt: skip
    senders: list[subprocess.Popen] = []
    # av.open binds the socket at once and then waits for data: start sending a moment later.
    timer = threading.Timer(1.0, lambda: senders.append(subprocess.Popen(sender_args)))
    timer.start()
    frames: LeakyQueue[Frame] = LeakyQueue(SENT * 2)  # room for all: this test counts what the reader gives
    source = LiveSource(parse_source(f"udp://127.0.0.1:{port}"), frames, retries=0, open_timeout=10, read_timeout=2)
    try:
        source.open()
        source.start()
        got = 0
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and source.status == "playing":  # ends 2 s after the sender
            if frames.get(timeout=0.2) is not None:
                got += 1
        while frames.get(timeout=0.2) is not None:
            got += 1
        assert got >= SENT - 5, f"{got} of {SENT} frames read"
    finally:
        timer.cancel()
        source.stop()
        for sender in senders:
            sender.wait(timeout=20)
