"""A soak of ``serve``: two cameras and one MJPEG viewer for N minutes; the server's memory each minute.

    $ python bench/soak_serve.py --minutes 30                    # the issue's soak, default model
    $ python bench/soak_serve.py --minutes 3 --model standin-tiny

Runs ``stream-colorize serve`` with two gray lavfi cameras (640x360, 30 fps, automatic skip) and
keeps one viewer on the first camera's /cameras/cam0/stream.mjpg (a thread reading every part).
Prints, at the start and every minute: the server's resident memory (VmRSS, from /proc), the
frames each camera has shown and the parts the viewer received; at the end the growth of the
resident memory from the first minute to the last.  Then SIGTERM, and the exit status.
Figures only; no assertions.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def status(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=10) as response:
        return json.load(response)


class Viewer(threading.Thread):
    """Reads /cameras/cam0/stream.mjpg part by part, counting them, until stopped."""

    def __init__(self, port: int) -> None:
        super().__init__(name="viewer", daemon=True)
        self.port = port
        self.parts = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                conn.request("GET", "/cameras/cam0/stream.mjpg")
                response = conn.getresponse()
                length: int | None = None
                while not self.stop.is_set():
                    line = response.readline()
                    if not line:
                        break
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                    elif line == b"\r\n" and length is not None:  # the end of a part's head
                        response.read(length)
                        self.parts += 1
                        length = None
                conn.close()
            except OSError:
                time.sleep(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--model", default="default")
    parser.add_argument("--size", default="640x360")
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "soak.toml"
        config.write_text(
            f'[server]\nlisten = "127.0.0.1:{port}"\n[model]\nname = "{args.model}"\n'
            f'[cameras.cam0]\nsource = "lavfi:testsrc2=size={args.size}:rate=30,format=gray"\n'
            f'[cameras.cam1]\nsource = "lavfi:smptebars=size={args.size}:rate=30,format=gray"\n'
        )
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        proc = subprocess.Popen([sys.executable, "-m", "stream_colorize", "serve", str(config)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
        viewer = Viewer(port)
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if all(c["up"] for c in status(port)["cameras"].values()):
                        break
                except OSError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"serve did not start: {proc.stderr.read() if proc.poll() is not None else ''}")
                time.sleep(0.5)
            viewer.start()
            began = time.monotonic()
            samples: list[float] = []
            what = f"2 cameras at {args.size}, model {args.model}, {args.minutes:g} min"
            print(f"serve pid {proc.pid}, {what}", flush=True)
            for minute in range(int(args.minutes) + 1):
                if minute:
                    time.sleep(max(0.0, began + 60 * minute - time.monotonic()))
                cams = status(port)["cameras"]
                samples.append(rss_mb(proc.pid))
                shown = ", ".join(f"{name} shown {c['shown']} ({c['state']})" for name, c in cams.items())
                print(f"min {minute:3d}  RSS {samples[-1]:7.1f} MB  {shown}  viewer parts {viewer.parts}", flush=True)
            first = samples[1] if len(samples) > 2 else samples[0]  # after a minute of warm-up
            print(f"RSS start {samples[0]:.1f} MB, after 1 min {first:.1f} MB, end {samples[-1]:.1f} MB: "
                  f"{samples[-1] - first:+.1f} MB from minute 1 to the end", flush=True)  # fmt: skip
        finally:
            viewer.stop.set()
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
            print(f"SIGTERM: exit status {proc.returncode}", flush=True)


if __name__ == "__main__":
    main()
