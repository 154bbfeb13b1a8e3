"""Pipeline speed: against ffmpeg's own re-encode; each stage alone against the whole pipeline; flicker vs lag.

    $ python bench/pipeline.py --vs-ffmpeg        # the headline: video / ffmpeg speed ratios at 720p
    $ python bench/pipeline.py --quick            # 720p only, a few minutes on 2 cores
    $ python bench/pipeline.py                    # 720p and 1080p
    $ python bench/pipeline.py --temporal         # flicker/warp error/lag of skip, smoothing and smoother
    $ python bench/pipeline.py --smoothers        # what the flow smoother costs at 720p, against the others

``--vs-ffmpeg``: a 10 s 720p clip with audio; ffmpeg's plain x264 re-encode of it (``ffmpeg -i
clip.mp4 -c:v libx264 -c:a copy``, x264's defaults) is the baseline, timed before and after
each ``colorize_file`` run (default settings, skip 1 and 2, the bundled model), so load from
other processes hits both alike; each run's ratio uses the mean of the two ffmpeg runs around
it.  Also printed: CPU time per frame (user + system, all threads) for both, which moves far
less than wall time on a shared machine.  Targets: 0.3x at skip 1, 0.5x at skip 2.

``--smoothers``: the same 720p clip through ``colorize_file`` at default settings with each
smoother (``flow``, ``motion``) and with smoothing off, interleaved ``--repeat`` times (fps, and
ms per frame); then the smoothers alone on that clip's frames as the pipeline hands them over
(reduced to the model's 224x224) and as live does (the whole 720p frame): ms per frame of
``Temporal.step``, whose share of the pipeline's per-frame time is the flow's cost.

Clips are generated (10 s of testsrc2 in gray with an AAC track, H.264) into a temporary folder.
Stages alone, in frames per second: decode (PyAV to gray), inference (``predict_ab``, once per
``skip`` frames), merge (``merge_ab`` to BGR), encode (libx264 + mux, audio copied).  The full
pipeline runs ``colorize_file`` with the same settings.  The ratio full / slowest stage says how
well the threads overlap (1.0 = the pipeline runs as fast as its slowest stage; the target is
>= 0.9).  On 2 cores x264 and cv2.dnn each already use both cores alone, so full / serial (the
stages' times added up, as if run one after another) is printed too: above 1.0 means overlap.
The Zhang-size stand-in costs ~0.5 s a frame here, so its runs are cut to
``--zhang-frames`` frames (default 12) through ``--duration``; the tiny model and the bundled
``default`` (when it exists) run the whole clip.
"""

from __future__ import annotations

import argparse
import math
import resource
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stream_colorize.build import build_temporal  # noqa: E402
from stream_colorize.config import EncodeSettings, Settings, TemporalSettings  # noqa: E402
from stream_colorize.engine import Colorizer  # noqa: E402
from stream_colorize.errors import ModelError  # noqa: E402
from stream_colorize.evaluate import warp_errors  # noqa: E402
from stream_colorize.frames import Frame  # noqa: E402
from stream_colorize.io.sink import FileSink  # noqa: E402
from stream_colorize.io.source import MediaSource  # noqa: E402
from stream_colorize.lab import merge_ab  # noqa: E402
from stream_colorize.models import resolve_model  # noqa: E402
from stream_colorize.smoothers import SMOOTHERS  # noqa: E402
from stream_colorize.temporal import reduce_frame  # noqa: E402
from stream_colorize.video import colorize_file  # noqa: E402
from tests.support.media import make_clip  # noqa: E402

SIZES = {"720p": (1280, 720), "1080p": (1920, 1080)}


def decode(path: Path, limit: int | None) -> tuple[list[Frame], float]:
    """Decoded gray frames (up to ``limit``) and decode fps."""
    frames: list[Frame] = []
    t0 = time.perf_counter()
    with MediaSource(path) as source:
        for item in source.items():
            if isinstance(item, Frame):
                frames.append(item)
                if limit is not None and len(frames) >= limit:
                    break
    return frames, len(frames) / (time.perf_counter() - t0)


