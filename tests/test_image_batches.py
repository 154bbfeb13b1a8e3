"""Photo folders run twice, resumed, with clashing names and with files that are not plain 8-bit."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.support.cli import run_main
from tests.support.media import chroma


def gray_photo(path: Path, shift: int = 0) -> Path:
    y, x = np.mgrid[0:60, 0:80]
    cv2.imwrite(str(path), ((x * 3 + y + shift) % 256).astype(np.uint8))
    return path


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    photos = tmp_path / "photos"
    photos.mkdir()
    gray_photo(photos / "a.jpg")
    gray_photo(photos / "b.png", 40)
    return photos


def image(capsys, *args: str) -> tuple[int, str, str]:
    return run_main(["image", *args], capsys)


def test_a_folder_run_twice_does_not_take_its_outputs_as_inputs(folder: Path, tiny_onnx: Path, capsys) -> None:
    code, out, err = image(capsys, str(folder), "-m", str(tiny_onnx))
    assert code == 0, err
    assert sorted(p.name for p in folder.iterdir()) == ["a.jpg", "a_colour.jpg", "b.png", "b_colour.png"]
    code, out, err = image(capsys, str(folder), "-m", str(tiny_onnx), "-y")
    assert code == 0, err
    assert out.count("->") == 2 and "_colour_colour" not in out
    assert sorted(p.name for p in folder.iterdir()) == ["a.jpg", "a_colour.jpg", "b.png", "b_colour.png"]


def test_n_resumes_a_folder(folder: Path, tiny_onnx: Path, capsys) -> None:
    code, _, err = image(capsys, str(folder), "-m", str(tiny_onnx))
    assert code == 0, err
    kept = (folder / "a_colour.jpg").read_bytes()
    (folder / "b_colour.png").unlink()
    gray_photo(folder / "c.jpg", 90)
    code, out, err = image(capsys, str(folder), "-m", str(tiny_onnx), "-n")
    assert code == 0, err
    assert "skipped 1" in err and out.count("->") == 2
    assert (folder / "a_colour.jpg").read_bytes() == kept
    assert chroma(cv2.imread(str(folder / "c_colour.jpg"))) > 3.0


def test_clashing_names_get_distinct_outputs(tmp_path: Path, tiny_onnx: Path, capsys) -> None:
    (tmp_path / "d1").mkdir()
    (tmp_path / "d2").mkdir()
    first = gray_photo(tmp_path / "d1" / "x.jpg")
    second = gray_photo(tmp_path / "d2" / "x.jpg", 120)
    out = tmp_path / "out"
    code, _, err = image(capsys, str(first), str(second), "-o", str(out), "-m", str(tiny_onnx))
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["x_colour.jpg", "x_colour_2.jpg"]
    a = cv2.imread(str(out / "x_colour.jpg"), cv2.IMREAD_GRAYSCALE).astype(int)
    b = cv2.imread(str(out / "x_colour_2.jpg"), cv2.IMREAD_GRAYSCALE).astype(int)
    assert np.abs(a - b).mean() > 10  # two different pictures, neither written over the other


def test_float_tiff_and_a_broken_file_do_not_stop_the_folder(folder: Path, tiny_onnx: Path, capsys) -> None:
    gradient = np.tile(np.linspace(0.0, 1.0, 80, dtype=np.float32), (60, 1))
    cv2.imwrite(str(folder / "scan.tif"), gradient)  # one-channel float32, 0..1
    (folder / "broken.png").write_bytes(b"\x89PNG truncated")
    code, out, err = image(capsys, str(folder), "-m", str(tiny_onnx))
    assert code == 1  # one photo failed, and the exit status says so
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1 and "broken.png" in errors[0] and "Traceback" not in err
    assert out.count("->") == 3
    scan = cv2.imread(str(folder / "scan_colour.tif"), cv2.IMREAD_UNCHANGED)
    assert scan.dtype == np.uint16 and scan.shape == (60, 80, 3)
    gray = cv2.cvtColor(scan, cv2.COLOR_BGR2GRAY).astype(np.float32) / 65535
    assert abs(float(gray[:, 0].mean())) < 0.1 and float(gray[:, -1].mean()) > 0.85  # the ramp survived
