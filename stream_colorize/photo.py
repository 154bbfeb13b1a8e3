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
from .io.info import image_header
from .io.kinds import GRAY_ONLY_SUFFIXES, MULTI_FRAME_SUFFIXES, PHOTO_OUTPUT_SUFFIXES, VIDEO_SUFFIXES
from .io.outputs import atomic_output
from .lab import merge_ab_16
from .limits import check_picture_size, photo_pixel_limit
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


def _decode(path: Path, flags: int, data: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The file's bytes (read unless given) and their decoding with ``flags``; MediaError if
    unreadable or not an image."""
    if data is None:
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
    (uint8 or uint16 as the file stored it); ``frames``: how many frames or pages the file holds
    (only the first is read)."""

    pixels: np.ndarray
    alpha: np.ndarray | None = None
    frames: int = 1

    @property
    def preview(self) -> np.ndarray:
        """The pixels as BGR uint8, what the model sees."""
        return to_depth(self.pixels, np.uint8)


def to_depth(image: np.ndarray, dtype: type | np.dtype) -> np.ndarray:
    """Rescale a uint8/uint16 image to ``dtype`` (uint8 or uint16)."""
    if image.dtype == dtype:
        return image
    if dtype == np.uint8:
        # The same rounding as (x + 128) // 257 (checked for every 16-bit value), without a uint32 copy.
        return cv2.convertScaleAbs(image, alpha=1 / 257)
    return image.astype(np.uint16) * np.uint16(257)


def read_photo(path: Path) -> Photo:
    """Read a photo keeping 16-bit depth and transparency (EXIF orientation applied); MediaError if
    none, or if it is above the size limit (``limits.photo_pixel_limit``: lower for deep photos)."""
    header = image_header(path)
    if header is not None:  # refuse before decoding: a 1 MB PNG can hold 32000x32000 pixels
        check_photo_size(path, header.width, header.height, header.bits, header.alpha)
    raw_alpha = None
    data = None
    # The alpha plane needs a second, whole decode: only where the header says there may be one,
    # and first, so that its decoding's temporaries come and go before the pixels are held.
    if path.suffix.lower() in ALPHA_SUFFIXES and (header is None or header.alpha):
        data, raw = _decode(path, cv2.IMREAD_UNCHANGED)
        if raw.ndim == 3 and raw.shape[2] == 4 and raw.dtype in (np.uint8, np.uint16):
            raw_alpha = raw[:, :, 3].copy()  # a view would keep the whole decoded array alive
        del raw
    try:
        data, pixels = _decode(path, cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH, data)
    except MediaError:
        # Some float or 32-bit files (a one-channel float32 TIFF) decode only unchanged.
        data, pixels = _decode(path, cv2.IMREAD_UNCHANGED, data)
    del data
    if header is None:  # PyAV could not read the header (float TIFF): check what was decoded
        check_photo_size(path, pixels.shape[1], pixels.shape[0], 8 * pixels.dtype.itemsize, raw_alpha is not None)
    if pixels.dtype not in (np.uint8, np.uint16):
        pixels = _to_uint16(pixels)
    if pixels.ndim == 2:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR)
    elif pixels.shape[2] == 4:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_BGRA2BGR)
    # IMREAD_UNCHANGED skips EXIF orientation: only trust its alpha when the shapes agree.
    alpha = raw_alpha if raw_alpha is not None and raw_alpha.shape == pixels.shape[:2] else None
    return Photo(pixels, alpha, _frame_count(path))


def check_photo_size(path: Path, width: int, height: int, bits: int, alpha: bool = False) -> None:
    """MediaError when a photo of ``width`` x ``height`` at ``bits`` per channel (``alpha``: with
    transparency) is above its limit (``limits.photo_pixel_limit``)."""
    limit = photo_pixel_limit(bits, alpha)
    what = "a photo" if bits <= 8 else f"a {bits}-bit photo{' with transparency' if alpha else ''}"
    check_picture_size(path, width, height, limit, what)


