"""Caffe -> ONNX for Zhang's network, so the official weights run on OpenCV 5 (no Caffe importer).

    >>> convert_caffe_to_onnx(Path("colorization_deploy_v2.prototxt"),
    ...                       Path("colorization_release_v2.caffemodel"),
    ...                       Path("pts_in_hull.npy"), Path("zhang2016.onnx"))

The weights are read with our own protobuf schema (``caffe.py``), checked layer by layer against
``ZHANG_LAYERS``, and rebuilt as ONNX by ``standin.build_onnx``.  The ONNX ends at the logits
``conv8_313``; its JSON sidecar says so and carries the deploy recipe: the model's own bin centres
(a copy of pts_in_hull.npy beside the ONNX) and temperature 1/2.606.  Needs the ``onnx`` package
(extra ``convert``).  Files appear under their final names only when complete.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..bins import NUM_BINS
from ..errors import ModelError
from ..io.outputs import write_atomic
from .caffe import CAFFE_LAYER_NAMES, CaffeLayer, read_caffemodel, save_npy_atomically
from .prototxt import first, read_prototxt
from .spec import CAFFE_RECIPE_SCALE
from .zhang_arch import INPUT_NAME, ZHANG_LAYERS, Layer


def expected_shapes(layers: tuple[Layer, ...] = ZHANG_LAYERS) -> dict[str, list[tuple[int, ...]]]:
    """Blob shapes per layer, in Caffe's order (conv: W, b; deconv: W (in, out, k, k), b; bn: mean, var, factor)."""
    shapes: dict[str, list[tuple[int, ...]]] = {}
    channels = 1
    for layer in layers:
        if layer.kind == "bn":
            shapes[layer.name] = [(channels,), (channels,), (1,)]
            continue
        k = layer.kernel
        w = (channels, layer.channels, k, k) if layer.kind == "deconv" else (layer.channels, channels, k, k)
        shapes[layer.name] = [w, (layer.channels,)]
        channels = layer.channels
    return shapes


def _find_layer(by_name: dict[str, CaffeLayer], by_top: dict[str, CaffeLayer], name: str) -> CaffeLayer | None:
    for key in (name, CAFFE_LAYER_NAMES.get(name, name)):
        if key in by_name and by_name[key].blobs:
            return by_name[key]
    layer = by_top.get(name)
    return layer if layer is not None and layer.blobs else None


def match_weights(
    caffe_layers: list[CaffeLayer], layers: tuple[Layer, ...] = ZHANG_LAYERS, source: str = "caffemodel"
) -> dict[str, list[np.ndarray]]:
    """Pick each table layer's blobs from a caffemodel, checking count and shapes.

    Raises ModelError naming the first layer that is missing or differs.
    """
    by_name = {layer.name: layer for layer in caffe_layers}
    by_top = {top: layer for layer in caffe_layers for top in layer.top if layer.blobs}
    blobs: dict[str, list[np.ndarray]] = {}
    for name, shapes in expected_shapes(layers).items():
        found = _find_layer(by_name, by_top, name)
        if found is None:
            raise ModelError(f"{source}: layer {name} is missing; this is not Zhang et al.'s colorization network")
        if len(found.blobs) < len(shapes):
            raise ModelError(f"{source}: layer {name} has {len(found.blobs)} weight blobs, expected {len(shapes)}")
        picked = []
        for blob, shape in zip(found.blobs, shapes):
            # Old files store 1-D blobs as (1, 1, 1, C): compare sizes there, exact shapes elsewhere.
            same = blob.shape == shape or (len(shape) == 1 and blob.size == shape[0])
            if not same:
                raise ModelError(f"{source}: layer {name} has a blob of shape {blob.shape}, expected {shape}")
            picked.append(np.ascontiguousarray(blob, np.float32).reshape(shape))
        blobs[name] = picked
    return blobs


