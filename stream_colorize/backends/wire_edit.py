"""The graph edits ONNX Runtime needs, made on the serialized model without the ``onnx`` package.

    >>> data = edit(path.read_bytes())                             # (N, ...) in and out
    >>> data = edit(path.read_bytes(), (centres, 0.55, "logits"))  # and a second output: ab (N, 2, h, w)
    >>> session = onnxruntime.InferenceSession(data, options)

Importing ``onnx`` costs more than a second of start-up (its ``ml_dtypes`` extension) and
parsing a model into Python objects and back costs more; these edits walk the protobuf fields
(``models.protowire``) and copy the weights as they are.  The results are the same graphs as
``graph.with_free_batch`` and ``graph.with_annealed_mean`` make, with one difference: the
logits stay a graph output beside ``AB_OUTPUT`` (fields can be appended to a serialized message,
not taken out), and the session is asked for ``AB_OUTPUT`` alone.
"""

from __future__ import annotations

import numpy as np

from ..models.protowire import LEN, MessageWriter, WireError, iter_fields
from .graph import AB_OUTPUT

# Field numbers in onnx.proto.
_MODEL_OPSET, _MODEL_GRAPH = 8, 7
_OPSET_DOMAIN, _OPSET_VERSION = 1, 2
_GRAPH_NODE, _GRAPH_INITIALIZER, _GRAPH_INPUT, _GRAPH_OUTPUT, _GRAPH_VALUE_INFO = 1, 5, 11, 12, 13
_NODE_INPUT, _NODE_OUTPUT, _NODE_NAME, _NODE_OP, _NODE_ATTRIBUTE = 1, 2, 3, 4, 5
_ATTR_NAME, _ATTR_I, _ATTR_INTS, _ATTR_TYPE = 1, 3, 8, 20
_ATTR_INT, _ATTR_INTS_TYPE = 2, 7
_TENSOR_DIMS, _TENSOR_TYPE, _TENSOR_NAME, _TENSOR_RAW = 1, 2, 8, 9
_FLOAT, _INT64 = 1, 7
_VALUE_NAME, _VALUE_TYPE = 1, 2
_TYPE_TENSOR, _TENSOR_ELEM, _TENSOR_SHAPE, _SHAPE_DIM = 1, 1, 2, 1
_DIM_VALUE, _DIM_PARAM = 1, 2


def _graph_of(data: bytes | memoryview) -> memoryview:
    """The model's graph message (pieces of it, as ``append_annealed_mean`` leaves them, joined:
    protobuf reads a message given in pieces as their concatenation)."""
    graphs = [f.payload for f in iter_fields(data) if f.number == _MODEL_GRAPH and f.wire == LEN]
    if not graphs:
        raise WireError("no graph in the model")
    return graphs[0] if len(graphs) == 1 else memoryview(b"".join(graphs))


def opset(data: bytes | memoryview) -> int:
    """The model's default-domain opset version (1 when it names none)."""
    for field in iter_fields(data):
        if field.number != _MODEL_OPSET or field.wire != LEN:
            continue
        parts = {f.number: f for f in iter_fields(field.payload)}
        domain = parts[_OPSET_DOMAIN].as_str() if _OPSET_DOMAIN in parts else ""
        if domain in ("", "ai.onnx") and _OPSET_VERSION in parts:
            return parts[_OPSET_VERSION].as_int()
    return 1


def _name(message: memoryview) -> str:
    return next((f.as_str() for f in iter_fields(message) if f.number == _VALUE_NAME), "")


