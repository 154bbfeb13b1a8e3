"""A slow camera move over a still colour photo: a clip whose true colours never change.

    $ python bench/pan_clip.py PHOTO OUT.mp4                       # 6 s at 25 fps, 480x320
    $ python bench/pan_clip.py leuvenA.jpg pan.mp4 --seconds 4 --size 320x240

A window with the output's aspect ratio moves across the photo: it starts at 60 % of the
photo's height (``--window``) in its top-left part, pans right by 40 % of the photo's width and
down by half that (``--pan``; about 2 output pixels a frame at the defaults), and zooms in to 80 %
of its first size by the end (``--zoom``), stopping at the photo's edges.  Each frame is the photo resampled
through that window (a Gaussian blur matched to the scale first, so nothing aliases), encoded
losslessly (x264, QP 0, 4:4:4): the colour footage ``stream-colorize eval --video`` takes as the truth.  Any
colour change from frame to frame in a colourized version of it is flicker or a trail, never
the picture's own.
"""

from __future__ import annotations

import argparse
import sys
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np


def window_frames(
    photo: np.ndarray, size: tuple[int, int], count: int, pan: float, zoom: float, window: float = 0.6
) -> list[np.ndarray]:
    """``count`` BGR frames of ``size`` (w, h) through a window ``window`` of the photo's height high,
    moving ``pan`` of the photo's width and zooming to ``zoom`` of its first size."""
    height, width = photo.shape[:2]
    out_w, out_h = size
    first_h = window * height
    first_w = first_h * out_w / out_h
    if first_w > 0.9 * width:  # a tall photo: fit the window to the width instead
        first_w = 0.9 * width
        first_h = first_w * out_h / out_w
    frames = []
    for i in range(count):
        t = i / max(1, count - 1)
        scale = 1.0 + (zoom - 1.0) * t  # the window's size relative to its first
        win_w, win_h = first_w * scale, first_h * scale
        left = 0.02 * width + pan * width * t
        top = 0.02 * height + 0.5 * pan * height * t
        left = min(left, width - win_w)
        top = min(top, height - win_h)
        factor = out_w / win_w  # < 1: shrinking
        sigma = max(0.0, 0.5 * (1 / factor - 1))
        source = cv2.GaussianBlur(photo, (0, 0), sigma) if sigma > 0.05 else photo
        matrix = np.float32([[factor, 0, -left * factor], [0, factor, -top * factor]])
        frames.append(cv2.warpAffine(source, matrix, (out_w, out_h), flags=cv2.INTER_CUBIC))
    return frames


def write_clip(frames: list[np.ndarray], path: Path, rate: int) -> None:
    """Encode BGR frames as lossless H.264 (QP 0, yuv444p: no chroma noise of the codec's own) at ``rate`` fps."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(rate))
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "yuv444p"
        stream.options = {"qp": "0", "preset": "medium"}
        for image in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        container.mux(stream.encode(None))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photo", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--rate", type=int, default=25)
    parser.add_argument("--size", default="480x320", help="output WxH (even numbers)")
    parser.add_argument("--window", type=float, default=0.6, help="first window's height / photo's")
    parser.add_argument("--pan", type=float, default=0.4, help="how far the window moves, as a share of the width")
    parser.add_argument("--zoom", type=float, default=0.8, help="the window's last size relative to its first")
    args = parser.parse_args()
    photo = cv2.imread(str(args.photo), cv2.IMREAD_COLOR)
    if photo is None:
        sys.exit(f"cannot read {args.photo}")
    width, height = (int(v) for v in args.size.lower().split("x"))
    count = max(2, round(args.seconds * args.rate))
    write_clip(window_frames(photo, (width, height), count, args.pan, args.zoom, args.window), args.output, args.rate)
    print(f"{args.output}: {count} frames of {width}x{height} over {args.photo.name}")


if __name__ == "__main__":
    main()
