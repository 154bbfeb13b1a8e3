"""Options and helpers shared by several commands."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from ..engine import BACKENDS, DEVICES
from ..errors import UsageError
from ..io.kinds import VIDEO_SUFFIXES  # noqa: F401 - the commands take it from here

# One device name a line would be long; a fixed break (click's \b) keeps "opencl-fp16" whole at 80 columns.
DEVICE_HELP = "\b\nCompute device: " + ", ".join(DEVICES[:3]) + ",\n" + ", ".join(DEVICES[3:]) + "."
ModelOption = typer.Option("default", "--model", "-m", help="Registry name or path (.onnx, .prototxt/.caffemodel).")
DeviceOption = typer.Option("auto", "--device", "-d", help=DEVICE_HELP)
BACKEND_HELP = f"What runs the network: {'|'.join(BACKENDS)}. auto: ONNX Runtime when installed (faster), else cv2.dnn."
BackendOption = typer.Option("auto", "--backend", "-b", help=BACKEND_HELP)
TemperatureOption = typer.Option(
    None, "--temperature", "-T", help="Annealed-mean temperature, 0.01-10 (default: the model's).", min=0.01, max=10.0
)
ThreadsOption = typer.Option(
    None, "--threads", help="CPU threads for inference (default: all cores; video: all but one).", min=1
)
OverwriteOption = typer.Option(False, "--overwrite", "-y", help="Replace existing outputs.")


def same_file(a: Path, b: Path) -> bool:
    """True when two paths name the same file (b need not exist)."""
    try:
        return a.resolve() == b.resolve() or (b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def check_output(output: Path, inputs: list[Path], overwrite: bool) -> None:
    """Refuse to write over an input, or over an existing file without --overwrite."""
    for src in inputs:
        if same_file(src, output):
            raise UsageError(f"output {output} is the input itself; choose another output name")
    if output.exists() and not overwrite:
        raise UsageError(f"output {output} already exists; pass -y/--overwrite to replace it")
    if not output.parent.is_dir():
        raise UsageError(f"output folder {output.parent} does not exist")
