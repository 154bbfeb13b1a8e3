"""Several cameras on one shared model against one process per camera: model throughput.

    $ python bench/cameras.py                                  # 4 cameras at 640x360, the default model
    $ python bench/cameras.py --cameras 4 --seconds 30 --model compact --threads 2

Three set-ups run one after the other on the same machine, each for ``--seconds`` after a warm-up:

1. ``serve`` with every camera, ``batch_cameras = false``: one engine, one frame a forward;
2. ``serve`` with every camera, ``batch_cameras = true``: one engine, the frames waiting from
   several cameras in one forward;
3. one ``serve`` process per camera (what running ``live`` once per camera amounts to).

Each camera is a lavfi test pattern (gray, paced at ``--fps``) with ``skip = 1``, so the model is
asked for every frame and the throughput is the model's: frames colourized by the model per
second, over all cameras (from each process's /api/status).  Frames shown per second, the
processes' CPU time and their resident memory are printed beside it, then the ratios.  Figures only; no assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PATTERNS = ["testsrc2", "smptebars", "mandelbrot", "life", "cellauto", "rgbtestsrc"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_config(folder: Path, names: list[str], args: argparse.Namespace, batch: bool) -> tuple[Path, int]:
    port = free_port()
    lines = [f'[server]\nlisten = "127.0.0.1:{port}"\nbatch_cameras = {"true" if batch else "false"}\n',
             f'[model]\nname = "{args.model}"']  # fmt: skip
    if args.threads:
        lines.append(f"threads = {args.threads}")
    for name in names:
        pattern = PATTERNS[int(name.removeprefix("cam")) % len(PATTERNS)]
        graph = f"{pattern}=size={args.size}:rate={args.fps}"
        lines.append(f'\n[cameras.{name}]\nsource = "lavfi:{graph},format=gray"\nskip = 1')
    path = folder / f"{'-'.join(names)}-{'batch' if batch else 'one'}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path, port


def status(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=10) as response:
        return json.load(response)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def totals(ports: list[int]) -> tuple[int, int]:
    """Frames the model colourized and frames shown, over every camera of every process."""
    model = shown = 0
    for port in ports:
        for camera in status(port)["cameras"].values():
            model += camera.get("model_runs", 0)
            shown += camera.get("shown", 0)
    return model, shown


def run_setup(label: str, configs: list[tuple[Path, int]], args: argparse.Namespace) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-m", "stream_colorize", "serve", str(path)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for path, _ in configs]  # fmt: skip
    ports = [port for _, port in configs]
    try:
        deadline = time.monotonic() + 120
        while True:  # every camera of every process playing, with the model run at least once
            try:
                bodies = [status(port) for port in ports]
                if all(c["up"] and c.get("model_runs", 0) > 0 for b in bodies for c in b["cameras"].values()):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise SystemExit(f"{label}: did not start: " + " | ".join((p.stderr.read() if p.poll() is not None
                                                                           else "") for p in procs))  # fmt: skip
            time.sleep(0.5)
        time.sleep(args.warmup)
        model0, shown0 = totals(ports)
        cpu0, wall0 = sum(cpu_seconds(p.pid) for p in procs), time.monotonic()
        time.sleep(args.seconds)
        model1, shown1 = totals(ports)
        cpu1, wall1 = sum(cpu_seconds(p.pid) for p in procs), time.monotonic()
        batches = [status(port)["model"] for port in ports]
        rss = sum(rss_mb(p.pid) for p in procs)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(20)
    wall = wall1 - wall0
    forwards = sum(m["forwards"] for m in batches)
    frames = sum(m["frames"] for m in batches)
    result = {
        "label": label,
        "model_fps": (model1 - model0) / wall,
        "shown_fps": (shown1 - shown0) / wall,
        "cpu": (cpu1 - cpu0) / wall,
        "frames_per_forward": frames / forwards if forwards else 0.0,
        "rss_mb": rss,
    }
    print(f"{label:<38} model {result['model_fps']:6.1f} frames/s | shown {result['shown_fps']:6.1f} fps | "
          f"CPU {result['cpu']:4.2f} cores | {result['frames_per_forward']:.2f} frames a forward | "
          f"RSS {rss:.0f} MB", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=4)
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--model", default="default")
    parser.add_argument("--threads", type=int, default=None, help="[model] threads (default: the backend's)")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    args = parser.parse_args()
    names = [f"cam{k}" for k in range(args.cameras)]
    threads = args.threads or "default"
    print(f"{args.cameras} cameras at {args.size} {args.fps} fps, model {args.model}, threads {threads}, "
          f"{os.cpu_count()} CPUs; {args.seconds:g} s each", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        where = Path(folder)
        one = run_setup("shared model, one frame a forward", [write_config(where, names, args, False)], args)
        batched = run_setup("shared model, batched across cameras", [write_config(where, names, args, True)], args)
        separate = run_setup(f"{args.cameras} separate processes", [write_config(where, [n], args, False)
                                                                    for n in names], args)  # fmt: skip
    base = separate["model_fps"] or float("nan")
    print(f"ratio shared (one a forward) / separate: {one['model_fps'] / base:.2f}")
    print(f"ratio shared (batched) / separate:       {batched['model_fps'] / base:.2f}")
    print(f"ratio batched / one a forward:           {batched['model_fps'] / (one['model_fps'] or float('nan')):.2f}")


if __name__ == "__main__":
    main()
