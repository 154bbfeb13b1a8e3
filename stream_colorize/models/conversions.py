"""Caffe models as ONNX, converted once into the cache: for OpenCV 5 (no Caffe reader) and ONNX Runtime.

    >>> convert_model("zhang2016")                       # <cache>/zhang2016/zhang2016.onnx (+ sidecar)
    >>> spec = downloaded_spec(get_entry("zhang2016"))   # Caffe on OpenCV 4, converted ONNX on 5
    >>> onnx_for_caffe(spec)                             # the ONNX twin of any Caffe spec

The converter itself is ``convert.py``; this module decides where its output goes and when it runs.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import cv2

from ..errors import ModelError, UsageError
from .registry import RegistryEntry, cache_dir, get_entry
from .spec import ModelSpec, spec_from_caffe, spec_from_onnx
from .store import OPENCV_MAJOR, _find, _require_files, converted_path

log = logging.getLogger(__name__)


def convert_model(name: str, output: Path | None = None, overwrite: bool = False) -> Path:
    """Convert a downloaded Caffe model to ONNX (atomically); return the ONNX path.

    Without ``output`` it goes into the cache beside the Caffe files, where ``resolve_model``
    finds it. The converter puts a JSON sidecar and a copy of the bin centres beside the ONNX.
    """
    local = Path(name).expanduser()
    if local.suffix.lower() in (".prototxt", ".caffemodel") and local.is_file():
        return _convert_local(local, output, overwrite)
    entry = get_entry(name)
    if entry.source != "download" or entry.format != "caffe":
        raise UsageError(f"{name} is already an ONNX model; only the Caffe models (zhang2016...) need converting")
    _require_files(entry)
    out = (output if output is not None else converted_path(name)).expanduser()
    if out.suffix.lower() != ".onnx":
        raise UsageError(f"output {out} must end in .onnx")
    if out.exists() and not overwrite:
        raise UsageError(f"output {out} already exists; pass -y/--overwrite to replace it")
    if not out.parent.is_dir():
        raise UsageError(f"output folder {out.parent} does not exist")
    if importlib.util.find_spec("onnx") is None:
        raise ModelError(
            f"converting {name} to ONNX needs the 'onnx' package: pip install onnx "
            f"(or pip install 'stream-colorize[convert]'), then run: stream-colorize models convert {name}"
        )
    from .convert import convert_caffe_to_onnx

    prototxt, caffemodel, pts = _find(entry, ".prototxt"), _find(entry, ".caffemodel"), _find(entry, ".npy")
    # The converter writes the sidecar and bins first and the ONNX last, each through a temporary
    # file and a rename: the model never appears half-written or without its recipe.
    return convert_caffe_to_onnx(prototxt, caffemodel, pts, out)


def _convert_local(path: Path, output: Path | None, overwrite: bool) -> Path:
    """Convert a Caffe model given by path (its .prototxt, .caffemodel and pts_in_hull.npy together)."""
    spec = spec_from_caffe(path)
    if spec.bins is None:
        raise ModelError(f"{path.parent} holds no pts_in_hull.npy (the 313 ab bin centres) beside the Caffe files")
    out = (output or spec.path.with_suffix(".onnx")).expanduser()
    if out.exists() and not overwrite:
        raise UsageError(f"output {out} already exists; pass -y/--overwrite to replace it")
    if importlib.util.find_spec("onnx") is None:
        raise ModelError("converting Caffe models to ONNX needs the 'onnx' package: pip install onnx")
    from .convert import convert_caffe_to_onnx

    assert spec.prototxt is not None  # spec_from_caffe always finds it
    return convert_caffe_to_onnx(spec.prototxt, spec.path, spec.bins, out)


def downloaded_spec(entry: RegistryEntry) -> ModelSpec:
    """The ModelSpec of a downloaded model: Caffe where OpenCV reads it, else its ONNX conversion.

    On OpenCV 5 the conversion happens once, on first use, when ``onnx`` is installed.
    """
    _require_files(entry)
    onnx_path = converted_path(entry.name)
    if OPENCV_MAJOR < 5 and hasattr(cv2.dnn, "readNetFromCaffe"):
        return spec_from_caffe(_find(entry, ".caffemodel"), name=entry.name)
    if not onnx_path.is_file():
        if importlib.util.find_spec("onnx") is None:
            raise ModelError(
                f"OpenCV {cv2.__version__} cannot read Caffe models and {entry.name} is not converted yet; "
                f"pip install onnx, then run: stream-colorize models convert {entry.name}"
            )
        log.warning("converting %s to ONNX once for OpenCV %s (%s)", entry.name, cv2.__version__, onnx_path)
        convert_model(entry.name)
    return spec_from_onnx(onnx_path, name=entry.name)


def onnx_for_caffe(spec: ModelSpec) -> ModelSpec:
    """The ONNX conversion of a Caffe model (made once, with our converter), for runtimes without Caffe.

    A registered model (``zhang2016``...) is converted beside its Caffe files, where
    ``models convert`` puts it; a Caffe model given by path goes into ``<cache>/converted/``
    under a key of its path, size and time, so the user's folder is left alone.
    """
    if spec.format != "caffe":
        return spec
    try:
        entry = get_entry(spec.name)
    except (ModelError, UsageError):
        entry = None
    if entry is not None and entry.source == "download" and entry.format == "caffe":
        out = converted_path(entry.name)
        if not out.is_file():
            log.warning("converting %s to ONNX once for ONNX Runtime (%s)", entry.name, out)
            convert_model(entry.name)
        return spec_from_onnx(out, name=entry.name)
    if spec.bins is None:
        raise ModelError(f"{spec.path.parent} holds no pts_in_hull.npy (the 313 ab bin centres) beside the Caffe files")
    import hashlib

    stat = spec.path.stat()
    key = hashlib.sha256(f"{spec.path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    out = cache_dir() / "converted" / key / f"{spec.path.stem}.onnx"
    if not out.is_file():
        if importlib.util.find_spec("onnx") is None:
            raise ModelError("running a Caffe model in ONNX Runtime needs the 'onnx' package: pip install onnx")
        from .convert import convert_caffe_to_onnx

        out.parent.mkdir(parents=True, exist_ok=True)
        log.warning("converting %s to ONNX once for ONNX Runtime (%s)", spec.path.name, out)
        assert spec.prototxt is not None  # spec_from_caffe always finds it
        convert_caffe_to_onnx(spec.prototxt, spec.path, spec.bins, out)
    return spec_from_onnx(out, name=spec.name)
