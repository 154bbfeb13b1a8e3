"""The web view's and the stream output's figures: MJPEG latency, the CPU viewers cost, UDP delivery.

    $ python bench/serve.py                        # 720p, the bundled model at skip 4, 20 s per phase, 30 s of UDP
    $ python bench/serve.py --size 640x360 --model standin-tiny --seconds 10

1. ``live lavfi:testsrc2 ... --headless --serve`` runs as a subprocess; viewers are threads of a
   second subprocess reading /stream.mjpg.  Phases of 0, 1 and 5 viewers: the server's CPU
   seconds per wall second in each (from /proc), and the latency from a frame's capture to its
   arrival at a viewer (each part carries X-Frame-Captured, the server's time.monotonic(); the
   clock is the same in every process of the machine).
2. ``live ... --output udp://127.0.0.1:PORT`` for ``--udp-seconds``: frames shown (its last line)
   against frames a PyAV receiver in this process decoded.
Figures only; no assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import av
import numpy as np

REPO = Path(__file__).resolve().parents[1]
CLIENT = r"""
import http.client, json, sys, threading, time
port, viewers, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
lat, counts = [], [0] * viewers
def view(k):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/stream.mjpg")
    r = conn.getresponse()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        line = r.readline()
        if line.strip() != b"--frame":
            continue
        h = {}
        while (l := r.readline().strip()):
            a, _, b = l.decode().partition(":"); h[a.strip().lower()] = b.strip()
        r.read(int(h["content-length"]))
        lat.append(time.monotonic() - float(h["x-frame-captured"])); counts[k] += 1
    conn.close()
threads = [threading.Thread(target=view, args=(k,)) for k in range(viewers)]
[t.start() for t in threads]; [t.join() for t in threads]
print(json.dumps({"latency": lat, "frames": counts}))
"""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "stream_colorize", *args]


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def free_port(kind: int = 1) -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM if kind == 1 else socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def status_of(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=5) as answer:
        return json.loads(answer.read())


def serve_phases(source: str, model: str, seconds: float, skip: str) -> None:
    port = free_port()
    total = 3 * seconds + 15
    server = subprocess.Popen(command("live", source, "--headless", "-m", model, "--serve", str(port),
                                      "--duration", str(total), "--skip", skip),
                              env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        time.sleep(8)  # the model loads, the first frames pass
        for viewers in (0, 1, 5):
            before, began, shown = cpu_seconds(server.pid), time.monotonic(), status_of(port)["shown"]
            if viewers:
                client = subprocess.run([sys.executable, "-c", CLIENT, str(port), str(viewers), str(seconds)],
                                        capture_output=True, text=True, timeout=seconds + 30)  # fmt: skip
                got = json.loads(client.stdout)
            else:
                time.sleep(seconds)
                got = {"latency": [], "frames": []}
            used = cpu_seconds(server.pid) - before
            cpu = used / (time.monotonic() - began)
            status = status_of(port)
            per_frame = used / max(1, status["shown"] - shown) * 1000
            line = (f"{viewers} viewers: server CPU {cpu:.2f} cores, {per_frame:.1f} CPU ms a shown frame, "
                    f"JPEG {status['jpeg_ms']:.1f} ms, fps {status['fps']:.1f}, skip {status['skip']}")  # fmt: skip
            if got["latency"]:
                lat = np.asarray(got["latency"][len(got["latency"]) // 10 :]) * 1000  # a tenth as warm-up
                per = np.asarray(got["frames"]) / seconds
                p50, p95 = np.percentile(lat, 50), np.percentile(lat, 95)
                line += f"; capture->viewer latency p50 {p50:.0f} ms, p95 {p95:.0f} ms"
                line += f"; each viewer {per.min():.1f}-{per.max():.1f} fps"
            print(line, flush=True)
    finally:
        server.terminate()
        server.wait(20)


def udp_delivery(source: str, model: str, seconds: float) -> None:
    port = free_port(2)
    frames = [0]

    def receive() -> None:
        url = f"udp://127.0.0.1:{port}?fifo_size=1000000&overrun_nonfatal=1"
        try:
            with av.open(url, timeout=(30, 3)) as container:
                for _ in container.decode(video=0):
                    frames[0] += 1
        except av.error.ExitError:
            pass

    thread = threading.Thread(target=receive, daemon=True)
    thread.start()
    time.sleep(0.5)
    run = subprocess.run(command("live", source, "--headless", "-m", model, "--duration", str(seconds),
                                 "--output", f"udp://127.0.0.1:{port}"),
                         env=env(), capture_output=True, text=True, timeout=seconds + 60)  # fmt: skip
    thread.join(10)
    shown = re.search(r"shown (\d+) frames", run.stderr)
    print(f"UDP over {seconds:g} s: shown {shown.group(1) if shown else '?'}, received and decoded {frames[0]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--model", default="default")
    parser.add_argument("--seconds", type=float, default=20.0, help="per viewer phase")
    parser.add_argument("--udp-seconds", type=float, default=30.0)
    parser.add_argument("--skip", default="4", help="fixed, so the model's share does not move between phases")
    args = parser.parse_args()
    source = f"lavfi:testsrc2=size={args.size}:rate=30,format=gray"
    print(f"source {args.size} at 30 fps, model {args.model}, {os.cpu_count()} cores", flush=True)
    serve_phases(source, args.model, args.seconds, args.skip)
    udp_delivery(source, args.model, args.udp_seconds)


if __name__ == "__main__":
    main()
