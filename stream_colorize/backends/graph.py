"""ONNX graph edits for ONNX Runtime: the annealed mean in the graph, a free batch size, fp16 weights.

    >>> model = onnx.load("default.onnx")
    >>> model = with_free_batch(model)                          # (N, 1, 224, 224) in, (N, ...) out
    >>> model = to_fp16(model)                                  # fp16 inside, float32 in and out
    >>> model = with_annealed_mean(model, centres, 0.45)        # output AB_OUTPUT: ab (N, 2, 56, 56)

Each function returns a new ``onnx.ModelProto`` and leaves its argument alone.  They work on any
colorization graph (ours, converted Caffe models, a user's own) by its input and output names,
not on a hard-coded layer list: every input keeps its name (a model with an L and a hints input
gets both freed and cast), and the annealed mean decodes the output the model names (by default
the first).  Needs the ``onnx`` package.
"""

from __future__ import annotations

import numpy as np

AB_OUTPUT = "sc_annealed_ab"
# Inputs that ONNX requires to stay float32 (or integer) whatever the data type: (op, input index).
_FLOAT32_INPUTS = {("Resize", 1), ("Resize", 2), ("Upsample", 1)}


def _copy(model):
    import onnx

    clone = onnx.ModelProto()
    clone.CopyFrom(model)
    return clone


def input_names(model, float_only: bool = False) -> list[str]:
    """The graph's real inputs (initializers excluded), in order; only the float32 ones if asked."""
    from onnx import TensorProto

    inits = {init.name for init in model.graph.initializer}
    return [
        i.name
        for i in model.graph.input
        if i.name not in inits and (not float_only or i.type.tensor_type.elem_type == TensorProto.FLOAT)
    ]


def _output(model, name: str = ""):
    """The graph output called ``name`` ("" = the first); ValueError when there is none."""
    outputs = {o.name: o for o in model.graph.output}
    if not outputs or (name and name not in outputs):
        raise ValueError(f"the graph has no output {name!r} (it has: {', '.join(outputs) or 'none'})")
    return outputs[name] if name else model.graph.output[0]


def with_free_batch(model):
    """A copy whose input and outputs take any batch size (dimension 0 named ``N``).

    Intermediate shape annotations are dropped, as they may carry the old batch of 1.  Whether
    the graph really computes a batch (no reshape to a fixed 1 inside) is for a probe to tell.
    """
    model = _copy(model)
    for value in [*model.graph.input, *model.graph.output]:
        dims = value.type.tensor_type.shape.dim
        if len(dims) > 0:
            dims[0].ClearField("dim_value")
            dims[0].dim_param = "N"
    del model.graph.value_info[:]
    return model


def _opset(model) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)


