"""Live input from a real RTSP server on loopback (GStreamer, started by the test), and the
one-line errors for every kind of bad source."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest

from stream_colorize.frames import Frame
from stream_colorize.io.devices import parse_source
from stream_colorize.io.live_source import LiveSource
from stream_colorize.threads import LeakyQueue
from tests.support.live import RtspServer, make_h264_mp4, rtsp_server_missing

pytestmark = pytest.mark.rtsp


def run_cli(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """``python -m stream_colorize ...`` as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "stream_colorize", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env or {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")},
    )


def assert_one_line_error(done: subprocess.CompletedProcess, *fragments: str) -> None:
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, done.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


class Collector:
    """Drains a LeakyQueue in a thread, counting frames and keeping the last one."""

    def __init__(self, queue: LeakyQueue[Frame]) -> None:
        self.queue, self.count, self.last = queue, 0, None
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            frame = self.queue.get(timeout=0.1)
            if frame is not None:
                self.count, self.last = self.count + 1, frame

    def wait_for(self, count: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.count < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.count >= count

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(5)


def test_client_reconnects_when_the_server_comes_back(rtsp_server: RtspServer) -> None:
    frames: LeakyQueue[Frame] = LeakyQueue(4)
    source = LiveSource(
        parse_source(rtsp_server.url), frames, retries=20, open_timeout=5, read_timeout=2, backoff=(0.2, 1.0)
    )
    source.open()
    source.start()
    got = Collector(frames)
    try:
        assert got.wait_for(20, 20), "no frames from the RTSP server"
        assert got.last.image.shape == (240, 320)
        rtsp_server.stop()  # the camera vanishes mid-stream
        deadline = time.monotonic() + 15
        while not source.status.startswith("reconnecting") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert source.status.startswith("reconnecting"), source.status
        before = got.count
        time.sleep(1.0)
        assert got.count - before <= 4  # nothing new arrives while the server is down (only queued frames)
        rtsp_server.start()  # same port
        assert got.wait_for(got.count + 30, 30), f"no frames after the restart ({source.status})"
        assert source.status == "playing" and source.reconnects >= 1 and source.error is None
        assert source.running
    finally:
        source.stop()
        got.stop()


def _wait_for_a_client(port: int, limit: float = 60.0) -> None:
    """Until a TCP connection to ``port`` on this machine is established (read from /proc/net/tcp)."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            if state == "01" and int(local.split(":")[1], 16) == port:
                return
        time.sleep(0.1)
    raise AssertionError(f"no client connected to port {port} within {limit:g} s")


def test_gives_up_after_the_retries_with_a_clear_message(rtsp_server: RtspServer, tiny_onnx: Path) -> None:
    cmd = [
        "live", rtsp_server.url, "-m", str(tiny_onnx), "--headless", "--retries", "2", "--read-timeout", "1",
        "--timeout", "2",
    ]  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "stream_colorize", *cmd], stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    _wait_for_a_client(rtsp_server.port)  # start-up time varies with the machine's load
    time.sleep(2)
    rtsp_server.stop()
    _, stderr = proc.communicate(timeout=60)
    done = subprocess.CompletedProcess(cmd, proc.returncode, "", stderr)
    assert "reconnecting (1/2)" in stderr and "reconnecting (2/2)" in stderr
    assert_one_line_error(done, "gave up after 2", "--retries")


@pytest.mark.slow
def test_headless_record_of_a_served_clip(tmp_path: Path, tiny_onnx: Path) -> None:
    reason = rtsp_server_missing()
    if reason:
        pytest.skip(reason)
    clip = make_h264_mp4(tmp_path / "served.mp4", seconds=4)
    out = tmp_path / "rec.mp4"
    with RtspServer(file=clip) as server:
        done = run_cli("live", server.url, "-m", str(tiny_onnx), "--headless", "--record", str(out), "--duration", "3")
    assert done.returncode == 0, done.stderr
    assert "latency p50" in done.stderr
    with av.open(str(out)) as rec:
        stream = rec.streams.video[0]
        assert (stream.width, stream.height) == (320, 240)
        images = [f.to_ndarray(format="bgr24") for f in rec.decode(video=0)]
    assert len(images) >= 30  # about 3 s at 30 fps, frames may drop but not most of them
    spread = np.ptp(images[-1].astype(np.int16), axis=2).mean()
    assert spread > 3  # the gray stream came back with colour


# -- bad sources: one line, exit 1, no traceback, no hang ---------------------------------------
def test_refused_connection(tiny_onnx: Path) -> None:
    from tests.support.live import free_port

    done = run_cli("live", f"rtsp://127.0.0.1:{free_port()}/live", "-m", str(tiny_onnx), "--headless")
    assert_one_line_error(done, "connection refused", "127.0.0.1")


def test_wrong_path_and_401(rtsp_server: RtspServer, tiny_onnx: Path) -> None:
    done = run_cli("live", rtsp_server.url.replace("/live", "/nothere"), "-m", str(tiny_onnx), "--headless")
    assert_one_line_error(done, "404")
    with RtspServer(user="alice", password="s3cret") as locked:
        done = run_cli("live", locked.url.replace("rtsp://", "rtsp://alice:wrong@"), "-m", str(tiny_onnx), "--headless")
        assert_one_line_error(done, "401", "user:password@")
        assert "wrong" not in done.stderr  # the password is not echoed
        good = locked.url.replace("rtsp://", "rtsp://alice:s3cret@")
        done = run_cli("live", good, "-m", str(tiny_onnx), "--headless", "--duration", "1")
        assert done.returncode == 0, done.stderr


def test_stalled_server_times_out(tmp_path: Path, tiny_onnx: Path) -> None:
    import socket

    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        began = time.monotonic()
        done = run_cli("live", f"rtsp://127.0.0.1:{port}/x", "-m", str(tiny_onnx), "--headless", "--timeout", "2")
    assert_one_line_error(done, "no answer within 2 s")
    assert time.monotonic() - began < 30


def test_unknown_device_no_video_and_missing_file(tmp_path: Path, tiny_onnx: Path) -> None:
    from tests.support.media import make_audio_only

    done = run_cli("live", "7", "-m", str(tiny_onnx), "--headless")
    assert_one_line_error(done, "no camera at /dev/video7")
    audio = make_audio_only(tmp_path / "tone.m4a")
    done = run_cli("live", str(audio), "-m", str(tiny_onnx), "--headless")
    assert_one_line_error(done, "no video stream")
    done = run_cli("live", str(tmp_path / "nothing.mp4"), "-m", str(tiny_onnx), "--headless")
    assert_one_line_error(done, "source not found")


def test_no_display_is_a_clear_error_not_an_abort(tiny_onnx: Path) -> None:
    done = run_cli("live", "lavfi:testsrc2=size=160x120:rate=30", "-m", str(tiny_onnx))
    assert_one_line_error(done, "no display", "--headless", "--record")
    done = run_cli("live", "lavfi:testsrc2", "-m", str(tiny_onnx), env={**os.environ, "DISPLAY": ":987"})
    assert_one_line_error(done, "cannot connect to the X display")
