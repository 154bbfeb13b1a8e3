"""Turning what a user names (a registry name, a bundled or stand-in model, a file) into a ``ModelSpec``.

    >>> resolve_model("default").path            # the bundled model
    >>> resolve_model("zhang2016")               # downloaded once (``stream-colorize models fetch``)
    >>> resolve_model("mine.onnx")               # a file, with its sidecar if any

Apart from ``registry`` (what exists) and ``store`` (what is on disk), so that neither imports the
other in a loop; the store is loaded only for downloadable models.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ModelError
from .registry import BUNDLED, BUNDLED_DIR, REGISTRY, STANDINS, known_names, standin_path
from .shared_weights import bundled_file
from .spec import ModelSpec, spec_from_path


def resolve_model(name_or_path: str | Path) -> ModelSpec:
    """Turn a registry name or a file/folder path into a ModelSpec."""
    text = str(name_or_path)
    if text in BUNDLED:
        path = bundled_file(BUNDLED_DIR, text)
        if not path.is_file():
            raise ModelError(f"the bundled model '{text}' is missing ({path}); reinstall the package")
        return spec_from_path(path, name=text)
    if text in STANDINS:
        return spec_from_path(standin_path(text), name=text)
    entry = REGISTRY.get(text)
    if entry is not None and entry.source == "download":
        from .conversions import downloaded_spec

        return downloaded_spec(entry)
    path = Path(text).expanduser()
    if path.exists() or os.sep in text or path.suffix:
        return spec_from_path(path)
    raise ModelError(f"unknown model {text!r}: not a registered name ({', '.join(known_names())}) nor a file")
