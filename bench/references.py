"""Reference frames: PSNR gain over gray with a colour reference, against the floors to beat.

    $ python bench/references.py                                 # the bundled model, the issue's three clips
    $ python bench/references.py -m standin-hints --frames 60    # a quick check of the machinery

For each clip the truth is the colour footage itself (the pipeline colourizes its luma):

* ``carphone_pristine.mp4``: its first frame in colour is the reference at time 0 (``0=PHOTO``).
* ``vtest.avi``: its first frame is a fixed camera's colour view (``PHOTO``); also the false-colour rate.
* a slow pan over a still photo (``/work/data/pan_leuvenA.mp4``, made by ``bench/pan_clip.py``):
  first frame at time 0.

Rows: ``automatic`` (no reference), ``copy`` (the reference's ab on every frame), ``flow only``
(the reference's ab carried frame to frame along DIS, no model, no occlusion handling: every
pixel keeps whatever the flow brings), ``ours`` (``colorize_file(references=...)``, default
settings), and ``ours --smooth 0``, written losslessly (x264 QP 0, 4:4:4) as the floors are never
encoded; ``ours, CRF 18 4:2:0``: the same at the default encode, whose chroma loss comes on top.
The issue's targets: carphone >= +9 dB, vtest >= +12 dB with
false colour <= 0.05, the pan within 1 dB of flow only.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stream_colorize import Settings, colorize_file  # noqa: E402
from stream_colorize.carry import CARRY_PRESET  # noqa: E402
from stream_colorize.evaluate import evaluate_pairs  # noqa: E402
from stream_colorize.flow import FlowEstimator, warp  # noqa: E402
from stream_colorize.lab import merge_ab  # noqa: E402
from stream_colorize.references import CARRY_SIZE, Reference  # noqa: E402
from stream_colorize.video_metrics import read_video_frames  # noqa: E402

DATA = Path("/work/data")
CLIPS = [
    ("carphone", DATA / "carphone_pristine.mp4", 0.0),
    ("vtest (fixed camera)", DATA / "vtest.avi", None),
    ("pan over a photo", DATA / "pan_leuvenA.mp4", 0.0),
]


def flow_only(truth: list[np.ndarray], ref: Reference) -> list[np.ndarray]:
    """The reference's ab carried along the gray frames' DIS flow frame to frame, merged with each gray."""
    flow = FlowEstimator(CARRY_SIZE, CARRY_PRESET)
    ab = ref.ab_at(CARRY_SIZE)
    out, previous = [], None
    for frame in truth:
        gray = flow.prepare(frame)
        if previous is not None:
            ab = warp(ab, flow.between(previous, gray).backward)
        previous = gray
        out.append(merge_ab(_gray(frame), ab))
    return out


def _gray(frame: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)


def run(
    path: Path, ref: Reference | None, model: str, frames: int, smooth: float | None, lossless: bool = True
) -> list[np.ndarray]:
    """Colourize the first ``frames`` frames of ``path`` (its luma), with the reference or without.

    ``lossless``: written at x264 QP 0 in 4:4:4, so the figure is the colourization's, as the floors'
    are (they are never encoded); the default encode (CRF 18, 4:2:0) costs 1-2 dB of chroma on top."""
    settings = Settings(model=model)
    if smooth is not None:
        settings = settings.override(smooth=smooth)
    if lossless:
        settings = settings.override(crf=0, pix_fmt="yuv444p")
    refs = None if ref is None else [(ref.time, ref.photo)]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.mkv"
        trimmed = settings.override(duration=_seconds(path, frames))
        colorize_file(path, out, trimmed, references=refs)
        return read_video_frames(out, frames)


def _seconds(path: Path, frames: int) -> float:
    import av

    with av.open(str(path)) as container:
        rate = float(container.streams.video[0].average_rate or 25)
    return (frames - 0.5) / rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-m", "--model", default="default")
    parser.add_argument("--frames", type=int, default=300, help="frames of each clip (from the start)")
    args = parser.parse_args()
    for name, path, time in CLIPS:
        if not path.exists():
            print(f"{name}: {path} missing, skipped")
            continue
        truth = read_video_frames(path, args.frames)
        ref = Reference(time, truth[0], "first frame")
        rows: dict[str, list[np.ndarray]] = {
            "automatic": run(path, None, args.model, len(truth), None),
            "copy": [merge_ab(_gray(f), ref.ab_at(56)) for f in truth],
            "flow only": flow_only(truth, ref),
            "ours": run(path, ref, args.model, len(truth), None),
            "ours --smooth 0": run(path, ref, args.model, len(truth), 0.0),
            "ours, CRF 18 4:2:0": run(path, ref, args.model, len(truth), None, lossless=False),
        }
        print(f"{name}: {len(truth)} frames, reference {'at 0 s' if time is not None else 'fixed camera'}, "
              f"model {args.model}")  # fmt: skip
        for label, results in rows.items():
            report = evaluate_pairs(results[: len(truth)], truth[: len(results)])
            print(f"  {label:19s} PSNR gain {report['psnr_gain']:+6.2f} dB   false colour "
                  f"{report['false_colour_rate']:.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
