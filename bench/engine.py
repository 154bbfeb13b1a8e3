"""Engine speed: network forward per frame, backends against each other, and the output side per resolution.

    $ python bench/engine.py --quick        # about a minute on 2 cores
    $ python bench/engine.py                # more repetitions, steadier medians
    $ python bench/engine.py --backends     # only ONNX Runtime against cv2.dnn
    $ python bench/engine.py --bundled      # only default against default-v1, both backends

Backends: ``Colorizer.forward`` (network plus annealed-mean decode) in cv2.dnn and in ONNX
Runtime's CPU provider, timed in alternation, for the bundled model and the Zhang-size
stand-in, batch 1, 2 threads; the ratio is cv2.dnn time / ORT time (above 1: ORT is faster).

Bundled models: ``default`` (v2, with a hint input) against ``default-v1`` on one 224x224 frame
through ``Colorizer.predict_ab`` on both backends, timed in alternation, with frames per second
and the ratio.
Forward: the Zhang-size stand-in and the tiny one, batch 1 and 4, 1 and 2 threads, median ms per
frame after a warm-up (``Colorizer.forward``: cv2.dnn forward plus the annealed-mean decode).  On
OpenCV 5 also the classic DNN engine against the default one.  Output side: ``lab.merge_ab`` at
480p..2160p for the float32 Lab path and the 8-bit Lab path, gray and BGR input, with the CIE76
colour difference between the two paths' outputs, and the merge straight into yuv420p planes
against the 8-bit merge followed by OpenCV's BGR -> I420.  Ratios compare with a baseline measured in the
same run.  Stand-ins are generated into the model cache on first use (needs ``onnx``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial

import cv2
import numpy as np

from stream_colorize.engine import OPENCV_MAJOR, Colorizer
from stream_colorize.errors import ModelError
from stream_colorize.lab import merge_ab, merge_ab_i420, network_input
from stream_colorize.models import resolve_model
from stream_colorize.models.caffe import PROTOTXT_NAME, write_standin_caffe
from stream_colorize.models.registry import cache_dir
from stream_colorize.models.spec import spec_from_caffe

RESOLUTIONS = {"480p": (854, 480), "720p": (1280, 720), "1080p": (1920, 1080), "2160p": (3840, 2160)}
REPS = {"480p": 20, "720p": 12, "1080p": 8, "2160p": 4}  # --quick; x3 otherwise


def median_ms(fn: Callable[[], object], reps: int, warmup: int = 1) -> float:
    """Median wall time of ``fn`` in ms over ``reps`` runs after ``warmup`` untimed runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def paired_median_ms(fn_a: Callable[[], object], fn_b: Callable[[], object], reps: int) -> tuple[float, float]:
    """Median ms of two functions timed in alternation, so load from other processes hits both alike."""
    fn_a(), fn_b()
    times_a, times_b = [], []
    for _ in range(reps):
        for fn, times in ((fn_a, times_a), (fn_b, times_b)):
            start = time.perf_counter()
            fn()
            times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times_a), statistics.median(times_b)


def scene(width: int, height: int) -> np.ndarray:
    """A gray frame with gradients, a disc and fine texture (uint8)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    img = 30 + 180 * x / width + 25 * np.sin(y / (height / 40)) + 10 * np.sin(x * y / 997.0)
    img[(x - width * 0.6) ** 2 + (y - height * 0.4) ** 2 < (height / 4) ** 2] = 225
    return np.clip(img, 0, 255).astype(np.uint8)


def realistic_ab(size: int = 56) -> np.ndarray:
    """(2, size, size) ab of a saturated colour sweep at mid lightness, like a confident model's output."""
    hue = np.linspace(0, 179, size, dtype=np.float32)[None, :].repeat(size, 0)
    sat = np.linspace(60, 255, size, dtype=np.float32)[:, None].repeat(size, 1)
    hsv = np.dstack([hue, sat, np.full_like(hue, 200)]).astype(np.uint8)
    bgr = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR).astype(np.float32) / 255.0
    lab = cv2.cvtColor(bgr, cv2.COLOR_BGR2Lab)
    return np.ascontiguousarray(lab[:, :, 1:].transpose(2, 0, 1))


