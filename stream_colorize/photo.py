"""Photos: read (16-bit depth, transparency, EXIF orientation kept), colourize, write atomically.

    >>> colorize_image("grandma.tif", "grandma_colour.tif")          # the bundled model
    >>> engine = Colorizer("default")                                # or reuse one for many photos:
    >>> for src in photos:
    ...     colorize_image(src, src.with_name(src.stem + "_colour.png"), engine)
    >>> colorize_image("grandma.tif", "out.tif", "standin-hints", hints=load_hints("hints.json"))

A 16-bit PNG or TIFF stays 16-bit when the output can hold it (the model sees an 8-bit preview,
its ab is merged with the full-depth L); an alpha plane is carried over to outputs that keep one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .engine import Colorizer
from .errors import InputNotFoundError, MediaError, UsageError
from .hints import Hints
from .io.guard import as_path, check_output
from .io.info import image_header_size
from .io.kinds import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from .io.outputs import write_atomic
from .lab import merge_ab_16
from .limits import MAX_PHOTO_PIXELS, check_picture_size
from .models.spec import ModelSpec

DEEP_SUFFIXES = {".png", ".tif", ".tiff"}  # written at 16 bits per channel when the input has them
ALPHA_SUFFIXES = {".png", ".tif", ".tiff", ".webp"}  # keep an input's transparency


def colorize_image(
    input: str | bytes | os.PathLike[str],
    output: str | bytes | os.PathLike[str],
    colorizer: Colorizer | ModelSpec | str | Path = "default",
    overwrite: bool = False,
    side_by_side: bool = False,
    hints: Hints | None = None,
) -> Path:
    """Colourize the photo ``input`` into ``output`` (format by its suffix); return ``output``.

    ``input`` and ``output`` are paths (str, bytes or ``os.PathLike``).  ``colorizer`` is a loaded
    ``Colorizer`` (reuse one for many photos) or what ``Colorizer`` takes: a model name or file.
    An existing ``output`` is refused (UsageError, before any work) unless ``overwrite=True``, as
    the command line refuses it without -y; an ``output`` that is the input itself (also through a
    link) is refused always.  The file is written under a temporary name and renamed, so a failure
    never leaves half a picture.  ``side_by_side`` writes original | colour.  ``hints``: colour
    hints (``stream_colorize.hints``) in the photo's pixels, as shown (EXIF orientation applied),
    for a model that takes them; UsageError for a model that does not or a point outside the photo.
    """
    src, dst = as_path(input, "input"), as_path(output, "output")
    if not isinstance(colorizer, (Colorizer, ModelSpec, str, os.PathLike)):
        raise UsageError(f"colorizer must be a Colorizer, a model name or a model file, not {type(colorizer).__name__}")
    if hints is not None and not isinstance(hints, Hints):
        raise UsageError(f"hints must be a stream_colorize.hints.Hints or None, not {type(hints).__name__}")
    if not src.is_file():
        raise InputNotFoundError(f"input not found: {src}")
    check_image_suffix(dst)
    check_output(dst, [src], overwrite)
    photo = read_photo(src)
    if isinstance(colorizer, Colorizer):
        engine = colorizer
    else:
        engine = Colorizer(colorizer if isinstance(colorizer, (ModelSpec, str)) else Path(colorizer))
    color = colorize_photo(engine, photo, dst.suffix.lower() or ".png", side_by_side, hints)
    write_image(dst, color, overwrite)
    return dst


def _decode(path: Path, flags: int) -> tuple[np.ndarray, np.ndarray]:
    """The file's bytes and their decoding with ``flags``; MediaError if unreadable or not an image."""
    try:
        data = np.fromfile(str(path), np.uint8)
    except OSError as exc:
        raise MediaError(f"cannot read {path}: {exc.strerror}") from exc
    image = cv2.imdecode(data, flags) if data.size else None
    if image is None:
        hint = "; for films use 'stream-colorize video'" if path.suffix.lower() in VIDEO_SUFFIXES else ""
        raise MediaError(f"{path} is not an image OpenCV can read{hint}")
    return data, image


def read_image(path: Path) -> np.ndarray:
    """Read an image as BGR uint8 (EXIF orientation applied); MediaError if it is not one."""
    return _decode(path, cv2.IMREAD_COLOR)[1]


@dataclass
class Photo:
    """A decoded photo: BGR pixels (uint8, or uint16 for a 16-bit file) and its alpha plane, if any
    (uint8 or uint16 as the file stored it)."""

    pixels: np.ndarray
    alpha: np.ndarray | None = None

    @property
    def preview(self) -> np.ndarray:
        """The pixels as BGR uint8, what the model sees."""
        return to_depth(self.pixels, np.uint8)


