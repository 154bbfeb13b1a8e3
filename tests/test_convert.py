"""The Caffe -> ONNX converter: same colours as the Caffe original, clear errors, no half-written files."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from stream_colorize.engine import Colorizer
from stream_colorize.errors import ModelError
from stream_colorize.models.caffe import (
    BINS_NAME,
    PROTOTXT_NAME,
    deploy_prototxt,
    read_caffemodel,
    standin_caffe_layers,
    write_caffemodel,
    write_standin_caffe,
)
from stream_colorize.models.convert import convert_caffe_to_onnx, expected_shapes, match_weights
from stream_colorize.models.spec import CAFFE_RECIPE_SCALE, spec_from_caffe, spec_from_path
from stream_colorize.models.standin import TINY_LAYERS, count_parameters, write_standin_onnx
from stream_colorize.models.zhang_arch import ZHANG_LAYERS
from tests.support.cli import needs_cv4

pytest.importorskip("onnx")


def scene(height: int = 150, width: int = 200) -> np.ndarray:
    """A smooth gray test picture with edges (gradients, a disc, a bar)."""
    y, x = np.mgrid[0:height, 0:width]
    img = 40 + 150 * x / width + 30 * np.sin(y / 9.0)
    img[(x - width * 0.6) ** 2 + (y - height * 0.4) ** 2 < (height / 4) ** 2] = 230
    img[int(height * 0.75) :, : width // 3] = 20
    return np.clip(img, 0, 255).astype(np.uint8)


def convert_folder(folder: Path, out: Path, layers=ZHANG_LAYERS) -> Path:
    caffemodel = next(folder.glob("*.caffemodel"))
    return convert_caffe_to_onnx(folder / PROTOTXT_NAME, caffemodel, folder / BINS_NAME, out, layers=layers)


@pytest.fixture(scope="module")
def zhang_caffe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Zhang-size Caffe stand-in (seed 0: the same weights as conftest's zhang_onnx)."""
    folder = tmp_path_factory.mktemp("zhang_caffe")
    write_standin_caffe(folder, seed=0)
    return folder


