"""Pipeline speed: the command line against ffmpeg's own re-encode; each stage alone against the
whole pipeline; start-up; flicker vs lag.

    $ python bench/pipeline.py --vs-ffmpeg        # the headline: stream-colorize / ffmpeg speed at 720p
    $ python bench/pipeline.py --vs-ffmpeg --tree before=/tmp/old --backends auto,opencv
    $ python bench/pipeline.py --startup          # seconds from the command to a one-frame output
    $ python bench/pipeline.py --quick            # stages at 720p only, a few minutes on 2 cores
    $ python bench/pipeline.py                    # stages at 720p and 1080p
    $ python bench/pipeline.py --temporal         # flicker/warp error/lag of skip, smoothing and smoother
    $ python bench/pipeline.py --smoothers        # what the flow smoother costs at 720p, against the others

``--vs-ffmpeg``: a film with sound (the bundled sample, real black-and-white footage with AAC,
scaled to 1280x720 and looped to ``--seconds``, default 20), colourized end to end by the command
line as a user runs it (``python -m stream_colorize video film.mp4 out.mp4 --crf 18 ...``: a fresh
process, start-up included), against ffmpeg's own re-encode of the same film at the same CRF
(``ffmpeg -i film.mp4 -c:v libx264 -crf 18 -c:a copy``, x264's default preset).  ffmpeg runs
before and after each of our runs, so load from other processes hits both alike; each ratio
(ffmpeg's wall time / ours, same frames) uses the mean of the two ffmpeg runs around it.  CPU ms
a frame (user + system, all threads) is printed for both: it moves far less than wall time on a
shared machine.  ``--tree LABEL=PATH`` adds another checkout's command line to the alternation
(before/after in one run); ``--args LABEL=FLAGS`` adds flag sets (``"t2=--threads 2"``).  Both
trees are byte-compiled first, as an install leaves them.  Targets (issue 25, 2 cores): >= 0.5x
at ``--skip 1``, >= 0.65x at ``--skip 2``.

``--smoothers``: the same 720p clip through ``colorize_file`` at default settings with each
smoother (``flow``, ``motion``) and with smoothing off, interleaved ``--repeat`` times (fps, and
ms per frame); then the smoothers alone on that clip's frames as the pipeline hands them over
(reduced to the model's 224x224) and as live does (the whole 720p frame): ms per frame of
``Temporal.step``, whose share of the pipeline's per-frame time is the flow's cost.

Stages alone (the default), on the same film at 720p and 1080p, in frames per second and ms a
frame: decode (PyAV to gray), network (``predict_ab`` once per ``skip`` frames, the engine the
video command builds: backend, precision, threads), merge (into yuv420p planes, as the pipeline
does for such an output), encode (libx264 + mux, audio copied).  The full pipeline runs
``colorize_file`` with the same settings.  The ratio full / slowest stage says how well the
threads overlap (1.0 = the pipeline runs as fast as its slowest stage); full / serial (the
stages' times added up) above 1.0 means overlap.  The Zhang-size stand-in costs ~0.5 s a frame
here, so its runs are cut to ``--zhang-frames`` frames (default 12) through ``--duration``.
"""

from __future__ import annotations

import argparse
import math
import os
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
from stream_colorize.frames import Frame  # noqa: E402
from stream_colorize.io.sink import FileSink  # noqa: E402
from stream_colorize.io.source import MediaSource  # noqa: E402
from stream_colorize.lab import merge_ab  # noqa: E402
from stream_colorize.video_metrics import warp_errors  # noqa: E402

try:  # the merge into yuv420p planes (issue 25); absent from older trees measured with --tree
    from stream_colorize.lab import merge_ab_i420  # noqa: E402
except ImportError:
    merge_ab_i420 = None
from stream_colorize.models import resolve_model  # noqa: E402
from stream_colorize.smoothers import SMOOTHERS  # noqa: E402
from stream_colorize.temporal import reduce_frame  # noqa: E402
from stream_colorize.video import colorize_file, file_engine  # noqa: E402
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


