"""`stream-colorize image` as a user runs it: a subprocess on real image files."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.support.media import make_clip


def run_cli(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, STREAM_COLORIZE_HOME=str(home))
    return subprocess.run(
        [sys.executable, "-m", "stream_colorize", *args], capture_output=True, text=True, env=env, timeout=300
    )


def assert_one_line_error(run: subprocess.CompletedProcess, needle: str) -> None:
    assert run.returncode != 0
    assert "Traceback" not in run.stderr
    errors = [line for line in run.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and needle in errors[0], run.stderr


@pytest.fixture()
def photo(tmp_path: Path) -> Path:
    y, x = np.mgrid[0:90, 0:130]
    gray = ((x * 2 + y) % 256).astype(np.uint8)
    path = tmp_path / "photo.jpg"
    cv2.imwrite(str(path), gray)
    return path


@pytest.fixture()
def model(tiny_onnx: Path) -> str:
    return str(tiny_onnx)


def chroma(image: np.ndarray) -> float:
    lab = cv2.cvtColor(image, cv2.COLOR_BGR2Lab).astype(np.float32)
    return float(np.hypot(lab[:, :, 1] - 128, lab[:, :, 2] - 128).mean())


def test_colorizes_a_photo_beside_it(photo: Path, model: str, tmp_path: Path) -> None:
    before = photo.read_bytes()
    run = run_cli("image", str(photo), "--model", model, home=tmp_path)
    assert run.returncode == 0, run.stderr
    out = cv2.imread(str(tmp_path / "photo_colour.jpg"))
    assert out.shape == (90, 130, 3) and chroma(out) > 3.0
    assert photo.read_bytes() == before


def test_quiet_writes_the_photo_and_says_nothing(photo: Path, model: str, tmp_path: Path) -> None:
    """``-q`` as on ``video``: no 'IN -> OUT' line, the photo written all the same."""
    out = tmp_path / "quiet.png"
    run = run_cli("image", str(photo), "-o", str(out), "--model", model, "-q", home=tmp_path)
    assert run.returncode == 0 and run.stdout == "" and run.stderr == "", run.stderr
    assert chroma(cv2.imread(str(out))) > 3.0


def test_refuses_existing_output_then_overwrites_with_y(photo: Path, model: str, tmp_path: Path) -> None:
    target = tmp_path / "out.png"
    target.write_bytes(b"keep me")
    run = run_cli("image", str(photo), "-m", model, "-o", str(target), home=tmp_path)
    assert_one_line_error(run, "already exists")
    assert target.read_bytes() == b"keep me"
    run = run_cli("image", str(photo), "-m", model, "-o", str(target), "-y", home=tmp_path)
    assert run.returncode == 0, run.stderr
    assert cv2.imread(str(target)).shape == (90, 130, 3)


def test_never_writes_over_its_input(photo: Path, model: str, tmp_path: Path) -> None:
    before = photo.read_bytes()
    run = run_cli("image", str(photo), "-m", model, "-o", str(photo), "-y", home=tmp_path)
    assert_one_line_error(run, "is the input itself")
    assert photo.read_bytes() == before


def test_folder_in_folder_out_with_side_by_side(photo: Path, model: str, tmp_path: Path) -> None:
    cv2.imwrite(str(photo.parent / "second.png"), np.full((40, 50), 99, np.uint8))
    out_dir = tmp_path / "results"
    run = run_cli("image", str(photo.parent), "-m", model, "-o", str(out_dir), "--side-by-side", home=tmp_path)
    assert run.returncode == 0, run.stderr
    assert cv2.imread(str(out_dir / "photo_colour.jpg")).shape == (90, 260, 3)
    assert cv2.imread(str(out_dir / "second_colour.png")).shape == (40, 100, 3)


@pytest.mark.parametrize(
    ("setup", "needle"),
    [
        ("missing", "not found"),
        ("not_image", "is not an image"),
        ("empty_dir", "holds no images"),
        ("film", "use 'stream-colorize video'"),
    ],
)
def test_bad_inputs_give_one_line(setup: str, needle: str, model: str, tmp_path: Path) -> None:
    target = tmp_path / "input.jpg"
    if setup == "not_image":
        target.write_text("this is text, not a JPEG")
    elif setup == "empty_dir":
        target = tmp_path / "empty"
        target.mkdir()
    elif setup == "film":
        target = make_clip(tmp_path / "reel.mp4", seconds=0.2, audio=0)
    run = run_cli("image", str(target), "-m", model, "-o", str(tmp_path / "o.png"), home=tmp_path)
    assert_one_line_error(run, needle)
    assert not (tmp_path / "o.png").exists()


def test_unknown_and_corrupt_models(photo: Path, tmp_path: Path) -> None:
    assert_one_line_error(run_cli("image", str(photo), "-m", "nosuchmodel", home=tmp_path), "unknown model")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\x08\x07garbage" * 50)
    assert_one_line_error(run_cli("image", str(photo), "-m", str(broken), home=tmp_path), "corrupt or truncated")
    assert not (tmp_path / "photo_colour.jpg").exists()


def test_sixteen_bit_scans_stay_sixteen_bit(model: str, tmp_path: Path) -> None:
    # A smooth 16-bit ramp: 8 bits would leave at most 256 levels; the output must keep more.
    ramp = np.linspace(9000, 40000, 120 * 160).reshape(120, 160).astype(np.uint16)
    scan = tmp_path / "scan.png"
    cv2.imwrite(str(scan), ramp)
    run = run_cli("image", str(scan), "-m", model, "-o", str(tmp_path / "out.png"), home=tmp_path)
    assert run.returncode == 0, run.stderr
    out = cv2.imread(str(tmp_path / "out.png"), cv2.IMREAD_UNCHANGED)
    assert out.dtype == np.uint16 and out.shape == (120, 160, 3)
    out8 = (out // 257).astype(np.uint8)
    assert chroma(out8) > 3.0  # colour was added
    light = cv2.cvtColor(out.astype(np.float32) / 65535, cv2.COLOR_BGR2Lab)[:, :, 0]
    truth = cv2.cvtColor(cv2.cvtColor(ramp.astype(np.float32) / 65535, cv2.COLOR_GRAY2BGR), cv2.COLOR_BGR2Lab)[:, :, 0]
    assert np.abs(light - truth).max() < 1.5  # the scan's own lightness, to within gamut clipping
    assert len(np.unique(out[:, :, 1])) > 1000
    run = run_cli("image", str(scan), "-m", model, "-o", str(tmp_path / "out.jpg"), home=tmp_path)
    assert run.returncode == 0, run.stderr  # JPEG holds 8 bits: converted, not refused
    assert cv2.imread(str(tmp_path / "out.jpg"), cv2.IMREAD_UNCHANGED).dtype == np.uint8


def test_transparency_is_kept_where_the_format_holds_it(model: str, tmp_path: Path) -> None:
    y, x = np.mgrid[0:80, 0:100]
    gray = ((x * 2 + y) % 256).astype(np.uint8)
    alpha = (x * 255 // 99).astype(np.uint8)
    src = tmp_path / "cutout.png"
    cv2.imwrite(str(src), cv2.merge([gray, gray, gray, alpha]))
    run = run_cli("image", str(src), "-m", model, "-o", str(tmp_path / "out.png"), home=tmp_path)
    assert run.returncode == 0, run.stderr
    out = cv2.imread(str(tmp_path / "out.png"), cv2.IMREAD_UNCHANGED)
    assert out.shape == (80, 100, 4) and np.array_equal(out[:, :, 3], alpha)
    assert chroma(np.ascontiguousarray(out[:, :, :3])) > 3.0
    run = run_cli("image", str(src), "-m", model, "-o", str(tmp_path / "out.jpg"), home=tmp_path)
    assert run.returncode == 0, run.stderr
    assert cv2.imread(str(tmp_path / "out.jpg"), cv2.IMREAD_UNCHANGED).shape == (80, 100, 3)


def with_exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    """The JPEG with an EXIF segment holding only the Orientation tag (as phone cameras write it)."""
    ifd = struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0)
    app1 = b"Exif\x00\x00" + b"MM\x00\x2a" + struct.pack(">I", 8) + ifd
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpeg[2:]


def test_exif_orientation_is_applied(model: str, tmp_path: Path) -> None:
    upright = np.zeros((80, 120), np.uint8)
    upright[:, :20] = 255  # a bright band on the left edge as stored
    ok, jpeg = cv2.imencode(".jpg", upright)
    src = tmp_path / "phone.jpg"
    src.write_bytes(with_exif_orientation(jpeg.tobytes(), 6))  # 6: show rotated 90° clockwise
    run = run_cli("image", str(src), "-m", model, "-o", str(tmp_path / "out.png"), home=tmp_path)
    assert run.returncode == 0, run.stderr
    out = cv2.cvtColor(cv2.imread(str(tmp_path / "out.png")), cv2.COLOR_BGR2GRAY)
    assert out.shape == (120, 80)
    assert out[:20].mean() > 200 and out[40:].mean() < 60  # the band is now along the top