def _frame_count(path: Path) -> int:
    """Frames (GIF) or pages (TIFF) in the file; 1 where OpenCV cannot count them.  (OpenCV 4.14,
    5.0 and 5.1 count both without decoding more than one frame at a time.)"""
    if path.suffix.lower() not in MULTI_FRAME_SUFFIXES:
        return 1
    try:
        return max(1, int(cv2.imcount(str(path))))
    except (cv2.error, AttributeError, OverflowError):
        return 1


def _to_uint16(pixels: np.ndarray) -> np.ndarray:
    """Float (0..1, as scientific and HDR-pipeline TIFFs store it; beyond is clipped) or 32-bit
    integer pixels as 16-bit, the deepest depth the rest of the photo path keeps."""
    if pixels.dtype.kind == "f":
        # In place: the decoded float array is ours, and a float photo is 12 bytes a pixel already.
        scaled = np.nan_to_num(pixels, copy=False, nan=0.0, posinf=1.0, neginf=0.0)
        np.clip(scaled, 0.0, 1.0, out=scaled)
        scaled *= 65535.0
        scaled += 0.5
        return scaled.astype(np.uint16)
    if pixels.dtype.itemsize > 2:
        return (np.clip(pixels, 0, None).astype(np.uint64) >> (8 * pixels.dtype.itemsize - 16)).astype(np.uint16)
    return pixels.astype(np.uint16) * np.uint16(257) if pixels.dtype.itemsize == 1 else pixels.astype(np.uint16)


def colorize_photo(
    engine: Colorizer, photo: Photo, out_suffix: str, side_by_side: bool = False, hints: Hints | None = None
) -> np.ndarray:
    """The colour version of ``photo`` as the output format can hold it (depth, alpha), steered by
    ``hints`` (in the photo's pixels) where given."""
    given = None if hints is None else [hints]
    deep = photo.pixels.dtype == np.uint16 and out_suffix in DEEP_SUFFIXES
    alpha = photo.alpha if out_suffix in ALPHA_SUFFIXES else None
    preview = photo.preview  # converted once: a full-size pass for a 16-bit photo
    if deep:
        ab = engine.predict_ab([preview]) if given is None else engine.predict_ab([preview], hints=given)
        # The alpha plane goes straight into the merge's output: no second full-size copy.
        color = merge_ab_16(photo.pixels, ab[0], None if alpha is None else to_depth(alpha, np.uint16))
    else:
        color = engine.colorize([preview], hints=given)[0]
        if alpha is not None:
            color = np.dstack([color, to_depth(alpha, color.dtype)])
    if not side_by_side:
        return color
    original = photo.pixels if deep else preview
    if alpha is not None:
        original = np.dstack([original, to_depth(alpha, color.dtype)])
    return cv2.hconcat([original, color])


def check_image_suffix(path: Path) -> None:
    """UsageError unless a colour photo can be written with ``path``'s suffix (checked before any work)."""
    problem = suffix_problem(path.suffix.lower() or ".png")
    if problem:
        raise UsageError(f"{problem} ({path.name}); use one of {', '.join(writable_suffixes())}")


def suffix_problem(ext: str) -> str | None:
    """Why a colour photo cannot be written as ``ext`` (".png"), or None when it can."""
    if ext in GRAY_ONLY_SUFFIXES:
        return f"cannot write a colour photo as {ext!r}: that format holds gray pictures only"
    if not _writable(ext):
        return f"cannot write {ext!r} images"
    return None


def writable_suffixes() -> list[str]:
    """The suffixes a colour photo can be written as with this OpenCV (sorted)."""
    return [e for e in sorted(PHOTO_OUTPUT_SUFFIXES) if _writable(e)]


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
        with atomic_output(path, overwrite=overwrite) as tmp:
            encoded.tofile(str(tmp))  # not .tobytes(): a second copy of a 16-bit photo's encoding
    except OSError as exc:  # a full disk, a read-only folder: named by the output, not the temp file
        raise MediaError(f"cannot write {path}: {exc.strerror or exc}") from exc


