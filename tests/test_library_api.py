"""The library as another program uses it: ``import stream_colorize`` and three calls, on real media."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

import stream_colorize
from stream_colorize.config import Settings
from tests.support.media import chroma, packet_hashes, probe_frame_count, video_frames

SAMPLE = Path(stream_colorize.__file__).parent / "data" / "sample.mp4"


def sample_frame(index: int = 40) -> np.ndarray:
    """A gray frame of the bundled sample (real photographs, not a test pattern)."""
    return cv2.cvtColor(video_frames(SAMPLE, limit=index + 1)[index], cv2.COLOR_BGR2GRAY)


def test_colorize_file_keeps_sound_and_adds_color(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    out = tmp_path / "colour.mp4"
    result = stream_colorize.colorize_file(SAMPLE, out, Settings(duration=1.0))
    assert result.output == out and result.frames == 25 == probe_frame_count(out)
    frames = video_frames(out)
    assert np.mean([chroma(f) for f in frames]) > 3.0  # the input is neutral gray (chroma < 1)
    copied = packet_hashes(out)[0]
    original = packet_hashes(SAMPLE)[0]
    assert copied and copied == original[: len(copied)]  # audio packets byte for byte
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""  # the library prints nothing


def test_colorize_file_reports_progress_through_a_callback(tmp_path: Path) -> None:
    ticks: list[int] = []
    stream_colorize.colorize_file(
        SAMPLE, tmp_path / "c.mkv", Settings(duration=0.6), on_tick=lambda c: ticks.append(c.written)
    )
    assert ticks and ticks[-1] == 15 and ticks == sorted(ticks)


def test_colorize_image_keeps_16_bits_and_alpha(tmp_path: Path) -> None:
    gray16 = sample_frame().astype(np.uint16) * 257 + 100  # deep data below the 8-bit steps
    alpha = np.full(gray16.shape, 65535, np.uint16)
    alpha[:, :40] = 0
    src = tmp_path / "scan.png"
    cv2.imwrite(str(src), np.dstack([gray16, gray16, gray16, alpha]))
    out = stream_colorize.colorize_image(src, tmp_path / "scan_colour.png")
    color = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert color.dtype == np.uint16 and color.shape == (*gray16.shape, 4)
    assert np.array_equal(color[:, :, 3], alpha)
    assert chroma((color[:, :, :3] // 257).astype(np.uint8)) > 3.0
    def lightness(bgr16: np.ndarray) -> np.ndarray:
        return cv2.cvtColor(bgr16.astype(np.float32) / 65535, cv2.COLOR_BGR2Lab)[:, :, 0]

    gray3 = np.dstack([gray16] * 3)
    assert np.abs(lightness(color[:, :, :3]) - lightness(gray3)).mean() < 0.5  # L comes from the input


def test_one_colorizer_for_many_frames() -> None:
    engine = stream_colorize.Colorizer("default")
    gray = sample_frame()
    color = engine.colorize([gray, cv2.flip(gray, 1)])
    assert [c.shape for c in color] == [(*gray.shape, 3)] * 2 and color[0].dtype == np.uint8
    assert chroma(color[0]) > 3.0


def test_errors_are_also_the_builtins_they_mean(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="input not found"):
        stream_colorize.colorize_file(tmp_path / "missing.mp4", tmp_path / "out.mp4")
    with pytest.raises(FileNotFoundError, match="input not found"):
        stream_colorize.colorize_image(tmp_path / "missing.png", tmp_path / "out.png")
    with pytest.raises(stream_colorize.InputNotFoundError):
        stream_colorize.colorize_image(tmp_path / "missing.png", tmp_path / "out.png")
    photo = tmp_path / "p.png"
    cv2.imwrite(str(photo), sample_frame())
    with pytest.raises(ValueError, match="cannot write '.xyz' images"):
        stream_colorize.colorize_image(photo, tmp_path / "out.xyz")
    taken = tmp_path / "taken.png"
    taken.write_bytes(b"keep me")
    with pytest.raises(stream_colorize.UsageError, match="exists"):
        stream_colorize.colorize_image(photo, taken, overwrite=False)
    assert taken.read_bytes() == b"keep me"
    with pytest.raises(FileNotFoundError, match="model file not found"):
        stream_colorize.Colorizer(tmp_path / "nothing.onnx")
    with pytest.raises(stream_colorize.ModelError, match="unknown model"):
        stream_colorize.Colorizer("no-such-model")


def test_version_comes_from_the_package_metadata() -> None:
    from importlib.metadata import version

    assert stream_colorize.__version__ == version("stream-colorize")
    text = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert f'version = "{stream_colorize.__version__}"' in text


def test_import_is_light_and_typed() -> None:
    """The package imports without OpenCV/PyAV (they load on first use) and ships py.typed."""
    code = "import sys, stream_colorize; print('cv2' in sys.modules, 'av' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
    assert (Path(stream_colorize.__file__).parent / "py.typed").is_file()
