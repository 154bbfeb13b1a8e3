"""``stream-colorize image``: colorize photos, one by one or a whole folder (the work is ``photo.py``'s)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ..build import build_engine
from ..config import MODEL_KEYS
from ..errors import ColorizeError, InputNotFoundError, MediaError, UsageError
from ..hints import Hints, load_hints, parse_hint
from ..io.kinds import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from ..photo import check_image_suffix, colorize_photo, read_photo, suffix_problem, writable_suffixes, write_image
from .common import (
    BackendOption,
    ConfigOption,
    DeviceOption,
    ModelOption,
    OverwriteOption,
    PrecisionOption,
    TemperatureOption,
    ThreadsOption,
    check_output,
    command_settings,
    preset_values,
)
from .console import out_of_memory, say

OUTPUT_TAG = "_colour"  # x.jpg -> x_colour.jpg


def collect_images(inputs: list[Path]) -> list[Path]:
    """Expand folders into the images they hold (sorted, not recursive); check files exist."""
    found: list[Path] = []
    for item in inputs:
        if item.is_dir():
            try:
                named = sorted(p for p in item.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            except PermissionError as exc:
                raise MediaError(f"cannot read folder {item}: permission denied") from exc
            for broken in (p for p in named if p.is_symlink() and not p.exists()):
                say(f"stream-colorize: note: {broken} is a link to nothing; skipped")
            entries = [p for p in named if p.is_file()]
            entries = [p for p in entries if not p.name.startswith(".") and not _our_output(p, entries)]
            if not entries:
                raise MediaError(f"folder {item} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
            found.extend(entries)
        elif item.is_file():
            if item.suffix.lower() in VIDEO_SUFFIXES:
                raise UsageError(f"{item} is a video, not a photo: use 'stream-colorize video' for films")
            found.append(item)
        else:
            raise InputNotFoundError(f"input not found: {item}")
    return found


def _our_output(path: Path, siblings: list[Path]) -> bool:
    """True for ``x_colour.ext`` beside an ``x.*`` it was made from (an earlier run's output)."""
    if not path.stem.endswith(OUTPUT_TAG):
        return False
    original = path.stem[: -len(OUTPUT_TAG)]
    return any(p.stem == original for p in siblings)


def refuse_video_output(path: Path) -> None:
    """UsageError for an output named like a video (``-o clip.mp4``, ``--format mp4``): this
    command writes photos; films are ``stream-colorize video``'s."""
    if path.suffix.lower() in VIDEO_SUFFIXES:
        raise UsageError(
            f"{path.name} is a video file name, and 'stream-colorize image' writes photos (.png, .jpg, ...): "
            "use 'stream-colorize video' for films"
        )


def output_suffix(fmt: str, output: Path | None) -> str:
    """``--format`` as a suffix (``png`` -> ``.png``; "" when not given), checked whether or not
    -o names a file: UsageError for a format no colour photo can be written as, or one that
    disagrees with -o's own suffix."""
    if not fmt:
        return ""
    suffix = (fmt if fmt.startswith(".") else f".{fmt}").lower()
    if suffix in VIDEO_SUFFIXES:
        raise UsageError(
            f"--format {fmt} is a video format, and 'stream-colorize image' writes photos (.png, .jpg, ...): "
            "use 'stream-colorize video' for films"
        )
    problem = suffix_problem(suffix)
    if problem:
        raise UsageError(f"--format {fmt}: {problem}; use one of {', '.join(writable_suffixes())}")
    if output is not None and output.suffix and not output.is_dir():
        named = output.suffix.lower()
        if named != suffix and {named, suffix} != {".jpg", ".jpeg"} and {named, suffix} != {".tif", ".tiff"}:
            raise UsageError(
                f"--format {fmt} disagrees with -o {output.name}; give one of them, or the same format in both"
            )
    return suffix


def output_paths(images: list[Path], output: Path | None, suffix: str) -> list[Path]:
    """Where each result goes: beside the input, into a folder, or to one named file."""
    if output is None:
        return distinct([p.with_name(f"{p.stem}{OUTPUT_TAG}{suffix or p.suffix}") for p in images])
    if len(images) == 1 and output.suffix and not output.is_dir():
        return [output]
    if output.exists() and not output.is_dir():
        raise UsageError(f"{output} is a file; with several inputs -o must name a folder")
    if not output.exists() and output.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES:
        raise UsageError(
            f"-o {output} names a file, and there are {len(images)} inputs: give -o a folder (made if missing)"
        )
    parent = next((p for p in output.parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise UsageError(f"cannot make output folder {output}: {parent} is a file, not a folder")
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
def photo_progress(total: int, quiet: bool = False) -> Iterator[Callable[[], None]]:
    """A bar with photos per second and ETA on a terminal, for more than one photo (none when
    ``quiet``); yields ``advance``."""
    console = Console(stderr=True)
    if quiet or total < 2 or not console.is_terminal:
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


def gather_hints(hints_file: Path | None, hint: list[str]) -> Hints | None:
    """The points of ``--hints FILE`` and every ``--hint X,Y,#RRGGBB`` together (None: neither
    given); UsageError for a bad file, a bad point or too many points."""
    if hints_file is None and not hint:
        return None
    points = list(load_hints(hints_file).points) if hints_file is not None else []
    points += [parse_hint(text) for text in hint]
    return Hints.of(points)


def check_hints_fit(hints: Hints | None, src: Path, photo_size: tuple[int, int]) -> None:
    """UsageError, naming the photo, when a hint point lies outside it (``photo_size``: height, width)."""
    if hints:
        try:
            hints.check_inside(photo_size[1], photo_size[0])
        except UsageError as exc:
            raise UsageError(f"{src}: {exc}") from None


def register(app: typer.Typer) -> None:
    """Add the ``image`` command to ``app``."""

    @app.command()
    def image(
        inputs: list[Path] = typer.Argument(..., help="Image files or folders of images."),
        output: Path | None = typer.Option(
            None, "--output", "-o", help="Output file (one input) or folder. Default: <name>_colour.<ext> beside it."
        ),
        model: str | None = ModelOption,
        device: str | None = DeviceOption,
        backend: str | None = BackendOption,
        precision: str | None = PrecisionOption,
        temperature: float | None = TemperatureOption,
        threads: int | None = ThreadsOption,
        side_by_side: bool = typer.Option(False, "--side-by-side", help="Write original | colour side by side."),
        fmt: str = typer.Option("", "--format", help="Output format suffix, e.g. .png (default: the input's)."),
        config: str | None = ConfigOption,
        overwrite: bool = OverwriteOption,
        skip_existing: bool = typer.Option(
            False, "-n", "--no-overwrite", help="Skip photos whose output exists (resume a folder; ffmpeg's -n)."
        ),
        hint: list[str] = typer.Option(
            [],
            "--hint",
            metavar="X,Y,#RRGGBB[,R]",
            help="A colour hint: this colour at pixel X,Y (optionally over radius R pixels). Repeatable; "
            "needs a model with a hint input.",
        ),
        hints_file: Path | None = typer.Option(
            None,
            "--hints",
            metavar="FILE",
            help='Colour hints from a JSON file: {"points": [{"x": 120, "y": 80, "color": "#a0522d", '
            '"radius": 4}]} (radius optional). Combines with --hint. Points are in picture pixels and '
            "apply to every input; a photo they do not fit fails alone.",
        ),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar, no 'IN -> OUT' lines (errors stay)."),
    ) -> None:
        """Colorize photos (files or folders).  --config reads a preset's model keys (model, device,
        backend, temperature, threads).  --hint/--hints steer the colours of a model that takes
        colour hints (e.g. standin-hints)."""
        flags = (model, device, backend, temperature, threads)
        settings = command_settings(preset_values(config, MODEL_KEYS), flags, precision=precision)
        hints = gather_hints(hints_file, hint)
        if overwrite and skip_existing:
            raise UsageError("-y (replace outputs) and -n (skip existing outputs) exclude each other; pick one")
        suffix = output_suffix(fmt, output)
        images = collect_images(inputs)
        targets = output_paths(images, output, suffix)
        if skip_existing:
            pairs = [(src, dst) for src, dst in zip(images, targets) if not dst.exists()]
            if len(pairs) < len(images):
                say(f"stream-colorize: skipped {len(images) - len(pairs)} photo(s) whose output exists (-n)")
            if not pairs:
                return
            images, targets = [a for a, _ in pairs], [b for _, b in pairs]
        for dst in targets:
            refuse_video_output(dst)
            check_image_suffix(dst)
            check_output(dst, images, overwrite)
        engine = build_engine(settings.model)
        if hints and not engine.takes_hints:
            raise UsageError(
                f"model '{engine.spec.name}' takes no colour hints (--hint/--hints need a model with a hint input)"
            )
        failures = 0
        with photo_progress(len(images), quiet) as advance:
            for src, dst in zip(images, targets):
                try:
                    photo = read_photo(src)
                    if photo.frames > 1:
                        what = "pages" if src.suffix.lower() in (".tif", ".tiff") else "frames"
                        say(
                            f"stream-colorize: note: {src} holds {photo.frames} {what}; only the first is "
                            "colorized (for an animation use 'stream-colorize video')"
                        )
                    check_hints_fit(hints, src, photo.pixels.shape[:2])
                    color = colorize_photo(engine, photo, dst.suffix.lower() or ".png", side_by_side, hints)
                    del photo
                    write_image(dst, color, overwrite)
                except Exception as exc:  # noqa: BLE001 - one bad photo must never stop the others
                    why = exc if isinstance(exc, ColorizeError) else f"{src}: unexpected {type(exc).__name__}: {exc}"
                    if out_of_memory(exc):
                        why = f"{src}: not enough memory for this photo; free some or scale it down"
                    say(f"stream-colorize: error: {why}")
                    failures += 1
                else:
                    if not quiet:
                        typer.echo(f"{src} -> {dst}")
                advance()
        if failures:
            if len(images) > 1:  # one photo: its error line says it all
                say(f"stream-colorize: {failures} of {len(images)} photos failed")
            raise typer.Exit(1)
