"""``stream-colorize image``: colorize photos, one by one or a whole folder."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ..errors import ColorizeError, MediaError, UsageError
from ..io.outputs import claim, temp_path
from ..lab import merge_ab_16
from ..limits import MAX_PHOTO_PIXELS, check_picture_size, image_header_size
from .common import (
    VIDEO_SUFFIXES,
    BackendOption,
    DeviceOption,
    ModelOption,
    OverwriteOption,
    TemperatureOption,
    ThreadsOption,
    build_colorizer,
    check_output,
)
from .console import out_of_memory, say

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".jp2", ".pgm", ".ppm", ".pbm"}
DEEP_SUFFIXES = {".png", ".tif", ".tiff"}  # written at 16 bits per channel when the input has them
ALPHA_SUFFIXES = {".png", ".tif", ".tiff", ".webp"}  # keep an input's transparency
OUTPUT_TAG = "_colour"  # x.jpg -> x_colour.jpg


def collect_images(inputs: list[Path]) -> list[Path]:
    """Expand folders into the images they hold (sorted, not recursive); check files exist."""
    found: list[Path] = []
    for item in inputs:
        if item.is_dir():
            try:
                entries = sorted(p for p in item.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
            except PermissionError as exc:
                raise MediaError(f"cannot read folder {item}: permission denied") from exc
            entries = [p for p in entries if not p.name.startswith(".") and not _our_output(p, entries)]
            if not entries:
                raise MediaError(f"folder {item} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
            found.extend(entries)
        elif item.is_file():
            found.append(item)
        else:
            raise MediaError(f"input not found: {item}")
    return found


def _our_output(path: Path, siblings: list[Path]) -> bool:
    """True for ``x_colour.ext`` beside an ``x.*`` it was made from (an earlier run's output)."""
    if not path.stem.endswith(OUTPUT_TAG):
        return False
    original = path.stem[: -len(OUTPUT_TAG)]
    return any(p.stem == original for p in siblings)


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


def to_depth(image: np.ndarray, dtype: type) -> np.ndarray:
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


def colorize_photo(engine, photo: Photo, out_suffix: str, side_by_side: bool = False) -> np.ndarray:
    """The colour version of ``photo`` as the output format can hold it (depth, alpha)."""
    if photo.pixels.dtype == np.uint16 and out_suffix in DEEP_SUFFIXES:
        original = photo.pixels
        colour = merge_ab_16(original, engine.predict_ab([photo.preview])[0])
    else:
        original = photo.preview
        colour = engine.colorize([original])[0]
    if photo.alpha is not None and out_suffix in ALPHA_SUFFIXES:
        alpha = to_depth(photo.alpha, colour.dtype)
        colour = np.dstack([colour, alpha])
        original = np.dstack([original, alpha])
    return cv2.hconcat([original, colour]) if side_by_side else colour


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
    tmp = temp_path(path)
    try:
        tmp.write_bytes(encoded.tobytes())
        claim(tmp, path, overwrite)
    finally:
        tmp.unlink(missing_ok=True)


def output_paths(images: list[Path], output: Path | None, suffix: str) -> list[Path]:
    """Where each result goes: beside the input, into a folder, or to one named file."""
    if output is None:
        return distinct([p.with_name(f"{p.stem}{OUTPUT_TAG}{suffix or p.suffix}") for p in images])
    if len(images) == 1 and output.suffix and not output.is_dir():
        return [output]
    if output.exists() and not output.is_dir():
        raise UsageError(f"{output} is a file; with several inputs -o must name a folder")
    output.mkdir(parents=True, exist_ok=True)
    return distinct([output / f"{p.stem}{OUTPUT_TAG}{suffix or p.suffix}" for p in images])


def distinct(paths: list[Path]) -> list[Path]:
    """The same paths, a clash (two inputs named x.jpg in different folders) numbered
    ``x_colour_2.jpg``, ``x_colour_3.jpg``... in input order."""
    seen: set[Path] = set()
    result = []
    for path in paths:
        candidate, n = path, 1
        while candidate in seen:
            n += 1
            candidate = path.with_name(f"{path.stem}_{n}{path.suffix}")
        seen.add(candidate)
        result.append(candidate)
    return result


@contextmanager
def photo_progress(total: int) -> Iterator[Callable[[], None]]:
    """A bar with photos per second and ETA on a terminal, for more than one photo; yields ``advance``."""
    console = Console(stderr=True)
    if total < 2 or not console.is_terminal:
        yield lambda: None
        return
    columns = (TextColumn("photos"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]:.1f}/s"),
               TimeElapsedColumn(), TimeRemainingColumn())  # fmt: skip
    start = time.monotonic()
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("photos", total=total, rate=0.0)

        def advance() -> None:
            bar.advance(task)
            done = bar.tasks[0].completed
            bar.update(task, rate=done / max(time.monotonic() - start, 1e-6))

        yield advance


def register(app: typer.Typer) -> None:
    """Add the ``image`` command to ``app``."""

    @app.command()
    def image(
        inputs: list[Path] = typer.Argument(..., help="Image files or folders of images."),
        output: Path | None = typer.Option(
            None, "--output", "-o", help="Output file (one input) or folder. Default: <name>_colour.<ext> beside it."
        ),
        model: str = ModelOption,
        device: str = DeviceOption,
        backend: str = BackendOption,
        temperature: float | None = TemperatureOption,
        threads: int | None = ThreadsOption,
        side_by_side: bool = typer.Option(False, "--side-by-side", help="Write original | colour side by side."),
        fmt: str = typer.Option("", "--format", help="Output format suffix, e.g. .png (default: the input's)."),
        overwrite: bool = OverwriteOption,
        skip_existing: bool = typer.Option(
            False, "-n", "--no-overwrite", help="Skip photos whose output exists (resume a folder; ffmpeg's -n)."
        ),
    ) -> None:
        """Colorize photos (files or folders)."""
        if overwrite and skip_existing:
            raise UsageError("-y (replace outputs) and -n (skip existing outputs) exclude each other; pick one")
        images = collect_images(inputs)
        suffix = fmt if not fmt or fmt.startswith(".") else f".{fmt}"
        targets = output_paths(images, output, suffix)
        if skip_existing:
            pairs = [(src, dst) for src, dst in zip(images, targets) if not dst.exists()]
            if len(pairs) < len(images):
                say(f"stream-colorize: skipped {len(images) - len(pairs)} photo(s) whose output exists (-n)")
            if not pairs:
                return
            images, targets = [a for a, _ in pairs], [b for _, b in pairs]
        for dst in targets:
            check_image_suffix(dst)
            check_output(dst, images, overwrite)
        engine = build_colorizer(model, device, temperature, threads, backend=backend)
        failures = 0
        with photo_progress(len(images)) as advance:
            for src, dst in zip(images, targets):
                try:
                    photo = read_photo(src)
                    colour = colorize_photo(engine, photo, dst.suffix.lower() or ".png", side_by_side)
                    del photo
                    write_image(dst, colour, overwrite)
                except Exception as exc:  # noqa: BLE001 - one bad photo must never stop the others
                    why = exc if isinstance(exc, ColorizeError) else f"{src}: unexpected {type(exc).__name__}: {exc}"
                    if out_of_memory(exc):
                        why = f"{src}: not enough memory for this photo; free some or scale it down"
                    say(f"stream-colorize: error: {why}")
                    failures += 1
                else:
                    typer.echo(f"{src} -> {dst}")
                advance()
        if failures:
            say(f"stream-colorize: {failures} of {len(images)} photos failed")
            raise typer.Exit(1)
