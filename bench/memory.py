"""Peak memory (max RSS) of real ``stream-colorize`` runs on large inputs, one subprocess each.

    $ python bench/memory.py                     # photos of 16 and 100 MP (8- and 16-bit), eval of 100 MP,
                                                 # 4K and 8K clips (minutes)
    $ python bench/memory.py --quick             # the 16 MP photo and the 4K clip only

Inputs are generated into a temporary folder (gray gradients; H.264 clips of a few frames).
Peaks come from GNU time (``/usr/bin/time``, Debian package ``time``).  Each run uses the tiny
stand-in model, so the figures are the pipeline's own cost (decode,
queues, merge, encode), which is what grows with the picture; the bundled model adds its
fixed ~50 MB.  Measured (2 cores, OpenCV 5.1, bundled model): a 12000x9000 16-bit gray PNG
1.59 GB (8.49 GB before merge_ab_16 worked in bands), 16-bit colour 1.65 GB (8.48 GB), 16-bit
with transparency 2.08 GB (now refused above 90 MP), 8-bit 1.73 GB; ``eval`` of a 108 MP photo
0.86 GB (14.8 GB before it streamed and measured photos above 3840x2160 scaled down).  Inputs above
the ceilings in ``stream_colorize.limits`` are refused, and the
report says so with the peak of the refusing process.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from stream_colorize.models.standin import write_standin_onnx  # noqa: E402


def gradient(width: int, height: int) -> np.ndarray:
    x = np.arange(width, dtype=np.uint32)[None, :]
    y = np.arange(height, dtype=np.uint32)[:, None]
    return ((x * 7 + y * 3) // 16 % 256).astype(np.uint8)


def make_photo(path: Path, width: int, height: int) -> Path:
    cv2.imwrite(str(path), gradient(width, height))
    return path


def make_photo16(path: Path, width: int, height: int) -> Path:
    cv2.imwrite(str(path), gradient(width, height).astype(np.uint16) * np.uint16(257))
    return path


def make_colour_photo(path: Path, width: int, height: int) -> Path:
    picture = gradient(width, height)
    cv2.imwrite(str(path), np.dstack([picture, picture[::-1], picture[:, ::-1]]))
    return path


def make_clip(path: Path, width: int, height: int, frames: int) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        picture = gradient(width, height)
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.roll(picture, 8 * i, axis=1), format="gray").reformat(
                format="yuv420p"
            )
            frame.pts, frame.time_base = i, Fraction(1, 25)
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


def peak_of(args: list[str]) -> tuple[int, float, str]:
    """Run the CLI under GNU time; return (exit status, its peak RSS in MB, last stderr line)."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    cmd = ["/usr/bin/time", "-f", "PEAK %M", sys.executable, "-m", "stream_colorize", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines = done.stderr.strip().splitlines()
    peak = next(int(line.split()[1]) for line in lines if line.startswith("PEAK "))
    said = [line for line in lines if not line.startswith("PEAK ")]
    error = [line for line in said if "error:" in line]
    return done.returncode, peak / 1024, (error or said or [""])[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="only the smaller inputs")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = write_standin_onnx(folder / "tiny.onnx", arch="tiny", seed=1)
        runs = [("photo 4000x4000 (16 MP)", "image", make_photo(folder / "p16.png", 4000, 4000))]
        runs.append(("video 3840x2160 (4K), 8 frames", "video", make_clip(folder / "v4k.mp4", 3840, 2160, 8)))
        if not opts.quick:
            runs.append(("photo 10000x10000 (100 MP)", "image", make_photo(folder / "p100.png", 10000, 10000)))
            runs.append(("video 7680x4320 (8K), 8 frames", "video", make_clip(folder / "v8k.mp4", 7680, 4320, 8)))
            runs.append(("photo 12000x12000 (144 MP)", "image", make_photo(folder / "p144.png", 12000, 12000)))
            runs.append(("16-bit photo 12000x9000 (108 MP)", "image", make_photo16(folder / "d108.png", 12000, 9000)))
            (folder / "eval").mkdir()
            make_colour_photo(folder / "eval" / "c100.jpg", 10000, 10000)
            runs.append(("eval of a 10000x10000 photo", "eval", folder / "eval"))
        print(f"{'input':34} {'exit':>4} {'peak RSS':>10}  outcome")
        for label, command, path in runs:
            out = folder / f"out_{path.stem}{'.png' if command == 'image' else '.mp4'}"
            if command == "eval":
                code, peak, last = peak_of([command, str(path), "-m", str(model), "-d", "cpu", "--json"])
            else:
                args = [command, str(path)] + (["-o", str(out)] if command == "image" else [str(out), "-q"])
                code, peak, last = peak_of([*args, "-m", str(model), "-d", "cpu", "-y"])
            print(f"{label:34} {code:>4} {peak:>7.0f} MB  {last[:90]}")


if __name__ == "__main__":
    main()