def _free_first_dim(value_info: memoryview) -> MessageWriter:
    """A ValueInfoProto whose tensor's first dimension is the symbol ``N`` (others as they are)."""

    def shape(message: memoryview) -> MessageWriter:
        out, first = MessageWriter(), True
        for f in iter_fields(message):
            if f.number == _SHAPE_DIM and first:
                out.message(_SHAPE_DIM, MessageWriter().string(_DIM_PARAM, "N"))
                first = False
            else:
                out.field(f)
        return out

    def tensor(message: memoryview) -> MessageWriter:
        out = MessageWriter()
        for f in iter_fields(message):
            if f.number == _TENSOR_SHAPE and f.wire == LEN:
                out.message(_TENSOR_SHAPE, shape(f.payload))
            else:
                out.field(f)
        return out

    def type_proto(message: memoryview) -> MessageWriter:
        out = MessageWriter()
        for f in iter_fields(message):
            if f.number == _TYPE_TENSOR and f.wire == LEN:
                out.message(_TYPE_TENSOR, tensor(f.payload))
            else:
                out.field(f)
        return out

    out = MessageWriter()
    for f in iter_fields(value_info):
        if f.number == _VALUE_TYPE and f.wire == LEN:
            out.message(_VALUE_TYPE, type_proto(f.payload))
        else:
            out.field(f)
    return out


def _free_batch(data: bytes | memoryview) -> MessageWriter:
    """The model with its real inputs' and its outputs' first dimension free (``N``) and the
    intermediate shape annotations dropped (they may carry the old batch of 1).

    WireError for bytes that are not a well-formed ONNX model.
    """
    graph = _graph_of(data)
    initializers = set()
    for f in iter_fields(graph):
        if f.number == _GRAPH_INITIALIZER and f.wire == LEN:
            initializers.add(next((g.as_str() for g in iter_fields(f.payload) if g.number == _TENSOR_NAME), ""))
    edited = MessageWriter()
    for f in iter_fields(graph):
        if f.number == _GRAPH_VALUE_INFO:
            continue
        if f.wire == LEN and (
            f.number == _GRAPH_OUTPUT or (f.number == _GRAPH_INPUT and _name(f.payload) not in initializers)
        ):
            edited.message(f.number, _free_first_dim(f.payload))
        else:
            edited.field(f)
    model, placed = MessageWriter(), False
    for f in iter_fields(data):
        if f.number == _MODEL_GRAPH:
            if not placed:
                model.message(_MODEL_GRAPH, edited)
            placed = True
        else:
            model.field(f)
    return model


