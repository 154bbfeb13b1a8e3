"""Contact sheet: gray | each model | truth, for reserved photos and frames of colour clips.

    python tools/contact_sheet.py --models compact default --images work/data/eval \\
        --clips work/clips/carphone_pristine.mp4 work/ext/opencv-doc/usr/share/doc/opencv-doc/examples/data/vtest.avi \\
        --out docs/default_model_grid.jpg

Each row is one picture turned gray and colorized by every model (the pipeline's decode: annealed
mean at the model's own temperature, gamut limit, 8-bit merge); the last column is the truth.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tools.training

from stream_colorize.engine import Colorizer  # noqa: E402
from stream_colorize.evaluate import to_gray  # noqa: E402
from stream_colorize.models import resolve_model  # noqa: E402
from stream_colorize.video_metrics import read_video_frames  # noqa: E402
from tools.training.dataset import load_folder  # noqa: E402


def label(cell: np.ndarray, text: str) -> np.ndarray:
    """Write a caption in the top-left corner (white on a dark band)."""
    out = cell.copy()
    cv2.rectangle(out, (0, 0), (8 + 9 * len(text), 20), (0, 0, 0), -1)
    cv2.putText(out, text, (4, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def row(picture: np.ndarray, models: list[tuple[str, Colorizer]], height: int, captions: bool) -> np.ndarray:
    """gray | model... | truth for one colour picture, each cell ``height`` pixels tall."""
    gray = to_gray(picture)
    cells = [("gray", cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR))]
    cells += [(name, colorizer.colorize([gray])[0]) for name, colorizer in models]
    cells.append(("truth", picture))
    size = (max(1, round(picture.shape[1] * height / picture.shape[0])), height)
    scaled = [cv2.resize(c, size, interpolation=cv2.INTER_AREA) for _, c in cells]
    if captions:
        scaled = [label(c, name) for (name, _), c in zip(cells, scaled)]
    return np.hstack([cv2.copyMakeBorder(c, 0, 0, 0, 3, cv2.BORDER_CONSTANT, value=(255, 255, 255)) for c in scaled])


def main() -> int:
    """Build the sheet and write it as JPEG."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["compact", "default"])
    p.add_argument("--images", type=Path, default=Path("work/data/eval"))
    p.add_argument("--count", type=int, default=10, help="photos to show (spread over the folder)")
    p.add_argument("--clips", type=Path, nargs="*", default=[])
    p.add_argument("--frames", type=int, default=2, help="frames per clip")
    p.add_argument("--height", type=int, default=180)
    p.add_argument("--out", type=Path, default=Path("docs/default_model_grid.jpg"))
    args = p.parse_args()
    models = [(name, Colorizer(resolve_model(name), device="cpu")) for name in args.models]
    photos = load_folder(args.images)
    pictures = photos[:: max(1, len(photos) // args.count)][: args.count]
    for clip in args.clips:
        frames = read_video_frames(clip, 200, spread=True)
        pictures += frames[len(frames) // (args.frames + 1) :: max(1, len(frames) // (args.frames + 1))][: args.frames]
    rows = [row(pic, models, args.height, captions=i == 0) for i, pic in enumerate(pictures)]
    width = max(r.shape[1] for r in rows)
    sheet = np.vstack(
        [cv2.copyMakeBorder(r, 0, 3, 0, width - r.shape[1], cv2.BORDER_CONSTANT, value=(255, 255, 255)) for r in rows]
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), sheet, [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(f"wrote {args.out} ({sheet.shape[1]}x{sheet.shape[0]}, {len(rows)} rows)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
