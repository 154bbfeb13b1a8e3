"""Caffe files without Caffe: the binary ``.caffemodel``, writing a ``.prototxt``, and a stand-in.

    >>> layers = read_caffemodel(Path("colorization_release_v2.caffemodel"))
    >>> {l.name: [b.shape for b in l.blobs] for l in layers}["conv8_313"]   # [(313, 256, 1, 1), (313,)]
    >>> prototxt, caffemodel = write_standin_caffe(Path("standin_caffe"), seed=0)

The schema is our own subset of BVLC's ``caffe.proto``: ``NetParameter`` (name 1, V1 ``layers`` 2,
``layer`` 100), ``LayerParameter`` (name 1, type 2, bottom 3, top 4, blobs 7), ``V1LayerParameter``
(bottom 2, top 3, name 4, type enum 5, blobs 6) and ``BlobProto`` (legacy num/channels/height/width
1-4, data 5, double_data 8, shape 7 -> ``BlobShape.dim`` 1).  Every other field is skipped.

The stand-in is Zhang's deploy graph with the seeded random weights of ``standin.layer_weights``,
so it computes what the ONNX stand-in with the same seed computes.  It loads in OpenCV 4's
``readNetFromCaffe``; the engine injects the bin centres and the annealing scale as usual.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..bins import load_bins
from ..errors import ModelError
from ..io.outputs import atomic_output, write_atomic
from .protowire import LEN, Field, MessageWriter, WireError, iter_fields, unpack_doubles, unpack_floats, unpack_varints
from .standin import ARCHES, layer_weights
from .zhang_arch import INPUT_NAME, LOGITS_NAME, Layer

PROTOTXT_NAME = "colorization_deploy_v2.prototxt"
STANDIN_CAFFEMODEL_NAME = "colorization_standin_v2.caffemodel"
BINS_NAME = "pts_in_hull.npy"
# Zhang's first convolution is called bw_conv1_1 in his files; its top blob is conv1_1.
CAFFE_LAYER_NAMES = {"conv1_1": "bw_conv1_1"}
_V1_TYPES = {4: "Convolution", 18: "ReLU", 20: "Softmax", 36: "Silence", 39: "Deconvolution", 5: "Data"}


@dataclass
class CaffeLayer:
    """One layer of a NetParameter: what the binary file says about it."""

    name: str
    type: str
    bottom: list[str] = field(default_factory=list)
    top: list[str] = field(default_factory=list)
    blobs: list[np.ndarray] = field(default_factory=list)


# -- binary .caffemodel ----------------------------------------------------------------------


def parse_blob(data: memoryview) -> np.ndarray:
    """Decode a BlobProto into a float32 array of its declared shape."""
    shape: list[int] | None = None
    legacy = [0, 0, 0, 0]
    has_legacy = False
    floats: list[Field] = []
    doubles: list[Field] = []
    for f in iter_fields(data):
        if f.number == 7 and f.wire == LEN:
            shape = unpack_varints(g for g in iter_fields(f.payload) if g.number == 1)
        elif f.number == 5:
            floats.append(f)
        elif f.number == 8:
            doubles.append(f)
        elif 1 <= f.number <= 4:
            legacy[f.number - 1] = f.as_int()
            has_legacy = True
    values = unpack_floats(floats)
    if values.size == 0 and doubles:
        values = unpack_doubles(doubles).astype(np.float32)
    if shape is None:
        shape = legacy if has_legacy else [values.size]
    if any(d < 0 for d in shape) or int(np.prod(shape, dtype=np.int64)) != values.size:
        raise WireError(f"blob of shape {tuple(shape)} holds {values.size} values")
    return values.reshape(shape)


def parse_layer(data: memoryview, v1: bool = False) -> CaffeLayer:
    """Decode a LayerParameter (or a V1LayerParameter when ``v1``)."""
    num = (
        {"name": 4, "type": 5, "bottom": 2, "top": 3, "blobs": 6}
        if v1
        else dict(name=1, type=2, bottom=3, top=4, blobs=7)
    )
    layer = CaffeLayer(name="", type="")
    for f in iter_fields(data):
        if f.number == num["name"]:
            layer.name = f.as_str()
        elif f.number == num["type"]:
            layer.type = _V1_TYPES.get(f.varint, f"V1:{f.varint}") if v1 and f.wire != LEN else f.as_str()
        elif f.number == num["bottom"]:
            layer.bottom.append(f.as_str())
        elif f.number == num["top"]:
            layer.top.append(f.as_str())
        elif f.number == num["blobs"] and f.wire == LEN:
            layer.blobs.append(parse_blob(f.payload))
    return layer


def parse_net(data: bytes | memoryview) -> tuple[str, list[CaffeLayer]]:
    """Decode a NetParameter: (net name, layers in file order; V1 ``layers`` included)."""
    name = ""
    layers: list[CaffeLayer] = []
    for f in iter_fields(data):
        if f.number == 1 and f.wire == LEN:
            name = f.as_str()
        elif f.number == 100 and f.wire == LEN:
            layers.append(parse_layer(f.payload))
        elif f.number == 2 and f.wire == LEN:
            layers.append(parse_layer(f.payload, v1=True))
    return name, layers


def read_caffemodel(path: Path) -> list[CaffeLayer]:
    """Read a binary .caffemodel; raise ModelError (one line) if it is missing, truncated or corrupt."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        _, layers = parse_net(data)
    except (WireError, ValueError) as exc:
        raise ModelError(f"{path}: not a valid Caffe model, truncated or corrupt ({exc}); fetch it again") from exc
    if not any(layer.blobs for layer in layers):
        raise ModelError(f"{path}: holds no weights; is it a .caffemodel (not a .prototxt)?")
    return layers