@pytest.fixture(scope="module")
def zhang_converted(zhang_caffe: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return convert_folder(zhang_caffe, tmp_path_factory.mktemp("converted") / "zhang2016.onnx")


def test_conversion_writes_model_sidecar_and_bins(zhang_caffe: Path, zhang_converted: Path) -> None:
    folder = zhang_converted.parent
    assert sorted(p.name for p in folder.iterdir()) == ["zhang2016.json", "zhang2016.onnx", "zhang2016_pts_in_hull.npy"]
    meta = json.loads((folder / "zhang2016.json").read_text())
    assert meta["output"] == "logits" and meta["bins"] == "zhang2016_pts_in_hull.npy"
    assert meta["temperature"] == pytest.approx(1 / CAFFE_RECIPE_SCALE)
    np.testing.assert_array_equal(np.load(folder / meta["bins"]), np.load(zhang_caffe / BINS_NAME))
    spec = spec_from_path(zhang_converted)
    assert spec.format == "onnx" and spec.temperature == pytest.approx(0.38373, abs=1e-5)
    assert spec.bins == folder / "zhang2016_pts_in_hull.npy"

    import onnx

    model = onnx.load(str(zhang_converted))
    assert [o.name for o in model.graph.output] == ["conv8_313"]
    weights = sum(int(np.prod(t.dims)) for t in model.graph.initializer if not t.name.split(".")[0].endswith("norm"))
    assert weights == count_parameters(ZHANG_LAYERS) == 32_230_393  # convolutions; Caffe also stores BN stats


def test_converted_model_gives_the_onnx_standins_colors(zhang_converted: Path, zhang_onnx: Path) -> None:
    """Both are ONNX with the same weights: runs on OpenCV 4 and 5 alike."""
    frames = [scene()]
    converted = Colorizer(spec_from_path(zhang_converted), device="cpu", backend="opencv")
    standin = Colorizer(spec_from_path(zhang_onnx), device="cpu", temperature=1 / CAFFE_RECIPE_SCALE, backend="opencv")
    ab_conv, ab_standin = converted.predict_ab(frames), standin.predict_ab(frames)
    assert float(np.abs(ab_conv).mean()) > 1.0
    assert float(np.abs(ab_conv - ab_standin).max()) < 1e-3


@needs_cv4
def test_converted_model_matches_the_caffe_original_in_opencv4(zhang_caffe: Path, zhang_converted: Path) -> None:
    frames = [scene(), cv2.cvtColor(scene(240, 320), cv2.COLOR_GRAY2BGR)]
    caffe = Colorizer(spec_from_caffe(zhang_caffe / PROTOTXT_NAME), device="cpu", backend="opencv")
    converted = Colorizer(spec_from_path(zhang_converted), device="cpu", backend="opencv")
    ab_caffe, ab_conv = caffe.predict_ab(frames), converted.predict_ab(frames)
    diff = float(np.abs(ab_caffe - ab_conv).max())
    print(f"max |ab| difference Caffe vs converted ONNX (OpenCV {cv2.__version__}): {diff:.5f}")
    assert ab_caffe.shape == ab_conv.shape == (2, 2, 56, 56)
    assert float(np.abs(ab_caffe).mean()) > 1.0
    assert diff < 0.05


def test_weights_are_checked_layer_by_layer(tmp_path: Path) -> None:
    layers = standin_caffe_layers(ZHANG_LAYERS, seed=0)
    assert set(match_weights(layers)) == set(expected_shapes())
    wrong = [
        dataclasses.replace(x, blobs=[np.zeros((512, 256, 3, 3), np.float32), x.blobs[1]]) if x.name == "conv5_1" else x
        for x in layers
    ]
    with pytest.raises(ModelError, match=r"layer conv5_1 has a blob of shape \(512, 256, 3, 3\), expected \(512, 512"):
        match_weights(wrong)
    with pytest.raises(ModelError, match="layer conv8_313 is missing"):
        match_weights([x for x in layers if x.name != "conv8_313"])
    with pytest.raises(ModelError, match="conv3_3norm has 2 weight blobs, expected 3"):
        match_weights([dataclasses.replace(x, blobs=x.blobs[:2]) if x.name == "conv3_3norm" else x for x in layers])


def test_tiny_network_converts_too(tmp_path: Path, tiny_onnx: Path) -> None:
    write_standin_caffe(tmp_path / "caffe", seed=1, arch="tiny")
    out = convert_folder(tmp_path / "caffe", tmp_path / "out" / "tiny.onnx", layers=TINY_LAYERS)
    frames = [scene()]
    ab = Colorizer(spec_from_path(out), device="cpu", backend="opencv").predict_ab(frames)
    ref = Colorizer(spec_from_path(tiny_onnx), device="cpu", temperature=1 / CAFFE_RECIPE_SCALE, backend="opencv")
    ref = ref.predict_ab(frames)
    assert float(np.abs(ab - ref).max()) < 1e-3


def _assert_nothing_written(out_dir: Path) -> None:
    assert not out_dir.exists() or list(out_dir.iterdir()) == []


def test_truncated_caffemodel_is_rejected_and_nothing_is_written(tmp_path: Path) -> None:
    _, caffemodel = write_standin_caffe(tmp_path / "caffe", seed=0, arch="tiny")
    data = caffemodel.read_bytes()
    caffemodel.write_bytes(data[: len(data) * 2 // 3])
    out = tmp_path / "out" / "tiny.onnx"
    with pytest.raises(ModelError, match="truncated or corrupt") as err:
        convert_folder(tmp_path / "caffe", out, layers=TINY_LAYERS)
    assert "\n" not in str(err.value) and caffemodel.name in str(err.value)
    _assert_nothing_written(out.parent)


def test_caffemodel_cut_at_a_layer_boundary_names_the_missing_layer(tmp_path: Path) -> None:
    folder = tmp_path / "caffe"
    write_standin_caffe(folder, seed=0, arch="tiny")
    layers = standin_caffe_layers(TINY_LAYERS, seed=0)[:2]
    write_caffemodel(next(folder.glob("*.caffemodel")), layers)
    assert len(read_caffemodel(next(folder.glob("*.caffemodel")))) == 2
    with pytest.raises(ModelError, match="layer conv3_1 is missing"):
        convert_folder(folder, tmp_path / "out" / "tiny.onnx", layers=TINY_LAYERS)
    _assert_nothing_written(tmp_path / "out")


def test_other_architecture_in_prototxt_is_rejected(tmp_path: Path) -> None:
    folder = tmp_path / "caffe"
    write_standin_caffe(folder, seed=0, arch="tiny")
    changed = tuple(dataclasses.replace(x, stride=1) if x.name == "conv2_1" else x for x in TINY_LAYERS)
    (folder / PROTOTXT_NAME).write_text(deploy_prototxt(changed))
    with pytest.raises(ModelError, match="layer conv2_1 has stride 1, expected 2"):
        convert_folder(folder, tmp_path / "out" / "tiny.onnx", layers=TINY_LAYERS)
    # The tiny stand-in is not Zhang's network: the check against ZHANG_LAYERS says so.
    write_standin_caffe(folder, seed=0, arch="tiny")
    with pytest.raises(ModelError, match="layer conv1_1 has num_output 8, expected 64"):
        convert_folder(folder, tmp_path / "out" / "tiny.onnx")
    _assert_nothing_written(tmp_path / "out")


def test_bad_bins_file_is_rejected(tmp_path: Path) -> None:
    folder = tmp_path / "caffe"
    write_standin_caffe(folder, seed=0, arch="tiny")
    np.save(folder / BINS_NAME, np.zeros((300, 2)))
    with pytest.raises(ModelError, match="expected 313 ab bin centres"):
        convert_folder(folder, tmp_path / "out" / "tiny.onnx", layers=TINY_LAYERS)
    (folder / BINS_NAME).write_bytes(b"not numpy")
    with pytest.raises(ModelError, match="cannot read bin centres"):
        convert_folder(folder, tmp_path / "out" / "tiny.onnx", layers=TINY_LAYERS)


def test_missing_onnx_package_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "caffe"
    write_standin_caffe(folder, seed=0, arch="tiny")
    monkeypatch.setitem(sys.modules, "onnx", None)  # makes 'import onnx' raise ImportError
    with pytest.raises(ModelError, match=r"needs the 'onnx' package: pip install 'stream-colorize\[convert\]'"):
        convert_folder(folder, tmp_path / "out" / "tiny.onnx", layers=TINY_LAYERS)
    _assert_nothing_written(tmp_path / "out")


def test_onnx_standin_and_caffe_standin_share_weights(tmp_path: Path) -> None:
    """The stand-in generators agree: the Caffe stand-in converted equals the ONNX stand-in, bit for bit."""
    import onnx
    from onnx import numpy_helper

    write_standin_caffe(tmp_path / "caffe", seed=5, arch="tiny")
    converted = onnx.load(str(convert_folder(tmp_path / "caffe", tmp_path / "c.onnx", layers=TINY_LAYERS)))
    standin = onnx.load(str(write_standin_onnx(tmp_path / "s.onnx", arch="tiny", seed=5)))
    a = {t.name: numpy_helper.to_array(t) for t in converted.graph.initializer}
    b = {t.name: numpy_helper.to_array(t) for t in standin.graph.initializer}
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