def delta_e76(bgr_a: np.ndarray, bgr_b: np.ndarray) -> tuple[float, float]:
    """Mean and max CIE76 difference between two BGR uint8 images (float Lab)."""
    lab_a = cv2.cvtColor(bgr_a.astype(np.float32) / 255.0, cv2.COLOR_BGR2Lab)
    lab_b = cv2.cvtColor(bgr_b.astype(np.float32) / 255.0, cv2.COLOR_BGR2Lab)
    de = np.sqrt(((lab_a - lab_b) ** 2).sum(-1))
    return float(de.mean()), float(de.max())


def bench_forward(quick: bool) -> None:
    print("\n== forward (ms per frame, median after warm-up; ratio = vs batch 1 / 1 thread of the same model) ==")
    print(f"{'model':<14}{'batch':>6}{'threads':>8}{'ms/frame':>11}{'ratio':>8}")
    frames = [scene(640, 480)] * 4
    reps = {"standin": (2, 1) if quick else (5, 3), "standin-tiny": (20, 10) if quick else (60, 30)}
    loaded = {}
    for model, (reps1, reps4) in reps.items():
        colorizer = loaded[model] = Colorizer(resolve_model(model), device="cpu")
        baseline = None
        for batch, rep in ((1, reps1), (4, reps4)):
            blob = network_input(frames[:batch], colorizer.input_size)
            for threads in (1, 2):
                cv2.setNumThreads(threads)
                colorizer.batch_size = batch
                ms = median_ms(lambda c=colorizer, b=blob: c.forward(b), rep) / batch
                baseline = baseline or ms
                label = f"{batch}" if colorizer.batch_size == batch else f"{batch}->{colorizer.batch_size}"
                print(f"{model:<14}{label:>6}{threads:>8}{ms:11.1f}{ms / baseline:8.2f}", flush=True)
    if OPENCV_MAJOR < 5:
        bench_caffe_vs_onnx(loaded["standin"], frames[0], reps["standin"][0] + 1)
        return
    print("\n== OpenCV 5: classic DNN engine vs the default (new) engine, CPU, batch 1, 2 threads ==")
    print(f"{'model':<14}{'auto ms':>9}{'classic ms':>12}{'classic/auto':>14}")
    cv2.setNumThreads(2)
    for model, (reps1, _) in reps.items():
        auto = loaded[model]
        auto.batch_size = 1
        with _engine_env("classic"):
            classic = Colorizer(resolve_model(model), device="cpu")
        blob = network_input(frames[:1], auto.input_size)
        t_auto, t_classic = paired_median_ms(partial(auto.forward, blob), partial(classic.forward, blob), reps1 + 1)
        print(f"{model:<14}{t_auto:9.1f}{t_classic:12.1f}{t_classic / t_auto:14.2f}", flush=True)


def bench_bundled(quick: bool) -> None:
    """The bundled models, paired in one run: default (v2, with its hint input) against default-v1,
    on both backends, 1 and 2 threads (fp32: the int8 copies are judged by tools/quantize.py)."""
    from stream_colorize.backends import ort_installed

    print("\n== bundled models: predict_ab on a 224x224 gray frame (forward + annealed mean + gamut limit) ==")
    print(f"{'backend':<12}{'threads':>7}{'default ms':>12}{'fps':>7}{'v1 ms':>9}{'fps':>7}{'default/v1':>12}")
    frame = cv2.resize(scene(640, 480), (224, 224), interpolation=cv2.INTER_AREA)
    backends = ("opencv", "onnxruntime") if ort_installed() else ("opencv",)
    for backend in backends:
        for threads in (1, 2):
            new, old = (Colorizer(resolve_model(name), device="cpu", backend=backend, threads=threads,
                                  precision="fp32") for name in ("default", "default-v1"))  # fmt: skip
            cv2.setNumThreads(threads)
            t_new, t_old = paired_median_ms(partial(new.predict_ab, [frame]), partial(old.predict_ab, [frame]),
                                            15 if quick else 45)  # fmt: skip
            print(f"{backend:<12}{threads:>7}{t_new:12.1f}{1000 / t_new:7.1f}{t_old:9.1f}{1000 / t_old:7.1f}"
                  f"{t_new / t_old:12.2f}", flush=True)  # fmt: skip