def blob_message(array: np.ndarray) -> MessageWriter:
    """Encode an array as a BlobProto (shape + packed float data)."""
    shape = MessageWriter().packed_varints(1, array.shape)
    return MessageWriter().message(7, shape).packed_floats(5, array)


def layer_message(layer: CaffeLayer) -> MessageWriter:
    """Encode a CaffeLayer as a LayerParameter."""
    msg = MessageWriter().string(1, layer.name).string(2, layer.type)
    for name in layer.bottom:
        msg.string(3, name)
    for name in layer.top:
        msg.string(4, name)
    for blob in layer.blobs:
        msg.message(7, blob_message(blob))
    return msg


def write_caffemodel(path: Path, layers: list[CaffeLayer], name: str = "LtoAB") -> Path:
    """Write layers as a binary NetParameter, through a temporary file and a rename."""
    net = MessageWriter().string(1, name)
    for layer in layers:
        net.message(100, layer_message(layer))
    with atomic_output(path) as tmp, open(tmp, "wb") as stream:
        net.write_to(stream)
    return path


# -- text .prototxt --------------------------------------------------------------------------

def _conv_lines(channels: int, kernel: int, stride: int, pad: int, dilation: int) -> list[str]:
    lines = [f"    num_output: {channels}", f"    kernel_size: {kernel}"]
    if pad:
        lines.append(f"    pad: {pad}")
    if stride != 1:
        lines.append(f"    stride: {stride}")
    if dilation != 1:
        lines.append(f"    dilation: {dilation}")
    return lines


def _layer_text(name: str, kind: str, bottom: str | None, top: str | None, body: Sequence[str] = ()) -> str:
    lines = ["layer {", f'  name: "{name}"', f'  type: "{kind}"']
    if bottom:
        lines.append(f'  bottom: "{bottom}"')
    if top:
        lines.append(f'  top: "{top}"')
    return "\n".join([*lines, *body, "}"])


def deploy_prototxt(layers: tuple[Layer, ...], input_size: int = 224) -> str:
    """Zhang's deploy graph for a layer table, as prototxt text (logits -> Scale -> Softmax -> ab)."""
    shape = f"    shape {{ dim: 1 dim: 1 dim: {input_size} dim: {input_size} }}"
    parts = [_layer_text(INPUT_NAME, "Input", None, INPUT_NAME, ["  input_param {", shape, "  }"])]
    current = INPUT_NAME
    for layer in layers:
        if layer.kind == "bn":
            frozen = ["  param { lr_mult: 0 decay_mult: 0 }"] * 3
            parts.append(_layer_text(layer.name, "BatchNorm", current, layer.name, ["  batch_norm_param { }", *frozen]))
        else:
            kind = "Deconvolution" if layer.kind == "deconv" else "Convolution"
            conv = _conv_lines(layer.channels, layer.kernel, layer.stride, layer.pad, layer.dilation)
            name = CAFFE_LAYER_NAMES.get(layer.name, layer.name)
            parts.append(_layer_text(name, kind, current, layer.name, ["  convolution_param {", *conv, "  }"]))
            if layer.kind != "head":
                parts.append(_layer_text(f"relu{layer.name[4:]}", "ReLU", layer.name, layer.name))
        current = layer.name
    assert current == LOGITS_NAME
    scale = ["  scale_param {", "    bias_term: false", "    filler { type: 'constant' value: 2.606 }", "  }"]
    parts += [
        _layer_text("conv8_313_rh", "Scale", LOGITS_NAME, "conv8_313_rh", scale),
        _layer_text("class8_313_rh", "Softmax", "conv8_313_rh", "class8_313_rh"),
        _layer_text(
            "class8_ab",
            "Convolution",
            "class8_313_rh",
            "class8_ab",
            ["  convolution_param {", *_conv_lines(2, 1, 1, 0, 1), "  }"],
        ),
        _layer_text("Silence", "Silence", "class8_ab", None),
    ]
    return 'name: "LtoAB"\n\n' + "\n".join(parts) + "\n"


# -- the stand-in ----------------------------------------------------------------------------


def save_npy_atomically(path: Path, array: np.ndarray) -> Path:
    """Save an .npy file through a temporary file and a rename."""
    with atomic_output(path) as tmp, open(tmp, "wb") as stream:
        np.save(stream, array)
    return path


def standin_caffe_layers(layers: tuple[Layer, ...], seed: int) -> list[CaffeLayer]:
    """The layers a trained caffemodel would hold for this table: weighted ones with blobs."""
    weights = layer_weights(layers, seed)
    out = []
    current = INPUT_NAME
    for layer in layers:
        kind = {"bn": "BatchNorm", "deconv": "Deconvolution"}.get(layer.kind, "Convolution")
        name = CAFFE_LAYER_NAMES.get(layer.name, layer.name)
        out.append(CaffeLayer(name, kind, [current], [layer.name], weights[layer.name]))
        current = layer.name
    return out


def write_standin_caffe(folder: Path, seed: int = 0, arch: str = "zhang") -> tuple[Path, Path]:
    """Write a Caffe stand-in (prototxt, caffemodel, pts_in_hull.npy = our bins) into ``folder``.

    Same weights as ``write_standin_onnx(..., arch, seed)``; colours are meaningless.
    Returns (prototxt path, caffemodel path).
    """
    folder = Path(folder)
    layers = ARCHES[arch]
    save_npy_atomically(folder / BINS_NAME, load_bins())
    prototxt = write_atomic(folder / PROTOTXT_NAME, deploy_prototxt(layers))
    caffemodel = write_caffemodel(folder / STANDIN_CAFFEMODEL_NAME, standin_caffe_layers(layers, seed))
    return prototxt, caffemodel
