"""What the engine needs to know about a model file, and how to read it from disk.

    >>> spec = spec_from_path("my_model.onnx")    # reads my_model.json beside it if present
    >>> spec.input_size, spec.output              # (224, "logits")

An ONNX model may carry a JSON sidecar (same stem, ``.json``) with these keys, all optional:
``input_size`` (int, default 224), ``output`` (``"logits"``: a 313-way distribution decoded by
the annealed mean, or ``"ab"``: ab directly), ``bins`` (``"ours"`` or a ``.npy`` file beside the
model), ``temperature`` (default 0.38), ``ab_scale`` (multiplies an ``"ab"`` output), ``name``,
``description``.  A Caffe model is a ``.prototxt`` with its ``.caffemodel`` and the bin centres
``pts_in_hull.npy`` in the same folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..errors import ModelError, ModelNotFoundError

DEFAULT_TEMPERATURE = 0.38
# The deploy recipe multiplies Zhang's logits by 2.606 before the softmax, i.e. T = 1 / 2.606.
CAFFE_RECIPE_SCALE = 2.606


@dataclass(frozen=True)
class ModelSpec:
    """A loadable model: its files and how to read its input and output."""

    name: str
    format: Literal["onnx", "caffe"]
    path: Path
    prototxt: Path | None = None
    input_size: int = 224
    output: Literal["logits", "ab"] = "logits"
    bins: Path | None = None  # None: our own 313 bins (stream_colorize.bins)
    temperature: float = DEFAULT_TEMPERATURE
    ab_scale: float = 1.0
    description: str = ""
    extra: dict = field(default_factory=dict, compare=False)


def _read_sidecar(model: Path) -> dict:
    sidecar = model.with_suffix(".json")
    if not sidecar.is_file():
        return {}
    try:
        data = json.loads(sidecar.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"{sidecar}: unreadable model description ({exc})") from exc
    if not isinstance(data, dict):
        raise ModelError(f"{sidecar}: model description must be a JSON object")
    return data


def spec_from_onnx(path: Path, name: str | None = None) -> ModelSpec:
    """Describe an ONNX file, using its JSON sidecar when there is one."""
    meta = _read_sidecar(path)
    bins = meta.get("bins", "ours")
    output = meta.get("output", "logits")
    if output not in ("logits", "ab"):
        raise ModelError(f"{path}: sidecar 'output' must be 'logits' or 'ab', not {output!r}")
    sidecar = path.with_suffix(".json")
    try:
        spec = ModelSpec(
            name=name or meta.get("name") or path.stem,
            format="onnx",
            path=path,
            input_size=int(_number(meta, "input_size", 224, int, *INPUT_SIZE_RANGE)),
            output=output,
            bins=None if bins == "ours" else _bins_file(path, bins),
            temperature=_number(meta, "temperature", DEFAULT_TEMPERATURE, float, *TEMPERATURE_RANGE),
            ab_scale=_number(meta, "ab_scale", 1.0, float, *AB_SCALE_RANGE),
            description=str(meta.get("description", "")),
            extra=meta,
        )
    except ValueError as exc:
        raise ModelError(f"{sidecar}: {exc}") from exc
    return spec


# Allowed ranges of the sidecar's numbers, named in the error when a value is outside.
INPUT_SIZE_RANGE = (16, 1024)  # pixels; the network input is input_size x input_size
TEMPERATURE_RANGE = (0.01, 10.0)  # 0 divides by zero: NaN colours
AB_SCALE_RANGE = (1e-3, 1000.0)


def _number(meta: dict, key: str, default: float, kind: type, low: float, high: float) -> float:
    """``meta[key]`` as ``kind`` within [low, high]; ValueError naming the key and the range."""
    value = meta.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and value != int(value)):
        raise ValueError(f"{key} must be {'an integer' if kind is int else 'a number'} from {low:g} to {high:g}, "
                         f"not {value!r}")  # fmt: skip
    if not low <= value <= high:  # also rejects NaN
        raise ValueError(f"{key} must be from {low:g} to {high:g}, not {value!r}")
    return kind(value)


def _bins_file(model: Path, bins: object) -> Path:
    """The .npy file a sidecar's ``bins`` names (beside the model); ValueError otherwise."""
    if not isinstance(bins, str) or not bins.lower().endswith(".npy"):
        raise ValueError(f"bins must be \"ours\" or the name of a .npy file beside the model, not {bins!r}")
    found = model.parent / bins
    if not found.is_file():
        raise ValueError(f"bins file {found} not found")
    return found


def spec_from_caffe(path: Path, name: str | None = None) -> ModelSpec:
    """Describe a Caffe model given either its .prototxt or its .caffemodel."""
    folder = path.parent
    if path.suffix == ".prototxt":
        prototxt = path
        weights = sorted(folder.glob("*.caffemodel"))
        if len(weights) != 1:
            raise ModelError(f"{path}: expected exactly one .caffemodel beside it, found {len(weights)}")
        caffemodel = weights[0]
    else:
        caffemodel = path
        protos = sorted(folder.glob("*.prototxt"))
        if len(protos) != 1:
            raise ModelError(f"{path}: expected exactly one .prototxt beside it, found {len(protos)}")
        prototxt = protos[0]
    bins = folder / "pts_in_hull.npy"
    return ModelSpec(
        name=name or caffemodel.stem,
        format="caffe",
        path=caffemodel,
        prototxt=prototxt,
        bins=bins if bins.is_file() else None,
        temperature=1.0 / CAFFE_RECIPE_SCALE,
    )


def spec_from_path(path: str | Path, name: str | None = None) -> ModelSpec:
    """Describe a model file by its suffix (.onnx, .prototxt, .caffemodel)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ModelNotFoundError(f"model file not found: {path}")
    if path.is_dir():
        onnx = sorted(path.glob("*.onnx"))
        if len(onnx) == 1:
            return spec_from_onnx(onnx[0], name)
        caffe = sorted(path.glob("*.caffemodel"))
        if len(caffe) == 1:
            return spec_from_caffe(caffe[0], name)
        raise ModelError(f"{path}: folder holds no single .onnx or .caffemodel model")
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        return spec_from_onnx(path, name)
    if suffix in (".prototxt", ".caffemodel"):
        return spec_from_caffe(path, name)
    raise ModelError(f"{path}: unknown model format (expected .onnx, .prototxt or .caffemodel)")