def infer_fps(engine: Colorizer, frames: list[Frame], skip: int) -> tuple[np.ndarray, float]:
    """ab for every ``skip``-th frame, and the per-output-frame rate that implies."""
    engine.predict_ab([frames[0].image])  # warm-up
    chosen = [f.image for f in frames[::skip]]
    t0 = time.perf_counter()
    ab = np.concatenate(
        [engine.predict_ab(chosen[i : i + engine.batch_size]) for i in range(0, len(chosen), engine.batch_size)]
    )
    return ab, len(frames) / (time.perf_counter() - t0)


def merge_fps(frames: list[Frame], ab: np.ndarray, skip: int) -> tuple[list[np.ndarray], float]:
    t0 = time.perf_counter()
    out = [merge_ab(f.image, ab[i // skip]) for i, f in enumerate(frames)]
    return out, len(out) / (time.perf_counter() - t0)


def encode_fps(src: Path, frames: list[Frame], images: list[np.ndarray], dst: Path, preset: str) -> float:
    with MediaSource(src) as source:
        info, copies = source.info, source.copy_streams
        packets = [p for p in source.items() if not isinstance(p, Frame)]
        with FileSink(dst, info, copies, EncodeSettings(preset=preset)) as sink:
            t0 = time.perf_counter()
            for frame, image in zip(frames, images):
                frame.output = image
                sink.write(frame)
            for packet in packets:
                sink.write(packet)
            sink.commit()
    return len(frames) / (time.perf_counter() - t0)


def bench_clip(label: str, clip: Path, model: str, skip: int, limit: int | None, preset: str, tmp: Path) -> None:
    engine = Colorizer(resolve_model(model), device="cpu")
    frames, dec = decode(clip, limit)
    ab, inf = infer_fps(engine, frames, skip)
    images, mer = merge_fps(frames, ab, skip)
    enc = encode_fps(clip, frames, images, tmp / "enc.mp4", preset)
    rate = 25
    settings = Settings(model=model, device="cpu", skip=skip, preset=preset, duration=(limit / rate) if limit else None)
    result = colorize_file(clip, tmp / "full.mp4", settings, engine=engine)
    (tmp / "full.mp4").unlink()
    slowest = min(dec, inf, mer, enc)
    serial = 1.0 / (1 / dec + 1 / inf + 1 / mer + 1 / enc)  # all stages one after another
    print(
        f"{label:6} {model:13} skip {skip}  frames {result.frames:4}  decode {dec:6.1f}  infer {inf:6.1f}  "
        f"merge {mer:6.1f}  encode {enc:6.1f}  | full {result.fps:6.1f} fps  "
        f"full/slowest {result.fps / slowest:4.2f}  full/serial {result.fps / serial:4.2f}",
        flush=True,
    )
    busy = "  ".join(f"{name} {seconds / result.seconds:4.0%}" for name, seconds in result.busy.items())
    print(f"{'':6} busy share of the full run's wall time: {busy}", flush=True)


def _cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def ffmpeg_reencode(clip: Path, out: Path, frames: int) -> tuple[float, float]:
    """ffmpeg's plain x264 re-encode of ``clip`` (audio copied): (fps, CPU ms per frame)."""
    cpu, t0 = _cpu_seconds(resource.RUSAGE_CHILDREN), time.perf_counter()
    cmd = ["ffmpeg", "-v", "error", "-y", "-i", str(clip), "-c:v", "libx264", "-c:a", "copy", str(out)]
    subprocess.run(cmd, check=True)
    wall = time.perf_counter() - t0
    return frames / wall, (_cpu_seconds(resource.RUSAGE_CHILDREN) - cpu) / frames * 1000


def vs_ffmpeg(tmp: Path, settings_list: list[tuple[str, Settings]], repeat: int) -> None:
    """``colorize_file`` against ffmpeg's own re-encode of the same 720p clip, interleaved."""
    clip = make_clip(tmp / "720p.mp4", seconds=10, size=SIZES["720p"], rate=Fraction(25), audio=1)
    frames = 250
    print("720p, 10 s, 25 fps, AAC audio; baseline: ffmpeg -i clip.mp4 -c:v libx264 -c:a copy (x264 defaults)")
    print(f"{'run':<28}{'fps':>7}{'ffmpeg fps':>12}{'ratio':>7}{'cpu ms/f':>10}{'ffmpeg cpu':>11}{'cpu ratio':>10}")
    results: dict[str, list[float]] = {}
    before = ffmpeg_reencode(clip, tmp / "ffmpeg.mp4", frames)
    for _ in range(repeat):
        for label, settings in settings_list:
            cpu = _cpu_seconds(resource.RUSAGE_SELF)
            result = colorize_file(clip, tmp / "colour.mp4", settings)
            cpu_ms = (_cpu_seconds(resource.RUSAGE_SELF) - cpu) / result.frames * 1000
            size = result.size
            (tmp / "colour.mp4").unlink()
            after = ffmpeg_reencode(clip, tmp / "ffmpeg.mp4", frames)
            ff_fps, ff_cpu = (before[0] + after[0]) / 2, (before[1] + after[1]) / 2
            ratio = result.fps / ff_fps
            results.setdefault(label, []).append(ratio)
            print(
                f"{label:<28}{result.fps:7.1f}{ff_fps:12.1f}{ratio:7.2f}{cpu_ms:10.1f}{ff_cpu:11.1f}"
                f"{ff_cpu / cpu_ms:10.2f}   {size / 1e6:.1f} MB",
                flush=True,
            )
            before = after
    for label, ratios in results.items():
        print(f"{label}: ratio to ffmpeg {' / '.join(f'{r:.2f}' for r in ratios)}", flush=True)


def temporal_table(clip: Path, model: str, limit: int) -> None:
    """Flicker (mean |Δab| between consecutive frames), warp error (the same along the gray
    frames' optical flow, see ``evaluate.warp_errors``), distance from the per-frame model's ab,
    and the smoother's step response (frames until 90% of a change shows)."""
    engine = Colorizer(resolve_model(model), device="cpu")
    frames, _ = decode(clip, limit)
    truth = engine.predict_ab([f.image for f in frames])  # the model on every frame, unsmoothed
    index_of = {id(f.image): i for i, f in enumerate(frames)}
    grays = [f.image for f in frames]
    print(f"temporal: {model} on {clip.name}, {len(frames)} frames (ab units; lag vs the per-frame model)")
    for skip in (1, 2, 3):
        for smoother in SMOOTHERS:
            for strength in (0.0, 0.5, 0.85, 0.97):
                if strength == 0.0 and smoother != "flow" and skip == 1:
                    continue  # no smoother at work: the same as flow's row
                t = build_temporal(TemporalSettings(skip=skip, smooth=strength, smoother=smoother))
                copies = [Frame(f.index, f.image, f.pts, f.time_base) for f in frames]
                t.assign(copies, lambda imgs: truth[[index_of[id(im)] for im in imgs]])
                ab = np.stack([c.ab for c in copies])
                flicker = float(np.abs(np.diff(ab, axis=0)).mean())
                (warp,) = warp_errors(grays, [merge_ab(g, a) for g, a in zip(grays, ab)])
                lag = float(np.abs(ab - truth).mean())
                settle = math.ceil(math.log(0.1) / math.log(strength)) if strength > 0 else 0  # 90% of a step
                print(
                    f"  skip {skip} {smoother:6} smooth {strength:4.2f}: flicker {flicker:6.3f}  "
                    f"warp error {warp:6.3f}  off-model {lag:6.3f}  settles in {settle:2d} frames  cuts {t.cuts}",
                    flush=True,
                )


def smoother_cost(tmp: Path, model: str, repeat: int) -> None:
    """What each smoother costs at 720p: the whole pipeline's fps, and ``Temporal.step`` alone."""
    clip = make_clip(tmp / "720p.mp4", seconds=10, size=SIZES["720p"], rate=Fraction(25), audio=1)
    runs = [("flow", Settings(model=model)), ("motion", Settings(model=model, smoother="motion"))]
    runs.append(("off", Settings(model=model, smooth=0.0)))
    print(f"720p, 10 s, 25 fps; {model}, default settings but the smoother; {repeat} rounds, interleaved")
    totals: dict[str, list[float]] = {}
    for _ in range(repeat):
        for label, settings in runs:
            result = colorize_file(clip, tmp / "colour.mp4", settings)
            (tmp / "colour.mp4").unlink()
            totals.setdefault(label, []).append(result.fps)
            print(f"  {label:7} {result.fps:6.2f} fps  {1000 / result.fps:6.1f} ms/frame", flush=True)
    frames, _ = decode(clip, None)
    engine = Colorizer(resolve_model(model), device="cpu")
    ab = engine.predict_ab([frames[0].image])[0]
    print("Temporal.step alone, ms per frame (skip 1; the model's ab given):")
    per_frame = {label: 1000 / float(np.mean(fps)) for label, fps in totals.items()}
    for where, images in (
        ("file (224 reduced)", [reduce_frame(f.image, engine.input_size) for f in frames]),
        ("live (720p frame)", [f.image for f in frames]),
    ):
        for label in SMOOTHERS:
            temporal = build_temporal(TemporalSettings(smoother=label))
            t0 = time.perf_counter()
            for image in images:
                cut, _ = temporal.decide(image)
                temporal.step(image, ab, cut)
            ms = (time.perf_counter() - t0) / len(images) * 1000
            share = f"  {ms / per_frame[label]:5.1%} of a 720p file's {per_frame[label]:.1f} ms/frame"
            print(f"  {where:19} {label:7} {ms:6.2f} ms{share}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="720p only")
    parser.add_argument("--zhang-frames", type=int, default=12)
    parser.add_argument("--preset", default=Settings().encode.preset)
    parser.add_argument("--temporal", action="store_true", help="flicker / warp error / lag table only")
    parser.add_argument("--smoothers", action="store_true", help="the smoothers' cost at 720p only")
    parser.add_argument("--clip", type=Path, help="for --temporal: a clip (default: the bundled sample)")
    parser.add_argument("--vs-ffmpeg", action="store_true", help="video / ffmpeg re-encode speed ratios at 720p")
    parser.add_argument("--repeat", type=int, default=2, help="for --vs-ffmpeg: rounds of runs")
    parser.add_argument(
        "--backends", default="auto", help="for --vs-ffmpeg: comma-separated backends to run (auto,opencv,onnxruntime)"
    )
    parser.add_argument("--models", default="default", help="for --vs-ffmpeg: comma-separated models (default,compact)")
    args = parser.parse_args()
    if args.vs_ffmpeg:
        runs = [
            (
                f"{model} {backend} skip {skip} {args.preset}",
                Settings(model=model, backend=backend, skip=skip, preset=args.preset),
            )
            for model in args.models.split(",")
            for backend in args.backends.split(",")
            for skip in (1, 2)
        ]
        with tempfile.TemporaryDirectory() as folder:
            vs_ffmpeg(Path(folder), runs, args.repeat)
        return
    if args.smoothers:
        with tempfile.TemporaryDirectory() as folder:
            smoother_cost(Path(folder), args.models.split(",")[0], args.repeat)
        return
    models = ["standin-tiny", "standin"]
    try:
        resolve_model("default")
        models.insert(0, "default")
    except ModelError:
        print("note: no bundled 'default' model yet; using the tiny stand-in in its place")
    if args.temporal:
        clip = args.clip or Path(__file__).resolve().parent.parent / "stream_colorize" / "data" / "sample.mp4"
        for model in models[:-1]:
            temporal_table(clip, model, 200)
        return
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        for label in ["720p"] if args.quick else list(SIZES):
            t0 = time.perf_counter()
            clip = make_clip(tmp / f"{label}.mp4", seconds=10, size=SIZES[label], rate=Fraction(25), audio=1)
            print(f"{label}: generated 10 s clip in {time.perf_counter() - t0:.1f} s (preset {args.preset})")
            for model in models:
                limit = args.zhang_frames if model == "standin" else None
                for skip in (1, 2):
                    bench_clip(label, clip, model, skip, limit, args.preset, tmp)


if __name__ == "__main__":
    main()
