"""Live latency: capture-to-display p50/p95/max and the fps achieved, from a paced 30 fps source.

    $ python bench/live.py                       # 120 s per model (the issue's figure)
    $ python bench/live.py --seconds 30 --size 640x480
    $ python bench/live.py --models default --smoothers flow,motion,flow,motion   # the flow's cost, interleaved
    $ python bench/live.py --size 1280x720 --skip 1 --models default --precision fp32,int8

Runs the live pipeline headless with ``--skip auto`` (or ``--skip N``) on ``lavfi testsrc2 ... ,realtime`` (gray,
as a black-and-white camera would send), first with the tiny stand-in as the baseline, then with
the Zhang-size stand-in and the bundled ``default`` model (when it is installed).  The first
two seconds of each run are left out as warm-up.  ``--smoothers`` runs each model once per
smoother named (default: the default one), in that order.  Figures only; no assertions.
"""

from __future__ import annotations

import argparse
import logging
import time

from stream_colorize.config import TemporalSettings
from stream_colorize.engine import Colorizer
from stream_colorize.errors import ModelError
from stream_colorize.io.devices import parse_source
from stream_colorize.live import LiveOptions, run_live
from stream_colorize.models import resolve_model


def run_one(
    name: str,
    seconds: float,
    size: str,
    threads: int | None,
    smoother: str = "flow",
    skip: int | None = None,
    precision: str = "auto",
) -> dict | None:
    try:
        spec = resolve_model(name)
        asked = {"precision": precision} if precision != "auto" else {}  # older trees have no precision
        engine = Colorizer(spec, device="cpu", threads=threads, **asked)
    except ModelError as exc:
        print(f"{name:14s} skipped: {exc}")
        return None
    name = f"{name} {getattr(engine, 'precision', 'fp32')}"
    engine.predict_ab([__import__("numpy").zeros((224, 224), "uint8")])  # warm up outside the measurement
    source = parse_source(f"lavfi:testsrc2=size={size}:rate=30,format=gray,realtime")
    temporal = TemporalSettings(skip=skip, smoother=smoother)
    options = LiveOptions(temporal, headless=True, duration=seconds, print_every=1e9)
    began = time.monotonic()
    stats = run_live(source, engine, options)
    wall = time.monotonic() - began
    warm = int(2 * 30)
    p = stats.latency_percentiles(skip_first=min(warm, max(0, len(stats.latencies) - 1)))
    row = {
        "model": f"{name} {smoother}",
        "fps": stats.shown / wall,
        "model_ms": stats.model_s * 1000,
        "runs": stats.model_runs,
        "p50": p["p50"] * 1000,
        "p95": p["p95"] * 1000,
        "max": p["max"] * 1000,
    }
    print(
        f"{row['model']:26s} fps {row['fps']:5.1f}  model {row['model_ms']:7.1f} ms ({row['runs']} runs)  "
        f"latency p50 {row['p50']:6.1f}  p95 {row['p95']:6.1f}  max {row['max']:6.1f} ms",
        flush=True,
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="duration of each run (default 120)")
    parser.add_argument("--size", default="640x480", help="source frame size (default 640x480)")
    parser.add_argument("--threads", type=int, default=None, help="cv2 threads (default: all cores)")
    parser.add_argument(
        "--models", default="standin-tiny,standin,default", help="comma-separated; the first is the baseline"
    )
    parser.add_argument("--smoothers", default="flow", help="comma-separated smoothers to run each model with")
    parser.add_argument("--skip", default="auto", help="auto (default) or run the model on every Nth frame")
    parser.add_argument("--precision", default="auto", help="comma-separated precisions per model (fp32,int8,auto)")
    args = parser.parse_args()
    logging.getLogger("stream_colorize").setLevel(logging.ERROR)
    skip = None if args.skip == "auto" else int(args.skip)
    print(f"paced 30 fps {args.size} gray source, --skip {args.skip}, {args.seconds:g} s per model")
    runs = [
        (m, sm, p)
        for m in args.models.split(",")
        for sm in args.smoothers.split(",")
        for p in args.precision.split(",")
    ]
    rows = [r for r in (run_one(m, args.seconds, args.size, args.threads, sm, skip, p) for m, sm, p in runs) if r]
    if len(rows) > 1:
        base = rows[0]
        for row in rows[1:]:
            print(
                f"{row['model']} vs {base['model']}: fps x{row['fps'] / base['fps']:.2f}, "
                f"latency p95 x{row['p95'] / max(base['p95'], 1e-3):.2f}"
            )


if __name__ == "__main__":
    main()
