"""Options and helpers shared by several commands."""

from __future__ import annotations

from pathlib import Path

import typer

from ..config import Settings
from ..engine import BACKENDS, DEVICES
from ..errors import UsageError
from ..io import guard
from ..io.guard import same_file as same_file  # the commands import it from here
from ..presets import read_preset

# One device name a line would be long; a fixed break (click's \b) keeps "opencl-fp16" whole at 80 columns.
DEVICE_HELP = "\b\nCompute device: " + ", ".join(DEVICES[:3]) + ",\n" + ", ".join(DEVICES[3:]) + "."
# None: the preset's value (--config), else the default named in the help.
ModelOption = typer.Option(
    None, "--model", "-m", help="Registry name or path (.onnx, .prototxt/.caffemodel); default: default."
)
DeviceOption = typer.Option(None, "--device", "-d", help=DEVICE_HELP)
BACKEND_HELP = f"What runs the network: {'|'.join(BACKENDS)}. auto: ONNX Runtime when installed (faster), else cv2.dnn."
BackendOption = typer.Option(None, "--backend", "-b", help=BACKEND_HELP)
PRECISION_HELP = "The model's float copy or its int8 copy: fp32|int8|auto. auto: int8 where it pays (see info)."
PrecisionOption = typer.Option(None, "--precision", help=PRECISION_HELP)
TemperatureOption = typer.Option(
    None, "--temperature", "-T", help="Annealed-mean temperature, 0.01-10 (default: the model's).", min=0.01, max=10.0
)
ThreadsOption = typer.Option(
    None, "--threads", help="CPU threads for inference (default: all cores; video: all but one).", min=1
)
OverwriteOption = typer.Option(False, "--overwrite", "-y", help="Replace existing outputs.")
# --smooth, --smoother and --skip mean the same in video, live and eval.
SmoothOption = typer.Option(
    None,
    "--smooth",
    min=0.0,
    max=0.99,
    help="Colour smoothing over time: the weight of the past where the picture is still (default 0.97; 0: off).",
)
SkipOption = typer.Option(
    None, "--skip", min=1, help="Run the model on every Nth frame, reusing its colour between (default: 1)."
)
NoSmoothOption = typer.Option(False, "--no-smooth", help="No colour smoothing over time (as --smooth 0).")
SmootherOption = typer.Option(
    None,
    "--smoother",
    help="How the past colour is kept: flow (default; it moves with the picture along the optical flow) "
    "or motion (it stays put and fades where the picture changes).",
)
ConfigOption = typer.Option(None, "--config", "-c", help="Preset: a TOML file or a name in configs/ (film, fast).")


def smoothing(smooth: float | None, no_smooth: bool) -> float | None:
    """The smoothing strength the flags ask for (None: not given)."""
    if no_smooth and smooth:
        raise UsageError("--no-smooth and --smooth exclude each other; pick one")
    return 0.0 if no_smooth else smooth


def preset_values(config: str | None, keys: tuple[str, ...]) -> dict[str, object]:
    """The values a preset (``--config``) sets among ``keys``; {} without one."""
    preset = read_preset(config) if config is not None else {}
    return {key: value for key, value in preset.items() if key in keys}


def command_settings(
    preset: dict[str, object],
    model_flags: tuple[str | None, str | None, str | None, float | None, int | None],
    **flags: object,
) -> Settings:
    """Settings for a command that reads part of a preset: the defaults (threads: the backend's
    own), then ``preset_values``, then the flags that were given.  ``model_flags`` are --model,
    --device, --backend, --temperature and --threads, in that order."""
    model, device, backend, temperature, threads = model_flags
    flags.update(model=model, device=device, backend=backend, temperature=temperature, threads=threads)
    return Settings().override(**preset).override(**flags)


def check_output(output: Path, inputs: list[Path], overwrite: bool) -> None:
    """The library's check (``io.guard.check_output``), its hint naming -y/--overwrite."""
    guard.check_output(output, inputs, overwrite, allow="pass -y/--overwrite to replace it")
