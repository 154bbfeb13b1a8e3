"""stream_colorize: colorize black-and-white video in real time.

>>> from stream_colorize import Colorizer, resolve_model
>>> engine = Colorizer(resolve_model("default"))
>>> colour = engine.colorize([gray_frame])[0]
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["ColorizeError", "Colorizer", "ModelSpec", "__version__", "resolve_model"]

# Loaded on first use, so that light modules (the console entry point, ``signals``) import fast
# and a Ctrl-C during start-up can be handled before OpenCV and PyAV load.
_LAZY = {
    "Colorizer": ("engine", "Colorizer"),
    "ColorizeError": ("errors", "ColorizeError"),
    "ModelSpec": ("models", "ModelSpec"),
    "resolve_model": ("models", "resolve_model"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(f".{module}", __name__), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
