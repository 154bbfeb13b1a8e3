"""Our protobuf wire format, the Caffe schema on top of it, and the Caffe stand-in in cv2.dnn."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest

from stream_colorize.bins import load_bins
from stream_colorize.engine import Colorizer
from stream_colorize.errors import ModelError
from stream_colorize.models.caffe import (
    BINS_NAME,
    PROTOTXT_NAME,
    CaffeLayer,
    deploy_prototxt,
    read_caffemodel,
    write_caffemodel,
    write_standin_caffe,
)
from stream_colorize.models.convert import check_prototxt
from stream_colorize.models.prototxt import parse_prototxt, read_prototxt
from stream_colorize.models.protowire import (
    FIXED32,
    LEN,
    VARINT,
    MessageWriter,
    WireError,
    decode_varint,
    encode_varint,
    iter_fields,
    to_signed64,
    unpack_floats,
    unpack_varints,
)
from stream_colorize.models.spec import spec_from_caffe, spec_from_path
from stream_colorize.models.standin import TINY_LAYERS, layer_weights, write_standin_onnx
from stream_colorize.models.zhang_arch import ZHANG_LAYERS
from tests.support.cli import CV_MAJOR, needs_cv4

needs_cv5 = pytest.mark.skipif(CV_MAJOR < 5, reason=f"OpenCV {cv2.__version__} still reads Caffe")


def scene(height: int = 150, width: int = 200) -> np.ndarray:
    """A smooth gray test picture with edges (gradients, a disc, a bar)."""
    y, x = np.mgrid[0:height, 0:width]
    img = 40 + 150 * x / width + 30 * np.sin(y / 9.0)
    img[(x - width * 0.6) ** 2 + (y - height * 0.4) ** 2 < (height / 4) ** 2] = 230
    img[int(height * 0.75) :, : width // 3] = 20
    return np.clip(img, 0, 255).astype(np.uint8)


# -- wire format -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 1, 127, 128, 150, 300, 2**31 - 1, 2**32, 2**63 - 1, -1, -(2**31)])
def test_varint_round_trip(value: int) -> None:
    data = encode_varint(value)
    decoded, end = decode_varint(data, 0)
    assert end == len(data)
    assert to_signed64(decoded) == value
    assert len(data) == (10 if value < 0 else max(1, (value.bit_length() + 6) // 7))


def test_known_encodings_from_the_protobuf_documentation() -> None:
    # Field 1 = 150 and field 2 = "testing": the textbook examples of the encoding.
    assert MessageWriter().varint(1, 150).to_bytes() == bytes.fromhex("089601")
    assert MessageWriter().string(2, "testing").to_bytes() == bytes.fromhex("120774657374696e67")
    assert MessageWriter().packed_varints(4, [3, 270, 86942]).to_bytes() == bytes.fromhex("2206038e029ea705")


def test_message_round_trip_with_nesting_and_packed_values() -> None:
    floats = np.linspace(-3.5, 7.25, 1001, dtype=np.float32)
    inner = MessageWriter().packed_varints(1, [1, 313, 56, 56]).varint(2, -7)
    msg = (
        MessageWriter()
        .string(1, "conv8_313 ü")
        .message(7, inner)
        .packed_floats(5, floats)
        .fixed_float(9, 2.606)
        .varint(3, 1)
    )
    data = msg.to_bytes()
    assert len(data) == msg.size
    fields = list(iter_fields(data))
    assert [(f.number, f.wire) for f in fields] == [(1, LEN), (7, LEN), (5, LEN), (9, FIXED32), (3, VARINT)]
    assert fields[0].as_str() == "conv8_313 ü"
    sub = list(iter_fields(fields[1].value))
    assert unpack_varints([sub[0]]) == [1, 313, 56, 56]
    assert sub[1].as_int() == -7
    np.testing.assert_array_equal(unpack_floats([fields[2]]), floats)
    assert fields[3].as_float() == pytest.approx(2.606, rel=1e-7)
    # Unpacked repeated floats (one fixed32 per value) read the same as a packed run.
    loose = MessageWriter().fixed_float(5, 1.5).fixed_float(5, -2.0).to_bytes()
    np.testing.assert_array_equal(unpack_floats(iter_fields(loose)), [1.5, -2.0])


def test_interoperates_with_googles_protobuf() -> None:
    onnx = pytest.importorskip("onnx")
    values = np.arange(12, dtype=np.float32) / 7
    ours = MessageWriter().packed_varints(1, [3, 4]).varint(2, 1).packed_floats(4, values).string(8, "w")
    theirs = onnx.TensorProto()
    theirs.ParseFromString(ours.to_bytes())
    assert list(theirs.dims) == [3, 4] and theirs.name == "w" and theirs.data_type == 1
    np.testing.assert_array_equal(np.array(theirs.float_data, np.float32), values)
    # And the other way round: Google's bytes through our reader.
    # (ONNX is proto2: dims come unpacked, one varint each, float_data packed.)
    fields = list(iter_fields(theirs.SerializeToString()))
    assert unpack_varints(f for f in fields if f.number == 1) == [3, 4]
    np.testing.assert_array_equal(unpack_floats(f for f in fields if f.number == 4), values)
    assert [f.as_str() for f in fields if f.number == 8] == ["w"]


def test_every_truncation_of_a_message_is_detected() -> None:
    data = MessageWriter().string(1, "abc").packed_floats(5, np.ones(4, np.float32)).varint(2, 300).to_bytes()
    boundaries = {0, 5, 5 + 18, len(data)}  # ends of whole fields parse (as fewer fields)
    for cut in range(len(data)):
        if cut in boundaries:
            list(iter_fields(data[:cut]))
            continue
        with pytest.raises(WireError):
            list(iter_fields(data[:cut]))


# -- prototxt --------------------------------------------------------------------------------


def test_prototxt_parser_reads_the_deploy_dialect() -> None:
    text = """
    name: "LtoAB"   # a comment
    layer { name: "data_l" type: "Input" top: "data_l"
            input_param { shape { dim: 1 dim: 1 dim: 224 dim: 224 } } }
    layer {
      name: "conv8_313_rh"  type: "Scale"  bottom: "conv8_313"  top: "conv8_313_rh"
      scale_param { bias_term: False filler { type: 'constant' value: 2.606 } }
    }
    """
    net = parse_prototxt(text)
    assert net["name"] == ["LtoAB"]
    data, scale = net["layer"]
    assert data["input_param"][0]["shape"][0]["dim"] == [1, 1, 224, 224]
    param = scale["scale_param"][0]
    assert param["bias_term"] == [False]
    assert param["filler"][0] == {"type": ["constant"], "value": [2.606]}
    with pytest.raises(ModelError):
        parse_prototxt("layer { name: 'x' ")


def test_deploy_prototxt_matches_the_layer_table_and_a_changed_one_is_named() -> None:
    text = deploy_prototxt(ZHANG_LAYERS)
    blocks = parse_prototxt(text)["layer"]
    check_prototxt(blocks, ZHANG_LAYERS)
    names = [b["name"][0] for b in blocks]
    assert names[:3] == ["data_l", "bw_conv1_1", "relu1_1"]
    assert names[-4:] == ["conv8_313_rh", "class8_313_rh", "class8_ab", "Silence"]
    assert sum(b["type"][0] == "BatchNorm" for b in blocks) == 7
    changed = tuple(dataclasses.replace(x, dilation=4) if x.name == "conv6_2" else x for x in ZHANG_LAYERS)
    broken = deploy_prototxt(changed)
    with pytest.raises(ModelError, match="conv6_2 has dilation 4, expected 2"):
        check_prototxt(parse_prototxt(broken)["layer"], ZHANG_LAYERS)


# -- caffemodel ------------------------------------------------------------------------------


def test_caffemodel_round_trip_keeps_names_wiring_and_weights(tmp_path: Path) -> None:
    prototxt, caffemodel = write_standin_caffe(tmp_path, seed=3, arch="tiny")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([PROTOTXT_NAME, caffemodel.name, BINS_NAME])
    np.testing.assert_array_equal(np.load(tmp_path / BINS_NAME), load_bins())
    layers = read_caffemodel(caffemodel)
    expected = layer_weights(TINY_LAYERS, 3)
    assert [(x.name, x.type, x.top) for x in layers] == [
        ("bw_conv1_1", "Convolution", ["conv1_1"]),
        ("conv2_1", "Convolution", ["conv2_1"]),
        ("conv3_1", "Convolution", ["conv3_1"]),
        ("conv8_313", "Convolution", ["conv8_313"]),
    ]
    assert layers[1].bottom == ["conv1_1"]
    for layer, table in zip(layers, TINY_LAYERS):
        assert len(layer.blobs) == 2
        for got, want in zip(layer.blobs, expected[table.name]):
            assert got.shape == want.shape
            np.testing.assert_array_equal(got, want)
    check_prototxt(read_prototxt(prototxt), TINY_LAYERS)


def test_legacy_blob_dimensions_and_v1_layers_are_read(tmp_path: Path) -> None:
    values = np.arange(6, dtype=np.float32)
    blob = MessageWriter().varint(1, 1).varint(2, 2).varint(3, 1).varint(4, 3).packed_floats(5, values)
    v1 = MessageWriter().string(4, "conv_old").varint(5, 4).string(2, "data").string(3, "conv_old").message(6, blob)
    path = tmp_path / "old.caffemodel"
    path.write_bytes(MessageWriter().string(1, "old").message(2, v1).to_bytes())
    (layer,) = read_caffemodel(path)
    assert (layer.name, layer.type, layer.bottom, layer.top) == ("conv_old", "Convolution", ["data"], ["conv_old"])
    np.testing.assert_array_equal(layer.blobs[0], values.reshape(1, 2, 1, 3))


def test_truncated_or_foreign_caffemodel_is_one_clear_model_error(tmp_path: Path) -> None:
    _, caffemodel = write_standin_caffe(tmp_path, seed=0, arch="tiny")
    data = caffemodel.read_bytes()
    cut = tmp_path / "cut.caffemodel"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="truncated or corrupt") as err:
        read_caffemodel(cut)
    assert "\n" not in str(err.value)
    text = tmp_path / "text.caffemodel"
    text.write_bytes(b'name: "LtoAB"\nlayer { name: "x" }\n')
    with pytest.raises(ModelError):
        read_caffemodel(text)
    with pytest.raises(ModelError, match="cannot read"):
        read_caffemodel(tmp_path / "missing.caffemodel")


def test_blob_whose_shape_disagrees_with_its_data_is_rejected(tmp_path: Path) -> None:
    path = write_caffemodel(tmp_path / "bad.caffemodel", [CaffeLayer("c", "Convolution", blobs=[np.ones((2, 3))])])
    data = path.read_bytes().replace(encode_varint(2) + encode_varint(3), encode_varint(2) + encode_varint(4))
    path.write_bytes(data)
    with pytest.raises(ModelError, match="shape"):
        read_caffemodel(path)


# -- cv2.dnn ---------------------------------------------------------------------------------


@needs_cv4
def test_caffe_standin_runs_in_opencv4_like_the_onnx_standin(tmp_path: Path) -> None:
    prototxt, _ = write_standin_caffe(tmp_path / "caffe", seed=1, arch="tiny")
    onnx_path = write_standin_onnx(tmp_path / "tiny.onnx", arch="tiny", seed=1)
    frames = [scene(), cv2.cvtColor(scene(97, 131), cv2.COLOR_GRAY2BGR)]
    caffe = Colorizer(spec_from_caffe(prototxt), device="cpu", backend="opencv")
    onnx = Colorizer(spec_from_path(onnx_path), device="cpu", temperature=caffe.temperature, backend="opencv")
    ab_caffe, ab_onnx = caffe.predict_ab(frames), onnx.predict_ab(frames)
    assert ab_caffe.shape == (2, 2, 56, 56)
    assert float(np.abs(ab_caffe).mean()) > 1.0  # real colour, not a constant
    assert float(np.abs(ab_caffe - ab_onnx).max()) < 0.05
    out = caffe.colorize(frames)
    assert out[0].shape == (150, 200, 3) and out[1].shape == (97, 131, 3)


@needs_cv4
def test_truncated_caffemodel_in_opencv4_is_a_model_error(tmp_path: Path) -> None:
    prototxt, caffemodel = write_standin_caffe(tmp_path, seed=0, arch="tiny")
    caffemodel.write_bytes(caffemodel.read_bytes()[:5000])
    with pytest.raises(ModelError, match="corrupt or truncated"):
        Colorizer(spec_from_caffe(prototxt), device="cpu", backend="opencv")


@needs_cv5
def test_caffe_model_on_opencv5_says_to_convert(tmp_path: Path) -> None:
    prototxt, _ = write_standin_caffe(tmp_path, seed=0, arch="tiny")
    with pytest.raises(ModelError) as err:
        Colorizer(spec_from_caffe(prototxt), device="cpu", backend="opencv")  # cv2.dnn's own Caffe reader
    message = str(err.value)
    assert "cannot read Caffe models" in message and "convert" in message
    assert "\n" not in message