def with_annealed_mean(model, centres: np.ndarray, temperature: float, output: str = ""):
    """A copy of a logits model (N, Q, h, w) that outputs ab (``AB_OUTPUT``): the mean of softmax(logits / T) over bins.

    ``output`` names the logits (default: the first output); the graph's outputs become ``AB_OUTPUT`` alone.

    The same decode as ``bins.annealed_mean``, done by the runtime: z = logits / T minus its
    maximum over the bins, e = exp(z), then one 1x1 convolution gives sum(e * a), sum(e * b) and
    sum(e), and ab is the first two over the third.  (A Softmax over axis 1 of an NCHW tensor is
    several times slower in ONNX Runtime's CPU provider; this form beats the numpy decode.)  The
    output shrinks from Q channels to 2, which matters when it crosses from a GPU.  Float32.
    """
    from onnx import TensorProto, helper, numpy_helper

    model = _copy(model)
    graph = model.graph
    logits_info = _output(model, output)
    logits = logits_info.name
    centres = np.asarray(centres, np.float32)
    weights = np.concatenate([centres.T, np.ones((1, centres.shape[0]), np.float32)]).reshape(3, -1, 1, 1)
    ints = {"sc_0": 0, "sc_2": 2, "sc_3": 3, "sc_1": 1}
    graph.initializer.extend(
        [
            numpy_helper.from_array(np.array(1.0 / temperature, np.float32), "sc_inv_temperature"),
            numpy_helper.from_array(np.ascontiguousarray(weights), "sc_expectation_weights"),
            *(numpy_helper.from_array(np.array([v], np.int64), name) for name, v in ints.items()),
        ]
    )
    if _opset(model) >= 18:  # ReduceMax takes its axes as an input from opset 18 on
        reduce_max = helper.make_node("ReduceMax", ["sc_scaled", "sc_1"], ["sc_max"], keepdims=1, name="sc_max")
    else:
        reduce_max = helper.make_node("ReduceMax", ["sc_scaled"], ["sc_max"], axes=[1], keepdims=1, name="sc_max")
    graph.node.extend(
        [
            helper.make_node("Mul", [logits, "sc_inv_temperature"], ["sc_scaled"], name="sc_anneal"),
            reduce_max,
            helper.make_node("Sub", ["sc_scaled", "sc_max"], ["sc_shifted"], name="sc_shift"),
            helper.make_node("Exp", ["sc_shifted"], ["sc_weights"], name="sc_exp"),
            helper.make_node("Conv", ["sc_weights", "sc_expectation_weights"], ["sc_sums"], name="sc_sums"),
            helper.make_node("Slice", ["sc_sums", "sc_0", "sc_2", "sc_1"], ["sc_ab_sum"], name="sc_ab_sum"),
            helper.make_node("Slice", ["sc_sums", "sc_2", "sc_3", "sc_1"], ["sc_total"], name="sc_total"),
            helper.make_node("Div", ["sc_ab_sum", "sc_total"], [AB_OUTPUT], name="sc_expectation"),
        ]
    )
    old = logits_info.type.tensor_type.shape.dim
    dims = [d.dim_param or d.dim_value or None for d in old]
    shape = [dims[0], 2, *dims[2:]] if len(dims) == 4 else None
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(AB_OUTPUT, TensorProto.FLOAT, shape))
    return model


def to_fp16(model):
    """A copy computing in float16 (weights halved) with float32 input and output, for GPU providers.

    Float32 initializers and constants become float16, except those ONNX wants in float32 (the
    scales and roi of Resize); a Cast follows each float32 input and precedes each output.
    """
    from onnx import TensorProto, helper, numpy_helper

    model = _copy(model)
    graph = model.graph
    names_in = input_names(model, float_only=True)
    keep32 = {
        node.input[i] for node in graph.node for op, i in _FLOAT32_INPUTS if node.op_type == op and len(node.input) > i
    }
    for init in graph.initializer:
        if init.data_type == TensorProto.FLOAT and init.name not in keep32:
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), init.name))
    for node in graph.node:
        if node.output[0] in keep32 or node.op_type not in ("Constant", "Cast"):
            continue
        for attr in node.attribute:
            if node.op_type == "Constant" and attr.name == "value" and attr.t.data_type == TensorProto.FLOAT:
                attr.t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(attr.t).astype(np.float16)))
            if node.op_type == "Cast" and attr.name == "to" and attr.i == TensorProto.FLOAT:
                attr.i = TensorProto.FLOAT16
    # Rewire: each input is cast to fp16 for every consumer, each output cast back to float32.
    half_in = {name: f"{name}_fp16" for name in names_in}
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name in half_in:
                node.input[i] = half_in[name]
    casts_out = []
    for out in graph.output:
        half_out = f"{out.name}_fp16"
        for node in graph.node:
            for i, name in enumerate(node.output):
                if name == out.name:
                    node.output[i] = half_out
            for i, name in enumerate(node.input):
                if name == out.name:
                    node.input[i] = half_out
        casts_out.append(helper.make_node("Cast", [half_out], [out.name], to=TensorProto.FLOAT))
    casts_in = [helper.make_node("Cast", [name], [half], to=TensorProto.FLOAT16) for name, half in half_in.items()]
    nodes = [*casts_in, *graph.node, *casts_out]
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.value_info[:]
    return model
