"""Size ceilings: inputs above them are refused with a clear message instead of exhausting memory.

Measured on our pipeline (see ``bench/memory.py``): a photo costs about 12 bytes of peak memory
per pixel on top of ~270 MB of libraries, so 120 megapixels stay under 2 GB.  Video frames are
refused above 8K (DCI 8192x4320 is 35.4 MP; 16000x16000 would need tens of GB in the encoder),
and every queue between the video stages holds at most ``QUEUE_BYTES`` of pictures.
"""

from __future__ import annotations

from pathlib import Path

from .errors import MediaError

MAX_PHOTO_PIXELS = 120_000_000  # e.g. 12000 x 10000
MAX_VIDEO_PIXELS = 8192 * 4352  # 8K (DCI 8192x4320, UHD 7680x4320) and a little room
QUEUE_BYTES = 192 * 1024 * 1024  # per queue of the video pipeline; one item is always let through


def check_picture_size(name: str | Path, width: int, height: int, limit: int, what: str) -> None:
    """MediaError when ``width`` x ``height`` is above ``limit`` pixels, naming both."""
    if width * height > limit:
        raise MediaError(
            f"{name}: {what} of {width}x{height} ({width * height / 1e6:.0f} megapixels) is above the "
            f"{limit / 1e6:.0f}-megapixel limit that keeps memory under 2 GB; scale it down first"
        )