def check_prototxt(blocks: list[dict[str, list]], layers: tuple[Layer, ...] = ZHANG_LAYERS, source: str = "prototxt"):
    """Check a parsed deploy prototxt against the layer table (types, sizes, strides, pads, dilations, wiring)."""
    by_top: dict[str, dict[str, list]] = {}
    for block in blocks:
        if first(block, "type") in ("Convolution", "Deconvolution", "BatchNorm"):
            for top in block.get("top", []):
                by_top[top] = block
    current = INPUT_NAME
    for layer in layers:
        found = by_top.get(layer.name)
        if found is None:
            raise ModelError(f"{source}: no layer produces {layer.name}; this is not Zhang et al.'s deploy graph")
        kind = {"bn": "BatchNorm", "deconv": "Deconvolution"}.get(layer.kind, "Convolution")
        got_kind = first(found, "type")
        if got_kind != kind:
            raise ModelError(f"{source}: layer {layer.name} is a {got_kind}, expected {kind}")
        if first(found, "bottom") != current:
            raise ModelError(f"{source}: layer {layer.name} reads {first(found, 'bottom')!r}, expected {current!r}")
        current = layer.name
        if layer.kind == "bn":
            continue
        conv = first(found, "convolution_param", {})
        got = {
            "num_output": first(conv, "num_output"),
            "kernel_size": first(conv, "kernel_size"),
            "stride": first(conv, "stride", 1),
            "pad": first(conv, "pad", 0),
            "dilation": first(conv, "dilation", 1),
        }
        want = {
            "num_output": layer.channels,
            "kernel_size": layer.kernel,
            "stride": layer.stride,
            "pad": layer.pad,
            "dilation": layer.dilation,
        }
        for key, value in want.items():
            if got[key] != value:
                raise ModelError(f"{source}: layer {layer.name} has {key} {got[key]}, expected {value}")


def load_pts(path: Path) -> np.ndarray:
    """Read pts_in_hull.npy as (313, 2) float32; ModelError if it is not that."""
    try:
        pts = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read bin centres {path}: {exc}") from exc
    if pts.size != NUM_BINS * 2 or not np.issubdtype(pts.dtype, np.number):
        raise ModelError(f"{path}: expected {NUM_BINS} ab bin centres, found an array of shape {pts.shape}")
    return pts.reshape(NUM_BINS, 2).astype(np.float32)


def _import_onnx():
    try:
        import onnx  # noqa: F401

        from .standin import build_onnx, write_onnx_atomically
    except ImportError as exc:
        raise ModelError(
            "converting Caffe models needs the 'onnx' package: pip install 'stream-colorize[convert]'"
        ) from exc
    return build_onnx, write_onnx_atomically


def convert_caffe_to_onnx(
    prototxt: Path, caffemodel: Path, pts: Path, out_onnx: Path, layers: tuple[Layer, ...] = ZHANG_LAYERS
) -> Path:
    """Convert Zhang's Caffe model to ONNX (logits output) with its JSON sidecar and bins; return the ONNX path."""
    build_onnx, write_onnx_atomically = _import_onnx()
    prototxt, caffemodel, pts, out_onnx = (Path(p) for p in (prototxt, caffemodel, pts, out_onnx))
    check_prototxt(read_prototxt(prototxt), layers, source=str(prototxt))
    centres = load_pts(pts)
    blobs = match_weights(read_caffemodel(caffemodel), layers, source=str(caffemodel))
    model = build_onnx(layers, blobs)

    # Bins and sidecar first, the model last: a model never appears without its recipe.
    bins_file = out_onnx.with_name(f"{out_onnx.stem}_pts_in_hull.npy")
    save_npy_atomically(bins_file, centres)
    sidecar = {
        "name": out_onnx.stem,
        "output": "logits",
        "input_size": 224,
        "bins": bins_file.name,
        "temperature": 1.0 / CAFFE_RECIPE_SCALE,
        "description": f"converted from {caffemodel.name} by stream_colorize",
    }
    write_atomic(out_onnx.with_suffix(".json"), json.dumps(sidecar, indent=2) + "\n")
    try:
        write_onnx_atomically(model, out_onnx)
    except OSError as exc:
        raise ModelError(f"cannot write {out_onnx}: {exc.strerror or exc}") from exc
    return out_onnx
