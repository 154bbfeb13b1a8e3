"""A side-by-side sheet of guided colourization: gray | automatic | N truth hints (marked) | truth.

    $ python -m tools.hint_sheet work/data/eval -m default --hints 10 -o docs/hints_sheet.jpg

Each row is one colour photo (the reserved photos: never trained on); the hints are the same
random truth points ``eval --hints N`` reveals (``hints.truth_hints``, fixed seed), drawn as
small rings in their colour on the hinted picture.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stream_colorize.engine import Colorizer  # noqa: E402
from stream_colorize.evaluate import to_gray  # noqa: E402
from stream_colorize.hints import truth_hints  # noqa: E402
from stream_colorize.models import resolve_model  # noqa: E402
from tools.training.dataset import load_folder  # noqa: E402


def sheet_row(colorizer: Colorizer, photo: np.ndarray, points: int, seed: int, height: int) -> np.ndarray:
    """One row of the sheet, scaled to ``height``."""
    gray = to_gray(photo)
    hints = truth_hints(photo, points, np.random.default_rng(seed))
    automatic = colorizer.colorize(gray)
    guided = colorizer.colorize(gray, hints=hints)
    marked = guided.copy()
    ring = max(3, round(min(photo.shape[:2]) / 80))
    for p in hints.points:
        centre = (round(p.x), round(p.y))
        colour = tuple(int(v) for v in photo[min(int(p.y), photo.shape[0] - 1), min(int(p.x), photo.shape[1] - 1)])
        cv2.circle(marked, centre, ring + 1, (255, 255, 255), 2, cv2.LINE_AA)
        cv2.circle(marked, centre, ring, colour, -1, cv2.LINE_AA)
    scale = height / photo.shape[0]
    size = (max(1, round(photo.shape[1] * scale)), height)
    cells = [cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR), automatic, marked, photo]
    return np.hstack([cv2.resize(c, size, interpolation=cv2.INTER_AREA) for c in cells])


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, write the sheet; returns the exit status."""
    p = argparse.ArgumentParser(prog="python -m tools.hint_sheet")
    p.add_argument("folder", type=Path, help="colour photos")
    p.add_argument("-m", "--model", default="default")
    p.add_argument("--hints", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rows", type=int, default=6)
    p.add_argument("--height", type=int, default=180)
    p.add_argument("-o", "--out", type=Path, required=True)
    args = p.parse_args(argv)
    colorizer = Colorizer(resolve_model(args.model), device="cpu")
    photos = load_folder(args.folder)
    picks = photos[:: max(1, len(photos) // args.rows)][: args.rows]
    rows = [sheet_row(colorizer, photo, args.hints, args.seed, args.height) for photo in picks]
    width = max(r.shape[1] for r in rows)
    sheet = np.vstack(
        [cv2.copyMakeBorder(r, 0, 4, 0, width - r.shape[1], cv2.BORDER_CONSTANT, value=(255, 255, 255)) for r in rows]
    )
    cv2.imwrite(str(args.out), sheet, [cv2.IMWRITE_JPEG_QUALITY, 88])
    print(f"wrote {args.out} ({len(rows)} photos: gray | automatic | {args.hints} hints | truth)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
