"""The inputs and outputs of an ONNX graph, read from the file without the ``onnx`` package.

    >>> io = read_graph_io(Path("default.onnx"))
    >>> io.inputs, io.outputs          # {"data_l": ("N", 1, 224, 224)}, ["class8_313_rh"]

Only the few small messages that name the graph's inputs, outputs and initializers are read;
weights are skipped by seeking past them, so a 129 MB model costs a few kilobytes of reading.
Inputs that are initializers too (older exporters list weights among the inputs) are left out.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .protowire import FIXED32, FIXED64, LEN, VARINT, Field, WireError, decode_varint, iter_fields

# Field numbers in onnx.proto: ModelProto.graph; GraphProto.initializer/input/output;
# TensorProto.name; ValueInfoProto.name/type; TypeProto.tensor_type; Tensor.shape; Shape.dim;
# Dimension.dim_value/dim_param.
_MODEL_GRAPH = 7
_GRAPH_INITIALIZER, _GRAPH_INPUT, _GRAPH_OUTPUT = 5, 11, 12
_TENSOR_NAME = 8
_VALUE_NAME, _VALUE_TYPE = 1, 2
_TYPE_TENSOR, _TENSOR_SHAPE, _SHAPE_DIM = 1, 2, 1
_DIM_VALUE, _DIM_PARAM = 1, 2

Dim = int | str | None  # a fixed size, a symbolic one ("N"), or unknown


@dataclass(frozen=True)
class GraphIO:
    """A graph's real inputs (name -> shape, in graph order) and its output names."""

    inputs: dict[str, tuple[Dim, ...]]
    outputs: list[str]


def _file_fields(f: BinaryIO, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    """Fields of the message at bytes [start, end): (number, wire, offset of a LEN payload or its size)."""
    pos = start
    while pos < end:
        f.seek(pos)
        head = f.read(20)  # a key and a length: two varints of at most 10 bytes
        key, used = decode_varint(head, 0)
        number, wire = key >> 3, key & 7
        if wire == VARINT:
            _, used = decode_varint(head, used)
            pos += used
            continue
        if wire == LEN:
            size, used = decode_varint(head, used)
            yield number, pos + used, size
            pos += used + size
        elif wire in (FIXED32, FIXED64):
            pos += used + (4 if wire == FIXED32 else 8)
        else:
            raise WireError(f"field {number}: unsupported wire type {wire} at byte {pos}")
        if pos > end:
            raise WireError(f"field {number} runs past the end of its message")


def _read(f: BinaryIO, offset: int, size: int) -> bytes:
    f.seek(offset)
    data = f.read(size)
    if len(data) != size:
        raise WireError("the file ends inside a message")
    return data


def _sub(data: memoryview | bytes, number: int) -> list[Field]:
    return [field for field in iter_fields(data) if field.number == number and field.wire == LEN]


def _shape(value_info: bytes) -> tuple[Dim, ...]:
    """The dimensions of a ValueInfoProto's tensor type (empty when it has none)."""
    dims: list[Dim] = []
    for kind in _sub(value_info, _VALUE_TYPE):
        for tensor in _sub(kind.payload, _TYPE_TENSOR):
            for shape in _sub(tensor.payload, _TENSOR_SHAPE):
                for dim in _sub(shape.payload, _SHAPE_DIM):
                    found: Dim = None
                    for part in iter_fields(dim.payload):
                        if part.number == _DIM_VALUE and part.wire == VARINT:
                            found = part.as_int()
                        elif part.number == _DIM_PARAM and part.wire == LEN:
                            found = part.as_str()
                    dims.append(found)
    return tuple(dims)


def _name(message: bytes) -> str:
    return next((f.as_str() for f in _sub(message, _VALUE_NAME)), "")


def read_graph_io(path: Path) -> GraphIO:
    """The inputs (initializers excluded) and outputs of the ONNX graph in ``path``.

    Raises WireError for a file that is not a well-formed ONNX model (truncated, not protobuf,
    no graph) and OSError when it cannot be read.
    """
    with open(path, "rb") as f:
        end = f.seek(0, 2)
        graph = next(((off, size) for number, off, size in _file_fields(f, 0, end) if number == _MODEL_GRAPH), None)
        if graph is None:
            raise WireError("no graph in the file")
        inputs: list[tuple[str, tuple[Dim, ...]]] = []
        outputs: list[str] = []
        initializers: set[str] = set()
        start, size = graph
        for number, off, length in _file_fields(f, start, start + size):
            if number in (_GRAPH_INPUT, _GRAPH_OUTPUT):
                data = _read(f, off, length)
                if number == _GRAPH_INPUT:
                    inputs.append((_name(data), _shape(data)))
                else:
                    outputs.append(_name(data))
            elif number == _GRAPH_INITIALIZER:
                for inner, at, name_size in _file_fields(f, off, off + length):
                    if inner == _TENSOR_NAME:
                        initializers.add(_read(f, at, name_size).decode("utf-8", "replace"))
                        break
    real = {name: shape for name, shape in inputs if name not in initializers}
    if not real or not outputs:
        raise WireError("the graph has no inputs or no outputs")
    return GraphIO(real, outputs)
