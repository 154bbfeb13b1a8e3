"""A strip of frames for looking at temporal smoothing: smoothing off, each smoother, the truth.

    $ python bench/smoother_strip.py vtest.avi docs/smoothing_strip.png --frames 172,176,180,184 \\
          --crop 400,130,220,180 --scale 0.75 --rows motion,flow --posterize 4

The clip is read in colour (it is the truth), turned gray and colourized with the default
settings but the smoother, each row one setting (``--rows``: ``off`` is ``--smooth 0``,
``motion`` is ``--smoother motion``, ``flow`` the default), the last row the footage itself.
``--crop X,Y,W,H`` cuts a region out of each frame (full-frame pixels), ``--scale`` resizes the
cells, ``--posterize N`` rounds every channel to a multiple of N (a smaller PNG; 4 is invisible).
Frames before the first shown one go through the smoother too, so each row shows the state a
real run has there.  Trails show as the colour of something that moved left behind where it was.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stream_colorize.build import build_engine, build_temporal  # noqa: E402
from stream_colorize.config import Settings  # noqa: E402
from stream_colorize.evaluate import to_gray  # noqa: E402
from stream_colorize.frames import Frame  # noqa: E402
from stream_colorize.lab import merge_ab  # noqa: E402
from stream_colorize.video_metrics import read_video_frames  # noqa: E402

ROWS = {"off": ("smooth 0", {"smooth": 0.0}), "motion": ("motion", {"smoother": "motion"}), "flow": ("flow", {})}


def label(cell: np.ndarray, text: str) -> np.ndarray:
    """``cell`` with ``text`` in its top-left corner, white on a dark band."""
    out = cell.copy()
    cv2.rectangle(out, (0, 0), (8 + 7 * len(text), 16), (0, 0, 0), -1)
    cv2.putText(out, text, (4, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--frames", required=True, help="comma-separated frame numbers")
    parser.add_argument("--crop", help="X,Y,W,H in full-frame pixels")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--model", default="default")
    parser.add_argument("--rows", default="off,motion,flow", help=f"comma-separated, of {', '.join(ROWS)}")
    parser.add_argument("--posterize", type=int, default=1, help="round channels to a multiple of this")
    args = parser.parse_args()
    wanted = [int(v) for v in args.frames.split(",")]
    frames = read_video_frames(args.clip, max(wanted) + 1)
    grays = [to_gray(f) for f in frames]
    engine = build_engine(Settings(model=args.model).model)
    rows = []
    for name, values in (ROWS[row] for row in args.rows.split(",")):
        temporal = build_temporal(Settings(model=args.model, **values).temporal)
        items = [Frame(i, g) for i, g in enumerate(grays)]
        temporal.assign(items, engine.predict_ab)
        rows.append((name, [merge_ab(grays[i], items[i].ab) for i in wanted]))
    rows.append(("truth", [frames[i] for i in wanted]))
    x, y, w, h = (int(v) for v in args.crop.split(",")) if args.crop else (0, 0, frames[0].shape[1], frames[0].shape[0])
    lines = []
    for name, images in rows:
        cells = []
        for index, image in zip(wanted, images):
            cell = image[y : y + h, x : x + w]
            if args.scale != 1.0:
                cell = cv2.resize(cell, None, fx=args.scale, fy=args.scale, interpolation=cv2.INTER_AREA)
            cells.append(label(cell, f"{name}, frame {index}"))
        lines.append(np.hstack(cells))
    strip = np.vstack(lines)
    if args.posterize > 1:
        strip = (strip // args.posterize * args.posterize + args.posterize // 2).astype(np.uint8)
    cv2.imwrite(str(args.output), strip, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"{args.output}: {len(rows)} rows x {len(wanted)} frames, {args.output.stat().st_size / 1000:.0f} kB")


if __name__ == "__main__":
    main()
