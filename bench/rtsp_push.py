"""RTSP push from ``live --output rtsp://...``: frames received against frames produced, and the
reconnect time after the receiving server restarts.

    $ python bench/rtsp_push.py                                # 60 s, then restarts after 1, 3 and 6 s down
    $ python bench/rtsp_push.py --seconds 20 --down 2 --model standin-tiny

The receiving server is FFmpeg's RTSP listen mode (``ffmpeg -rtsp_flags listen -i rtsp://...``),
started by this script, copying the stream (no decode) into ``framecrc`` lines on its stdout,
one a frame, each stamped by this script when it arrives (no probing: ``-analyzeduration 0``, or
FFmpeg would hold the first second of a new connection back and add it to the reconnect time).
The sender is ``stream-colorize live`` on a gray lavfi source (640x360, 25 fps) with ``--serve``
beside it, whose ``/api/status`` gives the frames shown (produced).

1. Steady: from the first frame received, for ``--seconds``: frames received / frames shown.
2. Restarts: the server is killed (SIGKILL), stays down ``--down`` seconds, and a new one listens;
   the reconnect time runs from the new server listening (its port in LISTEN state, read from
   /proc/net/tcp, so nothing connects to it but the sender) to its first frame.  The sender
   retries 1, 2, 4 ... s after the loss, so the time depends on where in that schedule the server
   comes back.

Figures only; no assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCE = "lavfi:testsrc2=size=640x360:rate=25,format=gray"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listening(port: int) -> bool:
    """True when something listens on 127.0.0.1:port (read from /proc, without connecting)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[1].endswith(f":{port:04X}") and fields[3] == "0A":
                return True
    return False


class Receiver:
    """FFmpeg receiving the push in listen mode; ``arrivals`` holds when each frame came."""

    def __init__(self, ffmpeg: str, url: str, port: int) -> None:
        self.arrivals: list[float] = []
        self.process = subprocess.Popen(
            [ffmpeg, "-v", "error", "-rtsp_flags", "listen", "-analyzeduration", "0", "-probesize", "32",
             "-i", url, "-map", "0:v", "-c", "copy", "-f", "framecrc", "-flush_packets", "1", "-"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        self.started = time.monotonic()
        self.listening_at = self._wait_listening(port)
        threading.Thread(target=self._read, daemon=True).start()

    def _wait_listening(self, port: int, timeout: float = 10.0) -> float:
        ends = time.monotonic() + timeout
        while time.monotonic() < ends and self.process.poll() is None:
            if listening(port):
                return time.monotonic()
            time.sleep(0.005)
        raise RuntimeError("the FFmpeg RTSP receiver did not start listening")

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line and not line.startswith("#"):
                self.arrivals.append(time.monotonic())

    def first_frame(self, timeout: float) -> float | None:
        ends = time.monotonic() + timeout
        while time.monotonic() < ends:
            if self.arrivals:
                return self.arrivals[0]
            time.sleep(0.005)
        return None

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)


def shown(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=10) as response:
        return int(json.load(response).get("shown", 0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the steady part")
    parser.add_argument("--down", default="1,3,6", help="seconds the server stays down, one restart each")
    parser.add_argument("--model", default="standin-tiny", help="model (the network part does not depend on it)")
    args = parser.parse_args()
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        sys.exit("rtsp_push: needs the ffmpeg command (the receiving server)")
    downs = [float(d) for d in args.down.split(",") if d.strip()]
    port, serve_port = free_port(), free_port()
    url = f"rtsp://127.0.0.1:{port}/colour"
    receiver = Receiver(ffmpeg, url, port)
    log = Path(tempfile.mkdtemp(prefix="rtsp-push-")) / "live.log"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with log.open("w") as err:
        live = subprocess.Popen([sys.executable, "-m", "stream_colorize", "live", SOURCE, "--headless",
                                 "-m", args.model, "--serve", f"127.0.0.1:{serve_port}", "--output", url],
                                stdout=subprocess.DEVNULL, stderr=err, env=env)  # fmt: skip
    try:
        first = receiver.first_frame(60.0)
        if first is None:
            sys.exit(f"rtsp_push: no frame received within 60 s; see {log}")
        shown0, received0 = shown(serve_port), len(receiver.arrivals)
        time.sleep(args.seconds)
        shown1, received1 = shown(serve_port), len(receiver.arrivals)
        produced, received = shown1 - shown0, received1 - received0
        print(f"steady {args.seconds:g} s ({SOURCE}, model {args.model}): produced {produced} frames, "
              f"received {received} ({100.0 * received / max(1, produced):.2f} %)")  # fmt: skip
        print(f"first frame at the server {first - receiver.listening_at:.2f} s after it listened "
              "(includes the sender's start and model load)")
        for down in downs:
            killed = time.monotonic()
            receiver.kill()
            time.sleep(down)
            receiver = Receiver(ffmpeg, url, port)
            back = receiver.first_frame(90.0)
            if back is None:
                print(f"down {down:g} s: no frame within 90 s of the new server listening")
                continue
            print(f"down {down:g} s: frames again {back - receiver.listening_at:.2f} s after the new server "
                  f"listened ({back - killed:.2f} s after the kill)")  # fmt: skip
            time.sleep(4.0)
            burst = sum(1 for t in receiver.arrivals if t < back + 1.0)
            after = sum(1 for t in receiver.arrivals if back + 1.0 <= t < back + 4.0)
            print(f"  received {burst} frames in its first second, then {after / 3:.1f} fps")
    finally:
        live.send_signal(signal.SIGINT)
        try:
            code = live.wait(30)
        except subprocess.TimeoutExpired:
            live.kill()
            code = live.wait(10)
        receiver.kill()
    notes = [line for line in log.read_text().splitlines() if "reconnecting" in line or "sending again" in line]
    print(f"live exit status {code}; its notes:")
    for line in notes:
        print("  " + line)


if __name__ == "__main__":
    main()