def _tensor(name: str, array: np.ndarray) -> MessageWriter:
    kind = {np.dtype(np.float32): _FLOAT, np.dtype(np.int64): _INT64}[array.dtype]
    out = MessageWriter()
    for dim in array.shape:
        out.varint(_TENSOR_DIMS, dim)
    return (
        out.varint(_TENSOR_TYPE, kind)
        .string(_TENSOR_NAME, name)
        .raw_bytes(_TENSOR_RAW, np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<"), copy=False).tobytes())
    )


def _node(op: str, inputs: list[str], outputs: list[str], name: str, axes: list[int] | None = None) -> MessageWriter:
    out = MessageWriter()
    for item in inputs:
        out.string(_NODE_INPUT, item)
    for item in outputs:
        out.string(_NODE_OUTPUT, item)
    out.string(_NODE_NAME, name).string(_NODE_OP, op)
    if axes is not None:  # ReduceMax before opset 18: axes and keepdims are attributes
        attr = MessageWriter().string(_ATTR_NAME, "axes").packed_varints(_ATTR_INTS, axes)
        out.message(_NODE_ATTRIBUTE, attr.varint(_ATTR_TYPE, _ATTR_INTS_TYPE))
    if op == "ReduceMax":
        keep = MessageWriter().string(_ATTR_NAME, "keepdims").varint(_ATTR_I, 1).varint(_ATTR_TYPE, _ATTR_INT)
        out.message(_NODE_ATTRIBUTE, keep)
    return out


def edit(data: bytes | memoryview, decode: tuple[np.ndarray, float, str] | None = None) -> bytes:
    """The model with a free batch and, when ``decode`` = (centres, temperature, logits output)
    is given, the annealed mean appended: the edits ONNX Runtime gets, joined into bytes once."""
    model = _free_batch(data)
    if decode is not None:
        model.field(_annealed_graph(data, *decode))
    return model.to_bytes()


def _annealed_nodes(data: bytes | memoryview, centres: np.ndarray, temperature: float, output: str) -> MessageWriter:
    """Graph fields that decode the logits output ``output`` (N, Q, h, w) into the output
    ``AB_OUTPUT`` (N, 2, h, w): softmax(logits / T) weighted by the bin centres, as
    ``graph.with_annealed_mean`` builds it (scale, subtract the maximum, exp, one 1x1 convolution
    for the sums, divide)."""
    centres = np.asarray(centres, np.float32)
    weights = np.concatenate([centres.T, np.ones((1, centres.shape[0]), np.float32)]).reshape(3, -1, 1, 1)
    inits = [
        _tensor("sc_inv_temperature", np.array(1.0 / temperature, np.float32)),
        _tensor("sc_expectation_weights", np.ascontiguousarray(weights)),
        *(_tensor(name, np.array([v], np.int64)) for name, v in (("sc_0", 0), ("sc_1", 1), ("sc_2", 2), ("sc_3", 3))),
    ]
    if opset(data) >= 18:  # ReduceMax takes its axes as an input from opset 18 on
        reduce_max = _node("ReduceMax", ["sc_scaled", "sc_1"], ["sc_max"], "sc_max")
    else:
        reduce_max = _node("ReduceMax", ["sc_scaled"], ["sc_max"], "sc_max", axes=[1])
    nodes = [
        _node("Mul", [output, "sc_inv_temperature"], ["sc_scaled"], "sc_anneal"),
        reduce_max,
        _node("Sub", ["sc_scaled", "sc_max"], ["sc_shifted"], "sc_shift"),
        _node("Exp", ["sc_shifted"], ["sc_weights"], "sc_exp"),
        _node("Conv", ["sc_weights", "sc_expectation_weights"], ["sc_sums"], "sc_sums"),
        _node("Slice", ["sc_sums", "sc_0", "sc_2", "sc_1"], ["sc_ab_sum"], "sc_ab_sum"),
        _node("Slice", ["sc_sums", "sc_2", "sc_3", "sc_1"], ["sc_total"], "sc_total"),
        _node("Div", ["sc_ab_sum", "sc_total"], [AB_OUTPUT], "sc_expectation"),
    ]
    shape = MessageWriter().message(_SHAPE_DIM, MessageWriter().string(_DIM_PARAM, "N"))
    shape.message(_SHAPE_DIM, MessageWriter().varint(_DIM_VALUE, 2))
    shape.message(_SHAPE_DIM, MessageWriter()).message(_SHAPE_DIM, MessageWriter())  # h, w: as the logits'
    tensor = MessageWriter().varint(_TENSOR_ELEM, _FLOAT).message(_TENSOR_SHAPE, shape)
    tensor_type = MessageWriter().message(_TYPE_TENSOR, tensor)
    added = MessageWriter()
    for node in nodes:
        added.message(_GRAPH_NODE, node)
    for init in inits:
        added.message(_GRAPH_INITIALIZER, init)
    added.message(_GRAPH_OUTPUT, MessageWriter().string(_VALUE_NAME, AB_OUTPUT).message(_VALUE_TYPE, tensor_type))
    return added


def _annealed_graph(data: bytes | memoryview, centres: np.ndarray, temperature: float, output: str):
    """The graph field to append (see ``_annealed_nodes``), as a field of the model message: a
    second occurrence of an embedded message merges into the first, so its nodes, initializers and
    output join the graph's own."""
    piece = MessageWriter().message(_MODEL_GRAPH, _annealed_nodes(data, centres, temperature, output)).to_bytes()
    return next(iter_fields(piece))


def graph_outputs(data: bytes | memoryview) -> list[str]:
    """The names of the graph's outputs, in order."""
    return [_name(f.payload) for f in iter_fields(_graph_of(data)) if f.number == _GRAPH_OUTPUT and f.wire == LEN]