def bench_backends(quick: bool) -> None:
    """ONNX Runtime (CPU provider) against cv2.dnn, both models: batch 1 on 1 and 2 threads, batch 4 on 2."""
    from stream_colorize.backends import ort_installed

    print("\n== backends: cv2.dnn vs ONNX Runtime, CPU (ms per frame, median, timed in alternation) ==")
    if not ort_installed():
        print('onnxruntime is not installed: pip install "stream-colorize[ort]"')
        return
    import onnxruntime

    print(f"cv2.dnn {cv2.__version__}, onnxruntime {onnxruntime.__version__}; cv2/ORT above 1: ORT is faster")
    print(f"{'model':<14}{'batch':>6}{'threads':>8}{'cv2.dnn ms':>12}{'ORT ms':>9}{'cv2/ORT':>9}")
    models = {"default": 8 if quick else 24, "standin": 3 if quick else 5}
    for model, reps in models.items():
        try:
            spec = resolve_model(model)
        except ModelError as exc:
            print(f"{model:<14}skipped: {exc}")
            continue
        for batch, threads in ((1, 1), (1, 2), (4, 2)):
            engines = [Colorizer(spec, device="cpu", backend=b, threads=threads) for b in ("opencv", "onnxruntime")]
            blob = network_input([scene(640, 480)] * batch, spec.input_size)
            for engine in engines:
                engine.batch_size = batch
            runs = max(2, reps // batch)
            t_cv, t_ort = paired_median_ms(partial(engines[0].forward, blob), partial(engines[1].forward, blob), runs)
            print(
                f"{model:<14}{batch:>6}{threads:>8}{t_cv / batch:12.1f}{t_ort / batch:9.1f}{t_cv / t_ort:9.2f}",
                flush=True,
            )


def bench_caffe_vs_onnx(onnx: Colorizer, frame: np.ndarray, reps: int) -> None:
    """OpenCV 4: the Caffe stand-in against the ONNX stand-in (same weights), batch 1, 2 threads."""
    folder = cache_dir() / "standin" / "caffe"
    if not (folder / PROTOTXT_NAME).is_file():
        write_standin_caffe(folder, seed=0)
    caffe = Colorizer(spec_from_caffe(folder / PROTOTXT_NAME), device="cpu")
    onnx.batch_size = 1
    cv2.setNumThreads(2)
    blob = network_input([frame], onnx.input_size)
    t_onnx, t_caffe = paired_median_ms(partial(onnx.forward, blob), partial(caffe.forward, blob), reps)
    print("\n== OpenCV 4: Caffe stand-in vs ONNX stand-in (same weights), CPU, batch 1, 2 threads ==")
    print(f"{'model':<14}{'onnx ms':>9}{'caffe ms':>10}{'caffe/onnx':>12}")
    print(f"{'standin':<14}{t_onnx:9.1f}{t_caffe:10.1f}{t_caffe / t_onnx:12.2f}", flush=True)


class _engine_env:
    """Select OpenCV 5's DNN engine for the Colorizer built inside (through the engine's env switch)."""

    def __init__(self, engine: str) -> None:
        self.engine = engine
        self.saved = os.environ.get("STREAM_COLORIZE_DNN_ENGINE")

    def __enter__(self) -> None:
        if self.engine == "classic":
            os.environ["STREAM_COLORIZE_DNN_ENGINE"] = "classic"
        else:
            os.environ.pop("STREAM_COLORIZE_DNN_ENGINE", None)

    def __exit__(self, *exc: object) -> None:
        if self.saved is None:
            os.environ.pop("STREAM_COLORIZE_DNN_ENGINE", None)
        else:
            os.environ["STREAM_COLORIZE_DNN_ENGINE"] = self.saved


def bench_output(quick: bool, threads: int) -> None:
    cv2.setNumThreads(threads)
    print(f"\n== output side: upsample 56x56 ab + merge with full-size L (ms, median; {threads} threads) ==")
    print("ratio = u8 / float time; dE = CIE76 between the two paths' outputs (float Lab of the BGR results)")
    print(f"{'size':<7}{'input':<6}{'float ms':>10}{'u8 ms':>9}{'ratio':>8}{'dE mean':>9}{'dE max':>8}")
    ab = realistic_ab()
    for name, (width, height) in RESOLUTIONS.items():
        gray = scene(width, height)
        reps = REPS[name] * (1 if quick else 3)
        for kind, frame in (("gray", gray), ("bgr", cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR))):
            t_float, t_u8 = paired_median_ms(
                partial(merge_ab, frame, ab, "float"), partial(merge_ab, frame, ab, "u8"), reps
            )
            de_mean, de_max = delta_e76(merge_ab(frame, ab, "float"), merge_ab(frame, ab, "u8"))
            print(
                f"{name:<7}{kind:<6}{t_float:10.2f}{t_u8:9.2f}{t_u8 / t_float:8.2f}{de_mean:9.2f}{de_max:8.2f}",
                flush=True,
            )
    print("\nstraight into the encoder's yuv420p planes (lab.merge_ab_i420) against the u8 merge + BGR -> I420;")
    print("|d| = largest difference of the Y / U,V planes in 8-bit levels, mean of all samples")
    print(f"{'size':<7}{'input':<6}{'bgr+i420':>10}{'planes':>9}{'ratio':>8}{'|dY|':>6}{'|dUV|':>7}{'mean':>7}")
    for name, (width, height) in RESOLUTIONS.items():
        gray = scene(width, height)
        reps = REPS[name] * (1 if quick else 3)
        for kind, frame in (("gray", gray), ("bgr", cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR))):

            def old_path(frame: np.ndarray = frame) -> np.ndarray:
                return cv2.cvtColor(merge_ab(frame, ab, "u8"), cv2.COLOR_BGR2YUV_I420)

            t_old, t_new = paired_median_ms(old_path, partial(merge_ab_i420, frame, ab), reps)
            diff = np.abs(old_path().astype(np.int16) - merge_ab_i420(frame, ab))
            print(
                f"{name:<7}{kind:<6}{t_old:10.2f}{t_new:9.2f}{t_new / t_old:8.2f}{diff[:height].max():6d}"
                f"{diff[height:].max():7d}{diff.mean():7.2f}",
                flush=True,
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (about a minute on 2 cores)")
    parser.add_argument("--skip-forward", action="store_true", help="only the output side")
    parser.add_argument("--backends", action="store_true", help="only ONNX Runtime against cv2.dnn")
    parser.add_argument("--bundled", action="store_true", help="only default against default-v1")
    args = parser.parse_args(argv)
    default_threads = cv2.getNumThreads()
    print(f"OpenCV {cv2.__version__}, numpy {np.__version__}, Python {sys.version.split()[0]}")
    print(f"CPU cores: {os.cpu_count()}, cv2 threads by default: {default_threads}")
    start = time.perf_counter()
    if args.backends or args.bundled:
        (bench_backends if args.backends else bench_bundled)(args.quick)
        print(f"\ntotal {time.perf_counter() - start:.0f} s")
        return 0
    if not args.skip_forward:
        bench_bundled(args.quick)
        bench_forward(args.quick)
        bench_backends(args.quick)
    bench_output(args.quick, default_threads)
    cv2.setNumThreads(default_threads)
    print(f"\ntotal {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
