"""``stream-colorize models``: list, fetch, verify and convert the named models.

$ stream-colorize models list
$ stream-colorize models fetch zhang2016
$ stream-colorize models verify zhang2016
$ stream-colorize models convert zhang2016 -o zhang2016.onnx
"""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import ModelError
from ..models import conversions, store
from ..models.registry import REGISTRY, cache_dir, get_entry
from .console import download_bar

DEFAULT_NAME = "default"  # what --model uses when not given

models_app = typer.Typer(help="List, download, verify and convert models.", no_args_is_help=True)


def human_size(size: int | None) -> str:
    """Bytes as a short human figure (``123.0 MB``); ``-`` when unknown."""
    if not size:
        return "-"
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"  # pragma: no cover - unreachable


@models_app.command("list")
def list_models() -> None:
    """Show every named model: format, size, whether it is in the cache; * marks the default."""
    rows = [("NAME", "FORMAT", "SIZE", "PRESENT", "DESCRIPTION")]
    for entry in REGISTRY.values():
        mark = "*" if entry.name == DEFAULT_NAME else " "
        origin = {"bundled": "bundled", "generated": "generated"}.get(entry.source, "download")
        rows.append(
            (
                f"{mark} {entry.name}",
                f"{entry.format} ({origin})",
                human_size(store.local_size(entry)),
                store.presence(entry),
                entry.description,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths)) + "  " + row[4])
    typer.echo(f"cache: {cache_dir()}")


@models_app.command("fetch")
def fetch(
    name: str = typer.Argument(..., help="Model name (see 'models list')."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    timeout: float = typer.Option(30.0, "--timeout", help="Seconds to wait for a connection or for data.", min=1),
) -> None:
    """Download a model into the cache (resumes an interrupted download; verifies SHA-256)."""
    entry = get_entry(name)
    with download_bar(quiet) as bar:
        paths = store.fetch_model(name, progress=bar, timeout=timeout)
    if entry.source == "download":
        typer.echo(f"{name}: {len(paths)} files verified in {store.model_dir(name)}")
        if entry.format == "caffe" and store.OPENCV_MAJOR >= 5 and not store.converted_path(name).is_file():
            typer.echo(
                f"OpenCV {store.OPENCV_MAJOR} has no Caffe importer: {name} is converted to ONNX on first use "
                f"(needs onnx), or now with: stream-colorize models convert {name}"
            )
    else:
        typer.echo(f"{name}: {entry.source} model at {paths[0]}")


@models_app.command("verify")
def verify(
    name: str | None = typer.Argument(
        None, help="Model name; default: every bundled model and every downloaded one in the cache."
    ),
) -> None:
    """Check size and SHA-256 of model files; exit 1 if any is missing or differs."""
    if name is not None:
        names = [get_entry(name).name]
    else:
        names = [
            e.name
            for e in REGISTRY.values()
            if e.source == "bundled" or (e.source == "download" and store.presence(e) != "no")
        ]
    bad: dict[str, int] = {}
    for model in names:
        for check in store.verify_model(model):
            if check.ok:
                typer.echo(f"ok       {check.path}")
            else:
                bad[model] = bad.get(model, 0) + 1
                typer.echo(f"BAD      {check.path}: {check.problem}")
    if any(get_entry(model).source == "bundled" for model in bad):
        raise ModelError("a bundled model differs from the checksum its sidecar records; reinstall the package")
    if bad:
        raise ModelError(
            f"{sum(bad.values())} model file(s) missing or corrupt; fetch again: "
            f"stream-colorize models fetch {' '.join(bad)}"
        )


@models_app.command("convert")
def convert(
    name: str = typer.Argument(..., help="A downloaded Caffe model (zhang2016...) or a .prototxt/.caffemodel path."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="ONNX file to write (default: into the cache, where --model NAME finds it)."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", "-y", help="Replace an existing output."),
) -> None:
    """Convert a downloaded Caffe model to ONNX (what OpenCV 5 needs)."""
    out = conversions.convert_model(name, output, overwrite=overwrite)
    typer.echo(f"{name} -> {out}")


def register(app: typer.Typer) -> None:
    """Add the ``models`` command group to ``app``."""
    app.add_typer(models_app, name="models")
