"""Real servers and displays for the live tests: an RTSP server on loopback and Xvfb.

    >>> with RtspServer() as server:                # live test pattern at server.url
    ...     av.open(server.url, options={"rtsp_transport": "tcp"}, timeout=5)
    >>> with RtspServer(file=clip) as server: ...   # an H.264 MP4, served without re-encoding
    >>> with Xvfb() as display: env = {**os.environ, "DISPLAY": display.name}

``RtspServer`` runs tests/support/rtsp_server.py under Debian's /usr/bin/python3 (the GStreamer RTSP
bindings do not import in a venv) on a free port; ``stop()`` kills it (SIGKILL: a dropped server)
and ``start()`` brings it back on the same port.  The pytest fixtures ``rtsp_server`` and
``xvfb`` skip with a reason where the system parts are missing; CI installs them.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

SYSTEM_PYTHON = "/usr/bin/python3"
SERVER_SCRIPT = Path(__file__).with_name("rtsp_server.py")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rtsp_server_missing() -> str | None:
    """Why the GStreamer RTSP server cannot run here, or None."""
    if not Path(SYSTEM_PYTHON).exists():
        return f"{SYSTEM_PYTHON} not found"
    probe = subprocess.run(
        [
            SYSTEM_PYTHON,
            "-c",
            "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer",
        ],
        capture_output=True,
        timeout=30,
    )
    if probe.returncode != 0:
        return "GStreamer RTSP server bindings missing (apt: gir1.2-gst-rtsp-server-1.0 python3-gi gstreamer1.0-*)"
    return None


class RtspServer:
    """tests/support/rtsp_server.py as a subprocess: a live pattern, or ``file`` (H.264 MP4) at /live."""

    def __init__(
        self,
        file: Path | None = None,
        port: int | None = None,
        user: str | None = None,
        password: str | None = None,
        size: tuple[int, int] = (320, 240),
        fps: int = 30,
    ) -> None:
        self.file = file
        self.port = port or free_port()
        self.user, self.password = user, password
        self.size, self.fps = size, fps
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """rtsp://127.0.0.1:PORT/live (without credentials)."""
        return f"rtsp://127.0.0.1:{self.port}/live"

    def command(self) -> list[str]:
        cmd = [SYSTEM_PYTHON, str(SERVER_SCRIPT), "--port", str(self.port)]
        cmd += (
            ["--file", str(self.file)] if self.file else ["--width", str(self.size[0]), "--height", str(self.size[1])]
        )
        cmd += ["--fps", str(self.fps)]
        if self.user:
            cmd += ["--user", self.user, "--password", self.password or ""]
        return cmd

    def start(self, timeout: float = 15.0) -> RtspServer:
        """Start (or restart) the server and wait for its READY line."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
        deadline = time.monotonic() + timeout
        while True:
            self.proc = subprocess.Popen(
                self.command(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
            )
            line = self.proc.stdout.readline()  # the server prints READY at once, or dies
            if line.startswith("READY"):
                return self
            self.proc.wait(5)
            if time.monotonic() > deadline:
                raise RuntimeError(f"RTSP server did not start: {line.strip()} {self.proc.stderr.read()[-500:]}")
            time.sleep(0.2)  # the port may still be held by the previous instance

    def stop(self) -> None:
        """Kill the server abruptly (as a crashed camera would vanish)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def __enter__(self) -> RtspServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def xvfb_missing() -> str | None:
    """Why Xvfb tests cannot run here, or None."""
    for tool in ("Xvfb", "xdotool", "import"):
        if shutil.which(tool) is None:
            return f"{tool} not installed (apt: xvfb xdotool imagemagick)"
    return None


class Xvfb:
    """A private X server on a free display number; ``name`` is the DISPLAY value."""

    def __init__(self, width: int = 1024, height: int = 768) -> None:
        self.size = (width, height)
        self.proc: subprocess.Popen | None = None
        self.number = 0

    @property
    def name(self) -> str:
        return f":{self.number}"

    def env(self) -> dict[str, str]:
        """os.environ with DISPLAY pointing here (and no Wayland)."""
        env = {k: v for k, v in os.environ.items() if k != "WAYLAND_DISPLAY"}
        env["DISPLAY"] = self.name
        return env

    def start(self) -> Xvfb:
        for number in range(90 + os.getpid() % 400, 1000):
            if Path(f"/tmp/.X11-unix/X{number}").exists() or Path(f"/tmp/.X{number}-lock").exists():
                continue
            self.number = number
            self.proc = subprocess.Popen(
                ["Xvfb", self.name, "-screen", "0", f"{self.size[0]}x{self.size[1]}x24", "-nolisten", "tcp"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break  # lost a race for this number: try the next
                if Path(f"/tmp/.X11-unix/X{number}").exists():
                    return self
                time.sleep(0.05)
            self.stop()
        raise RuntimeError("could not start Xvfb")

    def screenshot(self, path: Path) -> Path:
        """The whole screen as a PNG (imagemagick's import)."""
        subprocess.run(["import", "-display", self.name, "-window", "root", str(path)], check=True, timeout=30)
        return path

    def xdotool(self, *args: str) -> str:
        """Run xdotool on this display; its stdout."""
        done = subprocess.run(["xdotool", *args], env=self.env(), capture_output=True, text=True, timeout=30)
        return done.stdout

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def __enter__(self) -> Xvfb:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def make_h264_mp4(path: Path, seconds: float = 3.0, size: tuple[int, int] = (320, 240), rate: int = 30) -> Path:
    """A gray testsrc2 clip, H.264 baseline in MP4 (what the RTSP file factory serves)."""
    import av

    with (
        av.open(f"testsrc2=size={size[0]}x{size[1]}:rate={rate},hue=s=0", format="lavfi") as src,
        av.open(str(path), "w") as out,
    ):
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.options = {"preset": "ultrafast", "profile": "baseline", "g": str(rate)}
        for i, frame in enumerate(src.decode(video=0)):
            if i >= seconds * rate:
                break
            frame.pts = None
            for packet in stream.encode(frame.reformat(format="yuv420p")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path
