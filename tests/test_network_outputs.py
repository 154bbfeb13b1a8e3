"""Stream outputs: ``video IN udp://...``, ``video IN -``, RTSP and RTMP push, and live ``--output``.

Real receivers on 127.0.0.1, started by the tests: PyAV reading the UDP port, PyAV reading the
command's stdout through a pipe, FFmpeg's RTSP listen mode (``-rtsp_flags listen``) and RTMP listen
mode (``-listen 1``).  What they receive is decoded back: frame counts, size, colour, audio.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest

from stream_colorize.engine import Colorizer
from stream_colorize.errors import UsageError
from stream_colorize.io.devices import parse_source
from stream_colorize.io.stream_output import StreamOutput
from stream_colorize.io.stream_targets import is_stream_output, redact, stream_target, writable_schemes
from stream_colorize.live import LiveOptions, run_live
from stream_colorize.models.spec import ModelSpec
from tests.support.cli import run_main
from tests.support.live import free_port
from tests.support.media import chroma, make_clip

REPO = Path(__file__).resolve().parents[1]
FFMPEG = shutil.which("ffmpeg")
needs_ffmpeg = pytest.mark.skipif(FFMPEG is None, reason="the ffmpeg command is not installed")


def free_udp_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 s of gray 160x120 video at 25 fps with AAC audio."""
    return make_clip(tmp_path_factory.mktemp("net") / "clip.mp4", seconds=2.0, size=(160, 120), audio=1)


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "stream_colorize", *args]


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


class UdpReceiver(threading.Thread):
    """PyAV reading MPEG-TS from a UDP port: decodes every frame it gets, as BGR."""

    def __init__(self, port: int, seconds: float) -> None:
        super().__init__(name="udp-receiver", daemon=True)
        self.url = f"udp://127.0.0.1:{port}?fifo_size=1000000&overrun_nonfatal=1"
        self.seconds = seconds
        self.frames: list[np.ndarray] = []
        self.audio = 0
        self.error: BaseException | None = None
        self.ready = threading.Event()

    def run(self) -> None:
        try:
            self.ready.set()
            with av.open(self.url, timeout=(self.seconds, 1.5)) as container:
                ended = time.monotonic() + self.seconds
                for packet in container.demux():
                    for frame in packet.decode():
                        if isinstance(frame, av.VideoFrame):
                            self.frames.append(frame.to_ndarray(format="bgr24"))
                        else:
                            self.audio += 1
                    if time.monotonic() > ended:
                        break
        except av.error.ExitError:  # the read timeout after the sender stopped
            pass
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            self.error = exc


# -- names ----------------------------------------------------------------------------------


def test_stream_names_and_what_ffmpeg_can_write() -> None:
    assert all(map(is_stream_output, ["-", "pipe:1", "udp://h:1", "rtsp://h/x", "rtmp://h/a/k", "srt://h:1"]))
    assert not any(map(is_stream_output, ["out.mp4", "udp", "./rtsp/x.mp4", "lavfi:x"]))
    assert stream_target("-").url == "pipe:1" and stream_target("-").format == "mpegts"
    assert stream_target("udp://127.0.0.1:5000").url == "udp://127.0.0.1:5000?pkt_size=1316"
    assert stream_target("rtmp://h/live/key").format == "flv"
    assert stream_target("rtsp://h:8554/x").options == {"rtsp_transport": "tcp", "timeout": "5000000"}
    # credentials and stream keys never reach a message
    assert redact("rtsp://admin:hunter2@cam:554/live?auth=abc") == "rtsp://cam:554/live"
    assert redact("rtmp://a.rtmp.example/live2/sk_live_123") == "rtmp://a.rtmp.example/live2/..."
    with pytest.raises(UsageError, match="stream outputs are udp://"):
        stream_target("http://example.invalid/up")
    with pytest.raises(UsageError, match="give a host and a port"):
        stream_target("udp://127.0.0.1")
    without_srt = frozenset({"udp", "tcp", "rtmp", "pipe", "file"})
    with pytest.raises(UsageError) as info:
        stream_target("srt://127.0.0.1:9000", protocols=without_srt)
    assert str(info.value) == (
        "this FFmpeg build cannot write srt:// (it has no srt protocol); "
        "it can write udp://, tcp://, rtsp://, rtmp:// and - (stdout)"
    )
    assert "udp" in writable_schemes() and "rtsp" in writable_schemes()


