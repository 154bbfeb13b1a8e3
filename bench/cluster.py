"""Segments on Ray against one process: throughput ratio, join/remux share, per-segment costs.

    $ python bench/cluster.py                   # Zhang stand-in, 96 frames, ~4 minutes on 2 cores
    $ python bench/cluster.py --frames 48 --model standin-tiny     # a quick look

Needs root (it re-runs itself in a private network namespace, ``unshare -n``, where a local Ray
binds to 127.0.0.1 only) and the extra ``[cluster]``.  In one run, on the same generated film
(testsrc2 in gray, 24 fps, a keyframe every 12 frames, an AAC track):

* baseline: ``colorize_file`` in this process with ``threads`` = 2 (1 process x 2 threads);
* cluster: ``run_job`` with ``--ray auto`` and 2 actors x 1 thread (a local Ray started for it).

Both are timed from the moment their model is loaded (``on_start``) to the finished file, so
Ray's own start-up (printed apart) is left out.  Printed: frames per second of each and their
ratio (target >= 0.9), the ratio on model frames (warm-up frames included), the share of the
cluster run spent joining segments and remuxing audio (target <= 2 %), and per-segment costs
the projection in docs/CLUSTER.md is built from: driver demux rate, bytes sent and returned per
frame, worker seconds per model frame, join rate.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stream_colorize.cluster import ClusterOptions, job, plan, run_job  # noqa: E402
from stream_colorize.cluster.manifest import JobFolder  # noqa: E402
from stream_colorize.config import Settings  # noqa: E402
from stream_colorize.video import colorize_file  # noqa: E402
from tests.support.media import make_clip  # noqa: E402

INSIDE = "STREAM_COLORIZE_BENCH_NETNS"


def _timed(record: dict, key: str, func):
    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return func(*args, **kwargs)
        finally:
            record[key] = record.get(key, 0.0) + time.perf_counter() - t0

    return wrapper


def _timed_generator(record: dict, key: str, func):
    def wrapper(*args, **kwargs):
        gen = func(*args, **kwargs)
        while True:
            t0 = time.perf_counter()
            try:
                item = next(gen)
            except StopIteration:
                record[key] = record.get(key, 0.0) + time.perf_counter() - t0
                return
            record[key] = record.get(key, 0.0) + time.perf_counter() - t0
            record["sent_bytes"] = record.get("sent_bytes", 0) + sum(p.size for p in item[1])
            record["sent_packets"] = record.get("sent_packets", 0) + len(item[1])
            yield item

    return wrapper


def run(args: argparse.Namespace) -> None:
    folder = Path(tempfile.mkdtemp(prefix="sc-bench-cluster-"))
    width, height = (int(v) for v in args.size.split("x"))
    clip = make_clip(folder / "film.mkv", seconds=args.frames / 24, rate=24, size=(width, height), audio=1, gop=12)
    print(f"film: {args.frames} frames {width}x{height} 24 fps, keyframe every 12; model {args.model}", flush=True)

    marks: dict = {}
    base = colorize_file(clip, folder / "one.mkv", Settings(model=args.model, threads=2),
                         on_start=lambda s: marks.setdefault("base_start", time.perf_counter()))  # fmt: skip
    base_time = time.perf_counter() - marks["base_start"]
    base_fps = base.frames / base_time
    print(f"1 process x 2 threads: {base.frames} frames in {base_time:.1f} s = {base_fps:.3f} fps", flush=True)

    record: dict = {}
    commits: list[tuple[int, float, int]] = []
    original_commit = JobFolder.commit

    def commit(self, index, data, frames, worker, seconds, model_runs=0):
        commits.append((model_runs, seconds, len(data)))
        return original_commit(self, index, data, frames, worker, seconds, model_runs)

    JobFolder.commit = commit
    job.join_segments = _timed(record, "join", job.join_segments)
    plan.segment_packets = _timed_generator(record, "demux", plan.segment_packets)
    options = ClusterOptions(ray="auto", workers=2, segment_seconds=args.segment_seconds,
                             warmup=args.warmup)  # fmt: skip
    t0 = time.perf_counter()
    result = run_job(clip, folder / "ray.mkv", Settings(model=args.model, threads=1), options,
                     on_start=lambda s: marks.setdefault("ray_start", time.perf_counter()))  # fmt: skip
    end = time.perf_counter()
    ray_time = end - marks["ray_start"]
    ray_fps = result.frames / ray_time
    model_frames = sum(c[0] for c in commits)
    worker_seconds = sum(c[1] for c in commits)
    print(f"Ray start-up and connect (left out): {marks['ray_start'] - t0:.1f} s")
    print(f"2 Ray actors x 1 thread: {result.frames} frames in {ray_time:.1f} s = {ray_fps:.3f} fps "
          f"({len(commits)} segments of ~{args.segment_seconds} s, warm-up {args.warmup} frames)")  # fmt: skip
    print(f"ratio Ray / one process: {ray_fps / base_fps:.2f} (target >= 0.9)")
    print(f"ratio on model frames (warm-up included): {model_frames / ray_time / (base.model_runs / base_time):.2f}")
    print(f"join + remux: {record['join']:.2f} s = {100 * record['join'] / ray_time:.1f} % of the run (target <= 2 %)")
    print("per-segment costs (for docs/CLUSTER.md):")
    rate = record["sent_packets"] / record["demux"]
    print(f"  driver demux: {record['demux']:.3f} s for {record['sent_packets']} packets, "
          f"{record['sent_bytes'] / 1e6:.2f} MB sent = {rate:.0f} packets/s")  # fmt: skip
    print(f"  sent {record['sent_bytes'] / result.frames:.0f} B/frame, returned "
          f"{sum(c[2] for c in commits) / result.frames:.0f} B/frame")  # fmt: skip
    print(f"  worker: {worker_seconds / model_frames:.3f} s per model frame on 1 thread "
          f"({model_frames} model frames for {result.frames} written)")  # fmt: skip
    print(f"  join: {result.frames / record['join']:.0f} frames/s")
    if not args.keep:
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=96)
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--model", default="standin")
    parser.add_argument("--segment-seconds", type=float, default=1.0)
    parser.add_argument("--warmup", type=int, default=4)
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    args = parser.parse_args()
    if os.environ.get(INSIDE) != "1":
        if os.geteuid() != 0:
            sys.exit("bench/cluster.py needs root: it runs Ray in a private network namespace (unshare -n)")
        env = {**os.environ, INSIDE: "1", "RAY_USAGE_STATS_ENABLED": "0", "RAY_BACKEND_LOG_LEVEL": "error",
               "RAY_AUTH_MODE": "disabled", "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}  # fmt: skip
        argv = " ".join(map(str, [Path(__file__).resolve(), *sys.argv[1:]]))
        script = f"ip link set lo up && exec {sys.executable} {argv}"
        sys.exit(subprocess.call(["unshare", "-n", "bash", "-c", script], env=env))
    with local_head() as address:
        os.environ["RAY_ADDRESS"] = address  # what --ray auto connects to
        run(args)


@contextlib.contextmanager
def local_head(port: int = 6379):
    """A Ray head on 127.0.0.1 with 2 CPUs (inside the namespace), stopped by its process group."""
    temp = tempfile.mkdtemp(prefix="rb", dir="/tmp")
    ray_bin = str(Path(sys.executable).with_name("ray"))
    head = subprocess.Popen(
        [ray_bin, "start", "--head", "--port", str(port), "--node-ip-address", "127.0.0.1", "--num-cpus", "2",
         "--include-dashboard", "false", "--temp-dir", temp, "--block"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        time.sleep(1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGKILL)
        shutil.rmtree(temp, ignore_errors=True)

if __name__ == "__main__":
    main()
