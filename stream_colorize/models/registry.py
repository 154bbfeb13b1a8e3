"""Named models and how a name or a path becomes a ModelSpec.

    >>> spec = resolve_model("default")          # the model bundled with the package
    >>> spec = resolve_model("~/my_model.onnx")  # any file path works too

Names: ``default`` (bundled), ``standin`` and ``standin-tiny`` (generated on first use into the
cache: Zhang's architecture / a tiny one, random weights, meaningless colours; need ``onnx``).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ModelError
from .spec import ModelSpec, spec_from_path

_PACKAGE = Path(__file__).resolve().parent.parent
# Installed: the repo's models/ folder becomes the package stream_colorize._bundled.
# Run from a checkout (or an editable install): it is models/ beside the package.
BUNDLED_DIR = next(
    (d for d in (_PACKAGE / "_bundled", _PACKAGE.parent / "models") if (d / "default.onnx").is_file()),
    _PACKAGE / "_bundled",
)
DEFAULT_MODEL_FILE = BUNDLED_DIR / "default.onnx"
STANDINS = {"standin": "zhang", "standin-tiny": "tiny"}


def cache_dir() -> Path:
    """Where models live: $STREAM_COLORIZE_HOME, else $XDG_CACHE_HOME/stream_colorize, else ~/.cache/..."""
    home = os.environ.get("STREAM_COLORIZE_HOME")
    if home:
        return Path(home).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "stream_colorize"


def standin_path(name: str) -> Path:
    """Path of a generated stand-in model, generating it on first use."""
    path = cache_dir() / "standin" / f"{STANDINS[name]}.onnx"
    if not path.is_file():
        try:
            from .standin import write_standin_onnx
        except ImportError as exc:  # pragma: no cover - depends on extras
            raise ModelError("generating stand-in models needs the 'onnx' package: pip install onnx") from exc
        write_standin_onnx(path, arch=STANDINS[name])
    return path


def resolve_model(name_or_path: str | Path) -> ModelSpec:
    """Turn a registry name or a file/folder path into a ModelSpec."""
    text = str(name_or_path)
    if text == "default":
        if not DEFAULT_MODEL_FILE.is_file():
            raise ModelError(f"the bundled default model is missing ({DEFAULT_MODEL_FILE}); reinstall the package")
        return spec_from_path(DEFAULT_MODEL_FILE, name="default")
    if text in STANDINS:
        return spec_from_path(standin_path(text), name=text)
    path = Path(text).expanduser()
    if path.exists() or os.sep in text or path.suffix:
        return spec_from_path(path)
    raise ModelError(f"unknown model {text!r}: not a registered name ({', '.join(known_names())}) nor a file")


def known_names() -> list[str]:
    """Every model name the registry knows."""
    return ["default", *STANDINS]
