"""stream_colorize: colorize black-and-white video in real time.

Three lines for another program:

    >>> import stream_colorize
    >>> stream_colorize.colorize_file("film.mp4", "film_colour.mp4")      # sound and subtitles copied
    >>> stream_colorize.colorize_image("photo.tif", "photo_colour.tif")   # 16-bit and alpha kept

and frame by frame, with a model loaded once:

    >>> engine = stream_colorize.Colorizer("default")
    >>> colour = engine.colorize(gray_frame)                              # BGR uint8, same size
    >>> colours = engine.colorize([frame_1, frame_2])                     # a list in, a list out

Like the commands, neither function writes over its input or over an existing output (pass
``overwrite=True`` to replace one).  Errors are ``ColorizeError`` subclasses with one-line
messages; a missing input is also a ``FileNotFoundError`` and a bad request (an out-of-range
setting, a frame that is not a uint8 array, an output that exists) also a ``ValueError``.
Progress comes through callbacks (``colorize_file(..., on_tick=...)``); the library prints nothing.
``Settings(skip=2, crf=20)`` takes the command line's keys; its groups (``settings.model``,
``.temporal``, ``.encode``, ``.input``) are the tables of a preset.  A long film, or one given
``cluster=ClusterOptions(workers=4)``, runs in resumable segments, as ``stream-colorize video`` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time these load lazily (below)
    __version__: str
    from .cluster.job import ClusterOptions
    from .config import EncodeSettings, InputSettings, ModelSettings, Settings, TemporalSettings
    from .engine import Colorizer
    from .errors import (
        ColorizeError,
        DeviceError,
        InputNotFoundError,
        MediaError,
        ModelError,
        ModelNotFoundError,
        UsageError,
    )
    from .models import ModelSpec, resolve_model
    from .photo import colorize_image
    from .presets import load_settings
    from .video import PipelineInterrupted, Result, colorize_file

__all__ = [
    "ClusterOptions",
    "ColorizeError",
    "Colorizer",
    "DeviceError",
    "EncodeSettings",
    "InputNotFoundError",
    "InputSettings",
    "MediaError",
    "ModelError",
    "ModelNotFoundError",
    "ModelSettings",
    "ModelSpec",
    "PipelineInterrupted",
    "Result",
    "Settings",
    "TemporalSettings",
    "UsageError",
    "__version__",
    "colorize_file",
    "colorize_image",
    "load_settings",
    "resolve_model",
]

# Loaded on first use, so that light modules (the console entry point, ``signals``) import fast
# and a Ctrl-C during start-up can be handled before OpenCV and PyAV load.
_LAZY = {
    "Colorizer": ("engine", "Colorizer"),
    "ModelSpec": ("models", "ModelSpec"),
    "resolve_model": ("models", "resolve_model"),
    "colorize_file": ("video", "colorize_file"),
    "PipelineInterrupted": ("video", "PipelineInterrupted"),
    "Result": ("video", "Result"),
    "colorize_image": ("photo", "colorize_image"),
    "ClusterOptions": ("cluster.job", "ClusterOptions"),
    **{
        name: ("config", name)
        for name in ("Settings", "ModelSettings", "TemporalSettings", "EncodeSettings", "InputSettings")
    },
    "load_settings": ("presets", "load_settings"),
    **{
        name: ("errors", name)
        for name in (
            "ColorizeError",
            "DeviceError",
            "InputNotFoundError",
            "MediaError",
            "ModelError",
            "ModelNotFoundError",
            "UsageError",
        )
    },
}


def _version() -> str:
    # importlib.metadata costs a tenth of a second of every command's start-up: only on demand
    from importlib import metadata

    try:
        return metadata.version("stream-colorize")
    except metadata.PackageNotFoundError:  # a bare checkout on sys.path, never installed
        return "0+unknown"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        globals()[name] = _version()
        return globals()[name]
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(f".{module}", __name__), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