# -- video ----------------------------------------------------------------------------------


def test_video_to_udp_is_received_and_decoded(clip: Path, tiny_onnx: Path) -> None:
    port = free_udp_port()
    receiver = UdpReceiver(port, seconds=20)
    receiver.start()
    receiver.ready.wait(5)
    time.sleep(0.3)  # the receiver binds the port
    run = subprocess.run(cli("video", str(clip), f"udp://127.0.0.1:{port}", "-m", str(tiny_onnx), "-q"),
                         capture_output=True, text=True, timeout=60, env=env())  # fmt: skip
    receiver.join(30)
    assert run.returncode == 0, run.stderr
    assert "50 frames in" in run.stderr and f"-> udp://127.0.0.1:{port}" in run.stderr
    assert receiver.error is None, receiver.error
    assert len(receiver.frames) >= 45  # UDP on loopback: all or nearly all (the first waits for a keyframe)
    assert receiver.frames[-1].shape == (120, 160, 3)
    assert np.mean([chroma(f) for f in receiver.frames[-10:]]) > 5  # colour from a gray film
    assert receiver.audio > 0  # the sound went along


def test_video_to_stdout_is_mpegts_a_pipe_reader_decodes(clip: Path, tiny_onnx: Path) -> None:
    process = subprocess.Popen(cli("video", str(clip), "-", "-m", str(tiny_onnx), "-q"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env())  # fmt: skip
    assert process.stdout is not None
    with av.open(process.stdout, format="mpegts") as container:
        kinds = sorted(s.type for s in container.streams)
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    err = process.stderr.read().decode() if process.stderr else ""
    assert process.wait(30) == 0, err
    assert kinds == ["audio", "video"] and len(frames) == 50
    assert np.mean([chroma(f) for f in frames[5:]]) > 5
    assert "-> stdout" in err


@needs_ffmpeg
def test_video_pushes_rtsp_to_a_listening_server(clip: Path, tiny_onnx: Path, tmp_path: Path) -> None:
    port, received = free_port(), tmp_path / "received.mkv"
    server = subprocess.Popen([str(FFMPEG), "-v", "error", "-rtsp_flags", "listen", "-timeout", "20",
                               "-i", f"rtsp://127.0.0.1:{port}/colour", "-c:v", "ffv1", "-an", "-y", str(received)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        time.sleep(0.5)  # FFmpeg binds the port
        run = subprocess.run(cli("video", str(clip), f"rtsp://127.0.0.1:{port}/colour", "-m", str(tiny_onnx), "-q"),
                             capture_output=True, text=True, timeout=60, env=env())  # fmt: skip
        assert run.returncode == 0, run.stderr
        server.wait(20)
    finally:
        server.kill()
    with av.open(str(received)) as container:
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    assert len(frames) == 50 and frames[0].shape == (120, 160, 3)
    assert np.mean([chroma(f) for f in frames[5:]]) > 5


@pytest.mark.parametrize("url", ["rtsp://127.0.0.1:{port}/x", "rtmp://127.0.0.1:{port}/live/secret-key",
                                 "tcp://127.0.0.1:{port}"])  # fmt: skip
def test_video_to_an_unreachable_server_fails_in_one_line(clip: Path, url: str, capsys: pytest.CaptureFixture) -> None:
    target = url.format(port=free_port())
    code, out, err = run_main(["video", str(clip), target, "-m", "standin-tiny", "-q"], capsys)
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1, err
    assert lines[0].startswith(f"stream-colorize: error: cannot send to {redact(target)}: ")
    assert "refused" in lines[0].lower() and "secret-key" not in err


@pytest.mark.parametrize("scheme", ["rtsp", "rtmp"])
def test_a_server_that_accepts_and_never_answers_times_out(clip: Path, scheme: str) -> None:
    import socket

    with socket.socket() as listener:  # accepts (the kernel does), never reads nor answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        target = f"{scheme}://127.0.0.1:{listener.getsockname()[1]}/live/" + ("secret-key" if scheme == "rtmp" else "x")
        began = time.monotonic()
        done = subprocess.run(cli("video", str(clip), target, "-m", "standin-tiny", "-q"),
                              capture_output=True, text=True, env=env(), timeout=60)  # fmt: skip
        took = time.monotonic() - began
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1, done.stderr
    assert lines[0].startswith(f"stream-colorize: error: cannot send to {redact(target)}: no answer within 5 s")
    assert took < 40 and "secret-key" not in done.stderr  # a hang would run into the 60 s above


def test_video_stream_output_mistakes_are_one_line(clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    cases = {
        ("video", str(clip), "http://127.0.0.1:9/x"): "cannot stream to http:// outputs",
        ("video", str(tmp_path), "udp://127.0.0.1:9"): "a folder of videos cannot go to one stream",
        ("video", str(tmp_path / "missing.mp4"), "udp://127.0.0.1:9"): "input not found",
        ("video", str(clip), "udp://127.0.0.1:9", "--workers", "2"): "segments and workers need a file output",
    }
    for args, said in cases.items():
        code, _, err = run_main([*args, "-m", "standin-tiny", "-q"], capsys)
        assert code != 0 and len(err.strip().splitlines()) == 1 and said in err, (args, err)


# -- live --output ----------------------------------------------------------------------------


def test_live_output_to_udp_beside_the_session(tiny_spec: ModelSpec) -> None:
    port = free_udp_port()
    receiver = UdpReceiver(port, seconds=15)
    receiver.start()
    receiver.ready.wait(5)
    time.sleep(0.3)
    out = StreamOutput(stream_target(f"udp://127.0.0.1:{port}"), fps=30.0)
    options = LiveOptions(headless=True, duration=3.0)
    source = "lavfi:testsrc2=size=320x240:rate=30,format=gray"
    stats = run_live(parse_source(source), Colorizer(tiny_spec, device="cpu"), options, outputs=[out])
    receiver.join(20)
    assert receiver.error is None, receiver.error
    assert out.sent + out.dropped == stats.shown and out.connects == 1 and out.losses == 0
    assert len(receiver.frames) >= out.sent - 30  # all but those before the first keyframe (1 s)
    assert np.mean([chroma(f) for f in receiver.frames[-10:]]) > 5


@needs_ffmpeg
def test_live_output_reconnects_after_the_server_restarts(tiny_spec: ModelSpec, tmp_path: Path) -> None:
    port = free_port()
    url = f"rtsp://127.0.0.1:{port}/colour"

    def server(name: str) -> subprocess.Popen:
        return subprocess.Popen([str(FFMPEG), "-v", "error", "-rtsp_flags", "listen", "-timeout", "30", "-i", url,
                                 "-c:v", "ffv1", "-y", str(tmp_path / name)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip

    notes: list[str] = []
    first = server("first.mkv")
    time.sleep(0.5)
    out = StreamOutput(stream_target(url), fps=30.0, on_note=notes.append, first_retry_s=0.5)
    second: subprocess.Popen | None = None

    class Director:
        """Kills the first server after a second of sending, starts the second once the loss was said."""

        poll_s = 0.05

        def show(self, shown: object, status: object) -> None:
            nonlocal second
            if out.sent > 30 and first.poll() is None and not notes:
                first.send_signal(signal.SIGKILL)
            if notes and second is None:
                second = server("second.mkv")

        def events(self) -> list:
            from stream_colorize.io.live_outputs import Action, Control

            return [Control(Action.QUIT)] if out.connects >= 2 and out.state == "sending" and out.sent > 80 else []

        def close(self, ok: bool) -> None:
            pass

    options = LiveOptions(headless=True, duration=25.0)
    source = "lavfi:testsrc2=size=160x120:rate=30,format=gray"
    try:
        stats = run_live(parse_source(source), Colorizer(tiny_spec, device="cpu"), options, outputs=[out, Director()])
        assert second is not None
        second.wait(20)
    finally:
        first.kill()
        if second is not None:
            second.kill()
    assert stats.shown < 25 * 30  # it quit once the second server was fed
    assert notes[0].startswith(f"lost {url}: ") and "reconnecting" in notes[0]
    assert notes[-1] == f"{url}: sending again" and out.connects == 2 and out.losses == 1
    with av.open(str(tmp_path / "second.mkv")) as container:
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    assert len(frames) > 10 and np.mean([chroma(f) for f in frames[-5:]]) > 5


def test_live_output_option_refuses_what_ffmpeg_cannot_write(capsys: pytest.CaptureFixture) -> None:
    code, _, err = run_main(["live", "lavfi:testsrc2", "--headless", "--output", "ftp://127.0.0.1/x"], capsys)
    assert code == 1 and len(err.strip().splitlines()) == 1 and "cannot stream to ftp://" in err