def merge_fps(frames: list[Frame], ab: np.ndarray, skip: int, planes: bool) -> tuple[list[np.ndarray], float]:
    """The merge as the pipeline does it: into yuv420p planes where this tree can (``planes``), else BGR."""
    merge = merge_ab_i420 if planes and merge_ab_i420 is not None else merge_ab
    t0 = time.perf_counter()
    out = [merge(f.image, ab[i // skip]) for i, f in enumerate(frames)]
    return out, len(out) / (time.perf_counter() - t0)


def encode_fps(src: Path, frames: list[Frame], images: list[np.ndarray], dst: Path, preset: str) -> float:
    with MediaSource(src) as source:
        info, copies = source.info, source.copy_streams
        packets = [p for p in source.items() if not isinstance(p, Frame)]
        with FileSink(dst, info, copies, EncodeSettings(preset=preset)) as sink:
            t0 = time.perf_counter()
            for frame, image in zip(frames, images):
                if image.ndim == 2 and image.shape[0] != frame.image.shape[0]:
                    frame.planes = image  # yuv420p planes from the merge
                else:
                    frame.output = image
                sink.write(frame)
            for packet in packets:
                sink.write(packet)
            sink.commit()
    return len(frames) / (time.perf_counter() - t0)


def bench_clip(label: str, clip: Path, model: str, skip: int, limit: int | None, preset: str, tmp: Path) -> None:
    """Each stage alone (fps, and ms a frame), then the whole pipeline with the same settings."""
    rate = 25
    settings = Settings(model=model, skip=skip, preset=preset, duration=(limit / rate) if limit else None)
    engine = file_engine(settings)  # as the video command builds it: threads, backend, precision
    frames, dec = decode(clip, limit)
    ab, inf = infer_fps(engine, frames, skip)
    images, mer = merge_fps(frames, ab, skip, planes=True)
    enc = encode_fps(clip, frames, images, tmp / "enc.mp4", preset)
    for frame in frames:
        frame.output = frame.planes = None
    result = colorize_file(clip, tmp / "full.mp4", settings, engine=engine)
    (tmp / "full.mp4").unlink()
    slowest = min(dec, inf, mer, enc)
    serial = 1.0 / (1 / dec + 1 / inf + 1 / mer + 1 / enc)  # all stages one after another
    what = f"{getattr(engine, 'backend_name', '?')} {getattr(engine, 'precision', 'fp32')}"
    print(
        f"{label:6} {model:8} {what:17} skip {skip}  frames {result.frames:4}  decode {dec:6.1f}  infer {inf:6.1f}  "
        f"merge {mer:6.1f}  encode {enc:6.1f}  | full {result.fps:6.1f} fps  "
        f"full/slowest {result.fps / slowest:4.2f}  full/serial {result.fps / serial:4.2f}",
        flush=True,
    )
    print(
        f"{'':6} ms a frame, each stage alone: decode {1000 / dec:5.1f}  network {1000 / inf:5.1f}  "
        f"merge {1000 / mer:5.1f}  encode {1000 / enc:5.1f}",
        flush=True,
    )
    busy = "  ".join(f"{name} {seconds / result.seconds:4.0%}" for name, seconds in result.busy.items())
    print(f"{'':6} busy share of the full run's wall time: {busy}", flush=True)


def _cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def make_film(folder: Path, seconds: float, size: tuple[int, int]) -> Path:
    """A black-and-white film with sound: the bundled sample (real footage, AAC) scaled to ``size``
    and looped to ``seconds``, H.264 CRF 20 (x264 medium), made once per folder with ffmpeg."""
    film = folder / f"film_{size[1]}p_{seconds:g}s.mp4"
    if not film.exists():
        sample = Path(__file__).resolve().parent.parent / "stream_colorize" / "data" / "sample.mp4"
        cmd = ["ffmpeg", "-v", "error", "-y", "-stream_loop", "-1", "-i", str(sample), "-t", f"{seconds:g}"]
        cmd += ["-vf", f"scale={size[0]}:{size[1]}:flags=bicubic,format=yuv420p", "-c:v", "libx264", "-crf", "20"]
        cmd += ["-c:a", "aac", "-b:a", "128k", str(film)]
        subprocess.run(cmd, check=True)
    return film


def ffmpeg_reencode(clip: Path, out: Path, frames: int) -> tuple[float, float]:
    """ffmpeg's own re-encode of ``clip`` at CRF 18 (x264's default preset, audio copied): (wall s, CPU ms a frame)."""
    cpu, t0 = _cpu_seconds(resource.RUSAGE_CHILDREN), time.perf_counter()
    cmd = ["ffmpeg", "-v", "error", "-y", "-i", str(clip), "-c:v", "libx264", "-crf", "18", "-c:a", "copy", str(out)]
    subprocess.run(cmd, check=True)
    wall = time.perf_counter() - t0
    return wall, (_cpu_seconds(resource.RUSAGE_CHILDREN) - cpu) / frames * 1000


def cli_run(tree: Path, clip: Path, out: Path, args: list[str], frames: int) -> tuple[float, float]:
    """``stream-colorize video clip out ARGS`` from ``tree`` in a fresh process, start-up included:
    (wall s, CPU ms a frame of the whole process)."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    cmd = [sys.executable, "-m", "stream_colorize", "video", str(clip), str(out), "-y", "-q", "--crf", "18", *args]
    cpu, t0 = _cpu_seconds(resource.RUSAGE_CHILDREN), time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=tree, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr}")
    return wall, (_cpu_seconds(resource.RUSAGE_CHILDREN) - cpu) / frames * 1000


def vs_ffmpeg(tmp: Path, runs: list[tuple[str, Path, list[str]]], repeat: int, seconds: float) -> None:
    """The command line, end to end, against ffmpeg's own re-encode of the same film, alternating:
    ffmpeg, run 1, ffmpeg, run 2, ffmpeg, ...; each ratio uses the mean of the two ffmpeg runs
    around it, so load from other processes falls on both alike."""
    clip = make_film(tmp, seconds, SIZES["720p"])
    with MediaSource(clip) as source:
        frames = sum(1 for item in source.items() if isinstance(item, Frame))
    print(f"film: the sample scaled to 720p, {seconds:g} s, {frames} frames, AAC; both sides CRF 18, start-up included")
    print("baseline: ffmpeg -i film.mp4 -c:v libx264 -crf 18 -c:a copy out.mp4 (x264's default preset, medium)")
    print(f"{'run':<44}{'wall s':>8}{'ffmpeg s':>10}{'ratio':>7}{'cpu ms/f':>10}{'ffmpeg cpu':>11}")
    results: dict[str, list[float]] = {}
    before = ffmpeg_reencode(clip, tmp / "ffmpeg.mp4", frames)
    for _ in range(repeat):
        for label, tree, args in runs:
            wall, cpu_ms = cli_run(tree, clip, tmp / "colour.mp4", args, frames)
            after = ffmpeg_reencode(clip, tmp / "ffmpeg.mp4", frames)
            ff_wall, ff_cpu = (before[0] + after[0]) / 2, (before[1] + after[1]) / 2
            ratio = ff_wall / wall  # speed ratio: same frames on both sides
            results.setdefault(label, []).append(ratio)
            print(f"{label:<44}{wall:8.1f}{ff_wall:10.1f}{ratio:7.2f}{cpu_ms:10.1f}{ff_cpu:11.1f}", flush=True)
            before = after
    for label, ratios in results.items():
        print(f"{label}: speed / ffmpeg's {' / '.join(f'{r:.2f}' for r in ratios)}", flush=True)


def startup(tmp: Path, runs: list[tuple[str, Path, list[str]]], repeat: int) -> None:
    """Seconds from the command to a finished one-frame output (imports, model, session, first frame)."""
    clip = make_film(tmp, 2, SIZES["720p"])
    times: dict[str, list[float]] = {}
    for _ in range(repeat):
        for label, tree, args in runs:
            wall, _ = cli_run(tree, clip, tmp / "one.mp4", [*args, "-t", "0.04"], 1)
            times.setdefault(label, []).append(wall)
    for label, walls in times.items():
        print(f"start-up to one frame, {label}: {' / '.join(f'{w:.2f}' for w in walls)} s", flush=True)


def temporal_table(clip: Path, model: str, limit: int) -> None:
    """Flicker (mean |Δab| between consecutive frames), warp error (the same along the gray
    frames' optical flow, see ``video_metrics.warp_errors``), distance from the per-frame model's ab,
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
    parser.add_argument("--vs-ffmpeg", action="store_true", help="the command line / ffmpeg's re-encode, 720p film")
    parser.add_argument("--startup", action="store_true", help="seconds from the command to a one-frame output")
    parser.add_argument("--repeat", type=int, default=2, help="for --vs-ffmpeg/--startup: rounds of runs")
    parser.add_argument("--seconds", type=float, default=20.0, help="for --vs-ffmpeg: the film's length")
    parser.add_argument("--skips", default="1,2", help="for --vs-ffmpeg: comma-separated --skip values")
    parser.add_argument(
        "--backends", default="auto", help="for --vs-ffmpeg: comma-separated backends to run (auto,opencv,onnxruntime)"
    )
    parser.add_argument("--models", default="default", help="for --vs-ffmpeg: comma-separated models (default,compact)")
    parser.add_argument(
        "--tree",
        action="append",
        default=[],
        metavar="LABEL=PATH",
        help="for --vs-ffmpeg/--startup: also run the command line of another checkout (e.g. before=/tmp/old), "
        "alternating with this one",
    )
    parser.add_argument(
        "--args",
        action="append",
        default=[],
        metavar="LABEL=FLAGS",
        help='for --vs-ffmpeg/--startup: extra flag sets to compare, e.g. "t1=--threads 1" (each run once per set)',
    )
    args = parser.parse_args()
    if args.vs_ffmpeg or args.startup:
        here = Path(__file__).resolve().parent.parent
        trees = [("", here)] + [(t.split("=", 1)[0], Path(t.split("=", 1)[1]).resolve()) for t in args.tree]
        for _, tree in trees:  # byte-compiled as pip install leaves it (PYTHONDONTWRITEBYTECODE would compile each run)
            subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree / "stream_colorize")], check=True)
        flag_sets = [("", [])] + [(a.split("=", 1)[0], a.split("=", 1)[1].split()) for a in args.args]
        skips = [int(k) for k in args.skips.split(",")] if args.vs_ffmpeg else [1]
        runs = [
            (
                " ".join(filter(None, [tree_label or "this", model, backend, f"skip {skip}", flag_label])),
                tree,
                ["--model", model, "--backend", backend, "--skip", str(skip), *flags],
            )
            for model in args.models.split(",")
            for backend in args.backends.split(",")
            for skip in skips
            for flag_label, flags in flag_sets
            for tree_label, tree in trees
        ]
        with tempfile.TemporaryDirectory() as folder:
            if args.startup:
                startup(Path(folder), runs, args.repeat)
            if args.vs_ffmpeg:
                vs_ffmpeg(Path(folder), runs, args.repeat, args.seconds)
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
            clip = make_film(tmp, 10, SIZES[label])
            print(f"{label}: made a 10 s film in {time.perf_counter() - t0:.1f} s (preset {args.preset})")
            for model in models:
                limit = args.zhang_frames if model == "standin" else None
                for skip in (1, 2):
                    bench_clip(label, clip, model, skip, limit, args.preset, tmp)


if __name__ == "__main__":
    main()
