"""Small helpers shared by several test modules."""

from __future__ import annotations

import cv2
import pytest

from stream_colorize.cli import main

CV_MAJOR = int(cv2.__version__.split(".")[0])


def needs_cv4(test):
    """Run only on opencv-python 4.x, the last with a Caffe importer (marker: opencv4)."""
    skip = pytest.mark.skipif(CV_MAJOR >= 5, reason=f"OpenCV {cv2.__version__} has no Caffe importer")
    return pytest.mark.opencv4(skip(test))


def run_main(args: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    """Run the real entry point in-process; return (exit code, stdout, stderr)."""
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err