def to_depth(image: np.ndarray, dtype: type | np.dtype) -> np.ndarray:
    """Rescale a uint8/uint16 image to ``dtype`` (uint8 or uint16)."""
    if image.dtype == dtype:
        return image
    if dtype == np.uint8:
        return ((image.astype(np.uint32) + 128) // 257).astype(np.uint8)
    return image.astype(np.uint16) * np.uint16(257)


def read_photo(path: Path) -> Photo:
    """Read a photo keeping 16-bit depth and transparency (EXIF orientation applied); MediaError if none."""
    size = image_header_size(path)
    if size is not None:  # refuse before decoding: a 1 MB PNG can hold 32000x32000 pixels
        check_picture_size(path, *size, MAX_PHOTO_PIXELS, "a photo")
    try:
        data, pixels = _decode(path, cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH)
    except MediaError:
        # Some float or 32-bit files (a one-channel float32 TIFF) decode only unchanged.
        data, pixels = _decode(path, cv2.IMREAD_UNCHANGED)
    if pixels.dtype not in (np.uint8, np.uint16):
        pixels = _to_uint16(pixels)
    if pixels.ndim == 2:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR)
    elif pixels.shape[2] == 4:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_BGRA2BGR)
    alpha = None
    if path.suffix.lower() in ALPHA_SUFFIXES:
        raw = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
        # IMREAD_UNCHANGED skips EXIF orientation: only trust its alpha when the shapes agree.
        if raw is not None and raw.ndim == 3 and raw.shape[2] == 4 and raw.shape[:2] == pixels.shape[:2]:
            if raw.dtype in (np.uint8, np.uint16):
                alpha = raw[:, :, 3]
    return Photo(pixels, alpha)


def _to_uint16(pixels: np.ndarray) -> np.ndarray:
    """Float (0..1, as scientific and HDR-pipeline TIFFs store it; beyond is clipped) or 32-bit
    integer pixels as 16-bit, the deepest depth the rest of the photo path keeps."""
    if pixels.dtype.kind == "f":
        scaled = np.nan_to_num(pixels, nan=0.0, posinf=1.0, neginf=0.0)
        return (np.clip(scaled, 0.0, 1.0) * 65535.0 + 0.5).astype(np.uint16)
    if pixels.dtype.itemsize > 2:
        return (np.clip(pixels, 0, None).astype(np.uint64) >> (8 * pixels.dtype.itemsize - 16)).astype(np.uint16)
    return pixels.astype(np.uint16) * np.uint16(257) if pixels.dtype.itemsize == 1 else pixels.astype(np.uint16)


def colorize_photo(
    engine: Colorizer, photo: Photo, out_suffix: str, side_by_side: bool = False, hints: Hints | None = None
) -> np.ndarray:
    """The colour version of ``photo`` as the output format can hold it (depth, alpha), steered by
    ``hints`` (in the photo's pixels) where given."""
    given = None if hints is None else [hints]
    if photo.pixels.dtype == np.uint16 and out_suffix in DEEP_SUFFIXES:
        original = photo.pixels
        ab = engine.predict_ab([photo.preview]) if given is None else engine.predict_ab([photo.preview], hints=given)
        color = merge_ab_16(original, ab[0])
    else:
        original = photo.preview
        color = engine.colorize([original], hints=given)[0]
    if photo.alpha is not None and out_suffix in ALPHA_SUFFIXES:
        alpha = to_depth(photo.alpha, color.dtype)
        color = np.dstack([color, alpha])
        original = np.dstack([original, alpha])
    return cv2.hconcat([original, color]) if side_by_side else color


def check_image_suffix(path: Path) -> None:
    """UsageError unless OpenCV can write images with ``path``'s suffix (checked before any work)."""
    ext = path.suffix.lower() or ".png"
    try:
        ok = cv2.haveImageWriter(f"x{ext}")
    except cv2.error:
        ok = False
    if not ok:
        usable = [e for e in sorted(IMAGE_SUFFIXES) if _writable(e)]
        raise UsageError(f"cannot write {ext!r} images ({path.name}); use one of {', '.join(usable)}")


def _writable(ext: str) -> bool:
    try:
        return bool(cv2.haveImageWriter(f"x{ext}"))
    except cv2.error:
        return False


def write_image(path: Path, image: np.ndarray, overwrite: bool = True) -> None:
    """Encode by the output's suffix and write through a temporary file and a rename (without
    ``overwrite``, MediaError when the name was taken meanwhile; see ``outputs.claim``)."""
    ext = path.suffix.lower() or ".png"
    try:
        ok, encoded = cv2.imencode(ext, image)
    except cv2.error:
        ok = False
    if not ok:
        raise UsageError(f"cannot encode an image as {ext!r}; use .png or .jpg")
    try:
        write_atomic(path, encoded.tobytes(), overwrite=overwrite)
    except OSError as exc:  # a full disk, a read-only folder: named by the output, not the temp file
        raise MediaError(f"cannot write {path}: {exc.strerror or exc}") from exc


