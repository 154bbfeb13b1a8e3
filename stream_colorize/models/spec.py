"""What the engine needs to know about a model file, and how to read it from disk.

    >>> spec = spec_from_path("my_model.onnx")    # reads my_model.json beside it if present
    >>> spec.input_size, spec.output              # (224, "logits")

An ONNX model may carry a JSON sidecar (same stem, ``.json``) with these keys, all optional:
``input_size`` (int, default 224), ``output`` (``"logits"``: a 313-way distribution decoded by
the annealed mean, or ``"ab"``: ab directly), ``bins`` (``"ours"`` or a ``.npy`` file beside the
model), ``temperature`` (default 0.38), ``ab_scale`` (multiplies an ``"ab"`` output), ``name``,
``description``, ``inputs`` and ``output_name`` (below).  A Caffe model is a ``.prototxt`` with
its ``.caffemodel`` and the bin centres ``pts_in_hull.npy`` in the same folder.

Inputs.  A model that takes more than the frame's L lists every graph input under ``inputs``::

    "inputs": [
      {"name": "data_l", "role": "l"},
      {"name": "hints", "role": "hints_ab", "channels": 2, "fill": 0.0},
      {"name": "mask", "role": "hints_mask", "channels": 1, "stride": 2}
    ]

``name`` is the graph's input name; ``role`` is what feeds it: exactly one input has role
``"l"`` (the frame's L - 50, (N, 1, S, S), S = ``input_size``), and every other role is a
tensor the caller passes by role (``Colorizer.predict_ab(frames, {"hints_ab": ...})``), shaped
(N, ``channels``, S / ``stride``, S / ``stride``) and filled with ``fill`` where the caller
passes none (0: "no hints").  Without ``inputs`` (Zhang's files, older sidecars) the model has
one input, the L, named after the graph's only input.  The names are checked against the
graph when the file can be read (``onnx_io``), so a typo is a ModelError before anything runs.
``output_name`` (optional) picks the graph output to decode; by default the graph's first.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from ..errors import ModelError, ModelNotFoundError
from .onnx_io import GraphIO, WireError, read_graph_io

DEFAULT_TEMPERATURE = 0.38
# The deploy recipe multiplies Zhang's logits by 2.606 before the softmax, i.e. T = 1 / 2.606.
CAFFE_RECIPE_SCALE = 2.606


L_ROLE = "l"


@dataclass(frozen=True)
class InputSpec:
    """One network input: its graph name, what feeds it, its shape relative to the model size, its fill.

    ``name`` "" stands for the graph's only input (a spec made without reading the graph).
    """

    name: str
    role: str = L_ROLE
    channels: int = 1
    stride: int = 1  # the tensor is input_size // stride on a side
    fill: float = 0.0  # the value of every element when the caller passes nothing

    def shape(self, batch: int, input_size: int) -> tuple[int, int, int, int]:
        """The (N, C, h, w) shape of this input for ``batch`` frames."""
        side = input_size // self.stride
        return (batch, self.channels, side, side)

    def default(self, batch: int, input_size: int) -> np.ndarray:
        """This input filled with its ``fill`` value for ``batch`` frames (float32)."""
        return np.full(self.shape(batch, input_size), self.fill, np.float32)


DEFAULT_INPUTS = (InputSpec(""),)


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
    inputs: tuple[InputSpec, ...] = DEFAULT_INPUTS  # exactly one with role "l"
    output_name: str = ""  # "" = the graph's first output

    @property
    def l_input(self) -> InputSpec:
        """The input that takes the frame's L - 50."""
        return next(i for i in self.inputs if i.role == L_ROLE)


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
        input_size = int(_number(meta, "input_size", 224, int, *INPUT_SIZE_RANGE))
        declared = _inputs(meta.get("inputs"), input_size)
        output_name = meta.get("output_name", "")
        if not isinstance(output_name, str):
            raise ValueError(f"output_name must be a string, not {output_name!r}")
    except ValueError as exc:
        raise ModelError(f"{sidecar}: {exc}") from exc
    inputs, output_name = _against_graph(path, sidecar, declared, output_name, input_size)
    try:
        spec = ModelSpec(
            name=name or meta.get("name") or path.stem,
            format="onnx",
            path=path,
            input_size=input_size,
            output=output,
            bins=None if bins == "ours" else _bins_file(path, bins),
            temperature=_number(meta, "temperature", DEFAULT_TEMPERATURE, float, *TEMPERATURE_RANGE),
            ab_scale=_number(meta, "ab_scale", 1.0, float, *AB_SCALE_RANGE),
            description=str(meta.get("description", "")),
            extra=meta,
            inputs=inputs,
            output_name=output_name,
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


_ROLE = re.compile(r"[a-z][a-z0-9_]*")
_INPUT_KEYS = {"name", "role", "channels", "stride", "fill"}


def _inputs(listed: object, input_size: int) -> tuple[InputSpec, ...] | None:
    """The sidecar's ``inputs`` as InputSpecs (None when it has none); ValueError naming the fault."""
    if listed is None:
        return None
    if not isinstance(listed, list) or not listed or not all(isinstance(i, dict) for i in listed):
        raise ValueError("inputs must be a list of objects with a name and a role")
    found: list[InputSpec] = []
    for item in listed:
        name, role = item.get("name"), item.get("role", L_ROLE)
        unknown = sorted(set(item) - _INPUT_KEYS)
        if unknown:
            raise ValueError(f"input {name!r}: unknown key {unknown[0]!r} (known: {', '.join(sorted(_INPUT_KEYS))})")
        if not isinstance(name, str) or not name:
            raise ValueError(f"every input needs a name (the graph's input name), got {name!r}")
        if not isinstance(role, str) or not _ROLE.fullmatch(role):
            raise ValueError(f"input {name!r}: role must be a lower-case identifier such as \"hints_ab\", not {role!r}")
        try:
            channels = int(_number(item, "channels", 1, int, 1, 1024))
            stride = int(_number(item, "stride", 1, int, 1, input_size))
            fill = float(_number(item, "fill", 0.0, float, -1e6, 1e6))
        except ValueError as exc:
            raise ValueError(f"input {name!r}: {exc}") from exc
        if role == L_ROLE and (channels, stride) != (1, 1):
            raise ValueError(f"input {name!r}: the L input has 1 channel at the model size (no channels or stride)")
        if input_size % stride:
            raise ValueError(f"input {name!r}: stride {stride} does not divide input_size {input_size}")
        found.append(InputSpec(name, role, channels, stride, fill))
    for what in ("name", "role"):
        seen = [getattr(i, what) for i in found]
        twice = next((v for v in seen if seen.count(v) > 1), None)
        if twice is not None:
            raise ValueError(f"two inputs have the {what} {twice!r}")
    if L_ROLE not in (i.role for i in found):
        raise ValueError('no input has the role "l" (the frame\'s lightness)')
    return tuple(found)


def _dims(dims: tuple) -> str:
    return "(" + ", ".join("?" if d is None or d == 0 else str(d) for d in dims) + ")"


def _against_graph(
    path: Path, sidecar: Path, declared: tuple[InputSpec, ...] | None, output_name: str, input_size: int
) -> tuple[tuple[InputSpec, ...], str]:
    """Name the default L input after the graph's input and check declared names against the graph.

    A file whose graph cannot be read keeps what the sidecar says: loading it reports the damage.
    """
    try:
        graph: GraphIO | None = read_graph_io(path)
    except (OSError, WireError):
        graph = None
    if graph is None:
        return declared or DEFAULT_INPUTS, output_name
    names = ", ".join(graph.inputs)
    if declared is None:
        if len(graph.inputs) > 1:
            raise ModelError(
                f"{path.name}: the graph has {len(graph.inputs)} inputs ({names}); "
                f"list them under 'inputs' in {sidecar.name}"
            )
        declared = (InputSpec(next(iter(graph.inputs))),)
    for spec in declared:
        if spec.name not in graph.inputs:
            raise ModelError(f"{sidecar}: input {spec.name!r} is not in the graph of {path.name} (it has: {names})")
        dims = graph.inputs[spec.name]
        if spec.role != L_ROLE and len(dims) == 4:  # the L input's shape is the backends' to check, as before
            want = spec.shape(1, input_size)
            if any(isinstance(d, int) and d > 0 and d != w for d, w in zip(dims[1:], want[1:])):
                raise ModelError(
                    f"{sidecar}: input {spec.name!r} is {_dims(dims)} in the graph of {path.name}, but the sidecar "
                    f"makes it {_dims(('N', *want[1:]))} (channels, input_size / stride)"
                )
    missing = [name for name in graph.inputs if name not in {i.name for i in declared}]
    if missing:
        raise ModelError(f"{sidecar}: the graph input {missing[0]!r} of {path.name} is not listed under 'inputs'")
    if output_name and output_name not in graph.outputs:
        raise ModelError(
            f"{sidecar}: output_name {output_name!r} is not an output of {path.name} "
            f"(it has: {', '.join(graph.outputs)})"
        )
    return declared, output_name


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
