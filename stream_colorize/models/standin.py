"""Generated stand-in models: Zhang's exact architecture (or a tiny one) with seeded random weights.

    >>> write_standin_onnx(Path("zhang.onnx"), arch="zhang", seed=0)   # ~129 MB, 64 GFLOPs
    >>> write_standin_onnx(Path("tiny.onnx"), arch="tiny")             # same interface, ~1 ms

    >>> write_standin_onnx(Path("hints.onnx"), arch="tiny-hints")      # tiny, plus a colour-hint input

They cost what the real network costs and exercise every code path; their colours mean nothing.
All take ``data_l`` (N, 1, 224, 224) = L - 50 and give 313-way logits (N, 313, 56, 56).  The
``tiny-hints`` one also takes ``hints`` (N, 3, 56, 56), the a, b and mask planes of colour hints
(role ``hints`` in its sidecar, ``stream_colorize.hints``), and obeys them: where a cell is hinted
its logits favour the bins nearest the hint's ab, so the decoded colour lands on the hint; where
the planes are 0 (no hint) the logits are the plain tiny model's.
Needs the ``onnx`` package (extra ``convert``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..io.outputs import write_atomic
from .zhang_arch import INPUT_NAME, LOGITS_NAME, ZHANG_LAYERS, Layer

TINY_LAYERS: tuple[Layer, ...] = (
    Layer("conv1_1", "conv", 8, stride=2),
    Layer("conv2_1", "conv", 16, stride=2),
    Layer("conv3_1", "conv", 16),
    Layer("conv8_313", "head", 313, kernel=1, pad=0),
)
ARCHES = {"zhang": ZHANG_LAYERS, "tiny": TINY_LAYERS, "tiny-hints": TINY_LAYERS}
HINTED_ARCHES = {"tiny-hints"}  # these take colour hints besides the L
HINT_INPUT_NAME = "hints"
HINT_STRIDE = 4  # hints come at the logits' grid: 56 x 56 for a 224 input
HINT_GAIN = 2.0  # alpha: a hinted logit of bin q moves by -alpha/2 |ab - c_q|^2 (+ a per-cell constant);
# next-nearest bins (10 apart) then lose >= 100, beyond the tiny-hints model's own logits (about +-45)
HINTED_HEAD_SCALE = 0.1


def layer_weights(layers: tuple[Layer, ...], seed: int) -> dict[str, list[np.ndarray]]:
    """Seeded He-initialised weights per layer, in Caffe's blob order.

    conv/head: [W (out, in, k, k), b]; deconv: [W (in, out, k, k), b]; bn: [mean, var, factor].
    """
    rng = np.random.default_rng(seed)
    blobs: dict[str, list[np.ndarray]] = {}
    channels = 1
    for layer in layers:
        if layer.kind == "bn":
            mean = rng.normal(0.0, 0.1, channels).astype(np.float32)
            var = rng.uniform(0.5, 1.5, channels).astype(np.float32)
            blobs[layer.name] = [mean, var, np.ones(1, np.float32)]
            continue
        fan_in = channels * layer.kernel * layer.kernel
        std = np.sqrt(2.0 / fan_in) * (3.0 if layer.kind == "head" else 1.0)
        shape = (layer.channels, channels, layer.kernel, layer.kernel)
        if layer.kind == "deconv":
            shape = (channels, layer.channels, layer.kernel, layer.kernel)
        weight = rng.normal(0.0, std, shape).astype(np.float32)
        bias = rng.normal(0.0, 0.01, layer.channels).astype(np.float32)
        blobs[layer.name] = [weight, bias]
        channels = layer.channels
    return blobs


def hint_weights(gain: float = HINT_GAIN) -> np.ndarray:
    """The (313, 3, 1, 1) 1x1 convolution that turns hint planes (a, b, mask) into logit offsets.

    Bin q with centre c = (ca, cb) gets gain * [ca, cb, -|c|^2 / 2]: on a hinted cell (mask 1, hint
    ab h) that is -gain/2 |h - c|^2 + gain/2 |h|^2, the second term the same for every bin (the
    softmax ignores it), so the bins nearest h win; on an unhinted cell (all planes 0) it is 0.
    """
    from ..bins import load_bins

    centres = load_bins().astype(np.float64)
    weight = np.concatenate([centres, -0.5 * (centres**2).sum(1, keepdims=True)], 1) * gain
    return weight.astype(np.float32).reshape(-1, 3, 1, 1)


def build_onnx(
    layers: tuple[Layer, ...], blobs: dict[str, list[np.ndarray]], input_size: int = 224, hints: bool = False
):
    """An ``onnx.ModelProto`` for a layer table and its Caffe-ordered blobs (batch dimension free);
    with ``hints`` a second input, ``hints`` (N, 3, S/4, S/4), adds ``hint_weights()`` to the logits."""
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []
    current = INPUT_NAME
    for layer in layers:
        params = blobs[layer.name]
        out = layer.name
        if layer.kind == "bn":
            mean, var, factor = params
            f = float(factor.reshape(-1)[0]) or 1.0
            names = [f"{out}.{k}" for k in ("scale", "bias", "mean", "var")]
            values = [np.ones_like(mean), np.zeros_like(mean), mean / f, var / f]
            inits += [numpy_helper.from_array(v.astype(np.float32), n) for n, v in zip(names, values)]
            nodes.append(helper.make_node("BatchNormalization", [current, *names], [out], epsilon=1e-5))
        else:
            weight, bias = params
            inits += [numpy_helper.from_array(weight, f"{out}.w"), numpy_helper.from_array(bias, f"{out}.b")]
            op = "ConvTranspose" if layer.kind == "deconv" else "Conv"
            nodes.append(
                helper.make_node(
                    op,
                    [current, f"{out}.w", f"{out}.b"],
                    [out if layer.kind == "head" else f"{out}.pre"],
                    kernel_shape=[layer.kernel] * 2,
                    strides=[layer.stride] * 2,
                    pads=[layer.pad] * 4,
                    dilations=[layer.dilation] * 2,
                )
            )
            if layer.kind != "head":
                nodes.append(helper.make_node("Relu", [f"{out}.pre"], [out]))
        current = out
    assert current == LOGITS_NAME
    inputs = [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", 1, input_size, input_size])]
    if hints:
        side = input_size // HINT_STRIDE
        inputs.append(helper.make_tensor_value_info(HINT_INPUT_NAME, TensorProto.FLOAT, ["N", 3, side, side]))
        inits.append(numpy_helper.from_array(hint_weights(), "hint.w"))
        nodes[-1].output[0] = f"{LOGITS_NAME}.plain"
        nodes += [
            helper.make_node("Conv", [HINT_INPUT_NAME, "hint.w"], ["hint.logits"], kernel_shape=[1, 1]),
            helper.make_node("Add", [f"{LOGITS_NAME}.plain", "hint.logits"], [LOGITS_NAME]),
        ]
    graph = helper.make_graph(
        nodes,
        "colorization",
        inputs,
        [helper.make_tensor_value_info(LOGITS_NAME, TensorProto.FLOAT, ["N", 313, None, None])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="stream_colorize")
    model.ir_version = 8
    return model


def write_onnx_atomically(model, path: Path) -> None:
    """Serialize an ONNX model to ``path`` through a temporary file and a rename."""
    write_atomic(path, model.SerializeToString())


def write_standin_onnx(path: Path, arch: str = "zhang", seed: int = 0) -> Path:
    """Write a stand-in ONNX model and its JSON sidecar; return the model path."""
    layers, hinted = ARCHES[arch], arch in HINTED_ARCHES
    blobs = layer_weights(layers, seed)
    if hinted:  # logits a tenth as large (about +-45, not +-450): a hint outweighs them, bins seldom tie
        blobs["conv8_313"] = [blob * np.float32(HINTED_HEAD_SCALE) for blob in blobs["conv8_313"]]
    model = build_onnx(layers, blobs, hints=hinted)
    sidecar: dict = {
        "name": f"standin-{arch}",
        "output": "logits",
        "bins": "ours",
        "input_size": 224,
        "description": f"stand-in: {arch} architecture, random weights (seed {seed}); colours are meaningless",
    }
    if hinted:
        from ..hints import HINT_ROLE

        sidecar["inputs"] = [
            {"name": INPUT_NAME, "role": "l"},
            {"name": HINT_INPUT_NAME, "role": HINT_ROLE, "channels": 3, "stride": HINT_STRIDE, "fill": 0.0},
        ]
        sidecar["description"] += "; obeys colour hints"
    # The sidecar first: whoever sees the model file (standin_path's check) must find its inputs declared.
    write_atomic(path.with_suffix(".json"), json.dumps(sidecar, indent=2) + "\n")
    write_onnx_atomically(model, path)
    return path


def count_parameters(layers: tuple[Layer, ...] = ZHANG_LAYERS, seed: int = 0) -> int:
    """Learnable parameters (conv weights and biases; batch-norm statistics excluded)."""
    return sum(b.size for name, bl in layer_weights(layers, seed).items() for b in bl if not name.endswith("norm"))
