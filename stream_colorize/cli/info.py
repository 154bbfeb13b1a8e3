"""``stream-colorize info``: OpenCV build, backends, devices, precision, what ``auto`` picks and why, models."""

from __future__ import annotations

import typer


def _precision_pick() -> str:
    """What --precision auto runs for the default model here, and why."""
    from ..backends.precision import auto_int8
    from ..errors import ColorizeError
    from ..models import resolve_model

    try:
        spec = resolve_model("default")
    except ColorizeError as exc:
        return f"(default model unavailable: {exc})"
    _, why = auto_int8(spec, "auto", "auto")
    return f"picks {why} (model default)"


def register(app: typer.Typer) -> None:
    """Add the ``info`` command to ``app``."""

    @app.command()
    def info() -> None:
        """Show the OpenCV build, backends, devices, what --backend/--device auto pick and why, and models."""
        import cv2

        from ..backends import backend_table
        from ..backends.opencv_dnn import (
            OPENCV_MAJOR,
            cuda_device_count,
            device_capabilities,
            opencl_device,
            unavailable_reason,
        )
        from ..models.registry import BUNDLED_DIR, cache_dir, known_names

        typer.echo(f"OpenCV        {cv2.__version__} (Caffe importer: {'yes' if OPENCV_MAJOR < 5 else 'no'})")
        typer.echo(f"CPU threads   {cv2.getNumThreads()}")
        typer.echo(f"CUDA devices  {cuda_device_count()}")
        ocl = opencl_device()
        typer.echo("OpenCL        " + ("none" if ocl is None else f"{ocl['name']} ({ocl['type']})"))
        for device, what in device_capabilities():
            typer.echo(f"--device {device:<12s}{what}")
        pick = "cpu"
        for device in ("cuda", "opencl"):
            reason = unavailable_reason(device, auto=True)
            if reason is None:
                pick = f"{device} (if its probe forward agrees with the CPU)"
                break
            if reason != dict(device_capabilities())[device].removeprefix("unavailable: "):
                typer.echo(f"auto skips    {device}: {reason}")
        typer.echo(f"auto picks    {pick}")
        for backend, what in backend_table():
            typer.echo(f"--backend {backend:<12s}{what}")
        typer.echo(f"{'--precision auto':<22s}{_precision_pick()}")
        typer.echo(f"model cache   {cache_dir()}")
        typer.echo(f"bundled       {BUNDLED_DIR}")
        typer.echo(f"models        {', '.join(known_names())}")
