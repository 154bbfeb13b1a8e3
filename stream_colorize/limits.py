"""Size ceilings: inputs above them are refused with a clear message instead of exhausting memory.

Measured on our pipeline (see ``bench/memory.py``): a photo costs about 12 bytes of peak memory
per pixel on top of ~270 MB of libraries, so 120 megapixels stay under 2 GB.  A deep photo (16 bits
per channel, or float) is merged in bands into its 16-bit result, so it fits the same ceiling
(15 bytes a pixel measured: 1.65 GB for 108 megapixels), except with transparency: decoding the
16-bit alpha plane costs 16 bytes a pixel more, hence ``MAX_DEEP_ALPHA_PHOTO_PIXELS``.  Video frames are
refused above 8K (DCI 8192x4320 is 35.4 MP; 16000x16000 would need tens of GB in the encoder),
and every queue between the video stages holds at most ``QUEUE_BYTES`` of pictures.
"""

from __future__ import annotations

from pathlib import Path

from .errors import MediaError

MAX_PHOTO_PIXELS = 120_000_000  # e.g. 12000 x 10000
MAX_DEEP_ALPHA_PHOTO_PIXELS = 90_000_000  # 16-bit or float photos with transparency, e.g. 11000 x 8000
MAX_VIDEO_PIXELS = 8192 * 4352  # 8K (DCI 8192x4320, UHD 7680x4320) and a little room
QUEUE_BYTES = 192 * 1024 * 1024  # per queue of the video pipeline; one item is always let through


def photo_pixel_limit(bits: int, alpha: bool = False) -> int:
    """The photo size limit in pixels for ``bits`` per channel (the file header's bit depth) and
    transparency (``alpha``)."""
    return MAX_DEEP_ALPHA_PHOTO_PIXELS if bits > 8 and alpha else MAX_PHOTO_PIXELS


def check_picture_size(name: str | Path, width: int, height: int, limit: int, what: str) -> None:
    """MediaError when ``width`` x ``height`` is above ``limit`` pixels, naming both."""
    if width * height > limit:
        raise MediaError(
            f"{name}: {what} of {width}x{height} ({width * height / 1e6:.1f} megapixels) is above the "
            f"{limit / 1e6:.1f}-megapixel limit that keeps memory under 2 GB"
            f"{' (16-bit transparency costs more memory than 8-bit pixels)' if limit < MAX_PHOTO_PIXELS else ''}"
            "; scale it down first"
        )
