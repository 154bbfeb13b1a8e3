"""Quality and speed of a model: the eval metrics on reserved photos, and frames per second at 224.

    $ python bench/quality.py                              # default model on work/data/eval
    $ python bench/quality.py --model my.onnx --images photos/ --no-speed
    $ python bench/quality.py --baseline standin           # speed ratio against Zhang's architecture

Quality: PSNR / SSIM / colourfulness vs the colour originals, and the gray baseline (ab = 0), as
``stream-colorize eval`` prints them.  Speed: median ms per frame of ``Colorizer.predict_ab`` on a
224x224 gray frame, 1 and 2 threads, after a warm-up, with the ratio against a baseline model
measured in the same run.  The reserved photos come from ``python -m tools.training.dataset
build work/data`` (OpenCV samples, scikit-image, scikit-learn, matplotlib images).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tools.training

from stream_colorize.engine import Colorizer  # noqa: E402
from stream_colorize.evaluate import evaluate_images, format_report  # noqa: E402
from stream_colorize.models import resolve_model  # noqa: E402
from tools.training.dataset import load_folder  # noqa: E402


def ms_per_frame(colorizer: Colorizer, reps: int) -> float:
    """Median ms of one 224x224 gray frame through predict_ab (cv2.dnn forward + decode)."""
    frame = cv2.cvtColor(cv2.resize(np.random.default_rng(0).integers(0, 255, (8, 8, 3), np.uint8), (224, 224)),
                         cv2.COLOR_BGR2GRAY)  # fmt: skip
    colorizer.predict_ab([frame])
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        colorizer.predict_ab([frame])
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> None:
    """Print the quality report and the speed table."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="default")
    p.add_argument("--images", type=Path, default=Path("work/data/eval"))
    p.add_argument("--baseline", default="standin", help="speed baseline model ('' to skip)")
    p.add_argument("--reps", type=int, default=30)
    p.add_argument("--no-speed", action="store_true")
    args = p.parse_args()
    print(f"OpenCV {cv2.__version__}, model {args.model}")
    if args.images.is_dir():
        photos = load_folder(args.images)
        report = evaluate_images(Colorizer(resolve_model(args.model), device="cpu"), photos)
        print(format_report(report))
        ok = report["psnr_gain"] >= 1.0 and report["colourfulness_ratio"] >= 0.8
        print(f"bar (PSNR >= gray + 1 dB, colourfulness >= 80 % of truth): {'met' if ok else 'NOT met'}")
    else:
        print(f"(no reserved photos at {args.images}; build them with python -m tools.training.dataset)")
    if args.no_speed:
        return
    print("speed at 224x224, median ms per frame (fps):")
    for threads in (1, 2):
        ours = ms_per_frame(Colorizer(resolve_model(args.model), device="cpu", threads=threads), args.reps)
        line = f"  {threads} thread(s): {ours:7.1f} ms ({1000 / ours:5.1f} fps)"
        if args.baseline:
            base = ms_per_frame(Colorizer(resolve_model(args.baseline), device="cpu", threads=threads), 3)
            line += f"   baseline {args.baseline}: {base:7.1f} ms  -> {base / ours:.1f}x faster"
        print(line)


if __name__ == "__main__":
    main()
