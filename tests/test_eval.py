"""``stream-colorize eval`` and the quality metrics, on cases where the answer is known."""

from __future__ import annotations

import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from stream_colorize.evaluate import evaluate_pairs, psnr, ssim, to_gray
from stream_colorize.imagestats import colorfulness
from stream_colorize.video_metrics import flicker
from tests.support.cli import run_main


def color_photo(seed: int, size: tuple[int, int] = (96, 128)) -> np.ndarray:
    """A smooth, colourful synthetic 'photo' with some texture."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)
    img = cv2.resize(small, size[::-1], interpolation=cv2.INTER_CUBIC)
    noise = rng.normal(0, 6, img.shape)
    return np.clip(img + noise, 0, 255).astype(np.uint8)


def test_truth_as_its_own_prediction_is_perfect():
    photos = [color_photo(i) for i in range(3)]
    report = evaluate_pairs(photos, photos)
    assert report["psnr"] == 100.0  # identical images: infinite PSNR, counted as 100 dB
    assert report["ssim"] == pytest.approx(1.0)
    assert report["colourfulness_ratio"] == pytest.approx(1.0)
    assert report["psnr_gray"] < 40  # the gray baseline of a colourful photo is far from it
    assert report["psnr_gain"] > 20


def test_gray_prediction_matches_the_gray_baseline():
    photos = [color_photo(i) for i in range(3)]
    grays = [cv2.cvtColor(to_gray(p), cv2.COLOR_GRAY2BGR) for p in photos]
    report = evaluate_pairs(grays, photos)
    assert abs(report["psnr_gain"]) < 0.3  # gray BGR and the ab = 0 merge differ only by rounding
    assert report["colourfulness_ratio"] < 0.05


def test_metric_definitions():
    a = np.full((32, 32, 3), 100, np.uint8)
    b = a.copy()
    b[0, 0, 0] = 110
    assert psnr(a, a) == float("inf")
    mse = 100 / (32 * 32 * 3)
    assert psnr(b, a) == pytest.approx(10 * np.log10(255**2 / mse))
    assert ssim(a, a) == pytest.approx(1.0)
    assert colorfulness(a) == 0.0
    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 2] = 255
    assert colorfulness(red) == pytest.approx(0.3 * np.hypot(255, 127.5))
    assert flicker([a, a, a]) == 0.0
    assert flicker([a, red]) > 50


def test_eval_cli_on_a_folder(tmp_path: Path, tiny_onnx: Path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"p{i}.png"), color_photo(i))
    code, out, err = run_main(["eval", str(folder), "--model", str(tiny_onnx), "--json"], capsys)
    assert code == 0, err
    report = json.loads(out)["images"]
    assert report["images"] == 3
    assert np.isfinite(report["psnr"]) and np.isfinite(report["psnr_gray"])
    assert 0 < report["ssim"] <= 1
    code, out, err = run_main(["eval", str(folder), "--model", str(tiny_onnx)], capsys)
    assert code == 0 and "PSNR" in out and "gray baseline" in out and "colourfulness" in out


def test_eval_cli_per_image_table(tmp_path: Path, tiny_onnx: Path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"p{i}.png"), color_photo(i))
    code, out, err = run_main(["eval", str(folder), "--model", str(tiny_onnx), "--json", "--per-image"], capsys)
    assert code == 0, err
    report = json.loads(out)["images"]
    rows = report["per_image"]
    assert sorted(r["name"] for r in rows) == ["p0.png", "p1.png", "p2.png"]
    gains = [r["psnr_gain"] for r in rows]
    assert gains == sorted(gains)  # worst first
    assert np.isclose(np.mean(gains), report["psnr_gain"])
    assert all(np.isclose(r["psnr"] - r["psnr_gray"], r["psnr_gain"]) for r in rows)
    code, out, err = run_main(["eval", str(folder), "--model", str(tiny_onnx), "--per-image"], capsys)
    assert code == 0 and "worst PSNR gain first" in out and all(f"p{i}.png" in out for i in range(3))
    code, out, err = run_main(["eval", str(folder), "--model", str(tiny_onnx), "--json"], capsys)
    assert "per_image" not in json.loads(out)["images"]


def test_eval_cli_rejects_gray_photos_and_missing_input(tmp_path: Path, tiny_onnx: Path, capsys):
    folder = tmp_path / "gray"
    folder.mkdir()
    cv2.imwrite(str(folder / "g.png"), to_gray(color_photo(0)))
    code, _, err = run_main(["eval", str(folder), "--model", str(tiny_onnx)], capsys)
    assert code == 1 and "no colour photos" in err and err.count("error:") == 1
    code, _, err = run_main(["eval", "--model", str(tiny_onnx)], capsys)
    assert code == 1 and "give a folder" in err
    code, _, err = run_main(["eval", "--video", str(tmp_path / "none.mp4"), "--model", str(tiny_onnx)], capsys)
    assert code == 1 and "not found" in err


def write_video(path: Path, frames: list[np.ndarray], fps: int = 10) -> None:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "yuv444p"
        stream.options = {"crf": "10"}
        for f in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(f, format="bgr24")))
        out.mux(stream.encode())


def test_eval_of_black_and_white_footage_is_one_line_and_json_has_no_nan(tmp_path: Path, tiny_onnx: Path, capsys):
    gray = cv2.cvtColor(to_gray(color_photo(3, (64, 96))), cv2.COLOR_GRAY2BGR)
    write_video(tmp_path / "bw.mp4", [np.roll(gray, 4 * i, axis=1) for i in range(6)])
    args = ["eval", "--video", str(tmp_path / "bw.mp4"), "--model", str(tiny_onnx), "--json"]
    code, out, err = run_main(args, capsys)
    assert code == 1 and out == "" and err.count("error:") == 1 and "black and white" in err, err
    # a colour photo whose truth has no near-neutral pixel: its false-colour rate is null in JSON, not NaN
    folder = tmp_path / "vivid"
    folder.mkdir()
    red = np.zeros((64, 64, 3), np.uint8)
    red[:, :, 2] = 220
    cv2.imwrite(str(folder / "red.png"), red)
    code, out, err = run_main(["eval", str(folder), "--model", str(tiny_onnx), "--json"], capsys)
    assert code == 0, err
    report = json.loads(out, parse_constant=lambda c: pytest.fail(f"{c} in the JSON"))["images"]
    assert report["false_colour_rate"] is None and report["images"] == 1


def test_eval_cli_video_flicker(tmp_path: Path, tiny_onnx: Path, capsys):
    still = color_photo(3, (64, 96))
    moving = [np.roll(still, 8 * i, axis=1) for i in range(6)]
    write_video(tmp_path / "still.mp4", [still] * 6)
    write_video(tmp_path / "moving.mp4", moving)
    code, out, err = run_main(
        ["eval", "--video", str(tmp_path / "still.mp4"), "--model", str(tiny_onnx), "--json"], capsys
    )
    assert code == 0, err
    still_report = json.loads(out)["video"]
    assert still_report["frames"] == 6
    assert still_report["flicker_truth"] < 0.2  # a still shot barely changes (codec noise only)
    assert still_report["flicker"] < 0.5  # the same gray frame gets the same colours
    code, out, err = run_main(
        ["eval", "--video", str(tmp_path / "moving.mp4"), "--model", str(tiny_onnx), "--json"], capsys
    )
    assert code == 0, err
    assert json.loads(out)["video"]["flicker_truth"] > 1.0
    # A slow pan (no scene cut): the pipeline's smoothing calms frame-to-frame colour changes.
    write_video(tmp_path / "pan.mp4", [np.roll(still, 2 * i, axis=1) for i in range(8)])
    raw = {}
    for smooth in ("0", "0.8"):
        args = ["eval", "--video", str(tmp_path / "pan.mp4"), "--model", str(tiny_onnx), "--smooth", smooth]
        code, out, err = run_main([*args, "--json"], capsys)
        assert code == 0, err
        raw[smooth] = json.loads(out)["video"]["flicker"]
    assert raw["0.8"] < 0.8 * raw["0"]


def test_eval_streams_skips_unreadable_files_and_counts_gray_ones(tmp_path: Path, tiny_onnx: Path, capsys):
    folder = tmp_path / "mixed"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), color_photo(0))
    cv2.imwrite(str(folder / "b_gray.png"), to_gray(color_photo(1)))
    (folder / "c_fake.jpg").write_bytes(b"not a picture")
    float_photo = color_photo(2).astype(np.float32) / 255  # a float TIFF, as `image` reads it
    assert cv2.imwrite(str(folder / "d_float.tif"), float_photo)
    code, out, err = run_main(["eval", str(folder), "--model", str(tiny_onnx), "--json", "--per-image"], capsys)
    assert code == 0, err
    report = json.loads(out)["images"]
    assert report["images"] == 2 and isinstance(report["images"], int)
    assert sorted(r["name"] for r in report["per_image"]) == ["a.png", "d_float.tif"]
    assert "c_fake.jpg is not an image OpenCV can read; skipped" in err
    assert "skipped 1 unreadable file(s)" in err and "left out 1 gray photo(s)" in err
    assert "error:" not in err
    (folder / "a.png").unlink()
    (folder / "d_float.tif").unlink()
    code, _, err = run_main(["eval", str(folder), "--model", str(tiny_onnx)], capsys)
    assert code == 1 and "no colour photos (1 gray, 1 unreadable left out)" in err and err.count("error:") == 1


def test_eval_measures_large_photos_scaled_down_and_keeps_no_photo(monkeypatch, tmp_path: Path, tiny_onnx: Path,
                                                                   capsys):  # fmt: skip
    from stream_colorize import evaluate
    from stream_colorize.engine import Colorizer

    folder = tmp_path / "big"
    folder.mkdir()
    big = color_photo(3, (192, 256))
    cv2.imwrite(str(folder / "big.png"), big)
    monkeypatch.setattr(evaluate, "MEASURE_PIXELS", 96 * 128)
    small = evaluate.measured(big)
    assert small.shape == (96, 128, 3)
    assert np.abs(small.astype(int) - cv2.resize(big, (128, 96), interpolation=cv2.INTER_AREA)).max() == 0
    code, out, err = run_main(["eval", str(folder), "--model", str(tiny_onnx), "--json"], capsys)
    assert code == 0, err
    assert err.count("measured on a copy scaled down") == 1
    engine = Colorizer(str(tiny_onnx), device="cpu")
    expected = evaluate.evaluate_images(engine, [small])
    assert json.loads(out)["images"]["psnr"] == pytest.approx(expected["psnr"], abs=1e-9)
    names: list[str] = []

    def photos():  # a generator naming each photo as it reads it: names are read at the end
        for i in range(3):
            names.append(f"p{i}")
            yield color_photo(i)

    report = evaluate.evaluate_images(engine, photos(), names)
    assert report["images"] == 3 and sorted(r["name"] for r in report["per_image"]) == ["p0", "p1", "p2"]


def test_ssim_in_float32_matches_float64() -> None:
    def ssim64(result: np.ndarray, truth: np.ndarray) -> float:
        c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
        scores = []
        for ch in range(3):
            a, b = result[:, :, ch].astype(np.float64), truth[:, :, ch].astype(np.float64)

            def blur(img: np.ndarray) -> np.ndarray:
                return cv2.GaussianBlur(img, (11, 11), 1.5)

            mu_a, mu_b = blur(a), blur(b)
            var_a, var_b, cov = blur(a * a) - mu_a**2, blur(b * b) - mu_b**2, blur(a * b) - mu_a * mu_b
            num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
            scores.append(float(np.mean(num / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)))))
        return float(np.mean(scores))

    for seed in range(3):
        truth = color_photo(seed, (200, 300))
        result = cv2.GaussianBlur(truth, (5, 5), 2)
        assert abs(ssim(result, truth) - ssim64(result, truth)) < 1e-5
