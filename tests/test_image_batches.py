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


def test_a_link_to_nothing_in_a_folder_is_named_not_silently_skipped(folder: Path, tiny_onnx: Path, capsys) -> None:
    (folder / "gone.jpg").symlink_to(folder / "moved-away.jpg")
    code, out, err = image(capsys, str(folder), "-m", str(tiny_onnx))
    assert code == 0 and out.count("->") == 2, err
    assert "gone.jpg" in err and "link to nothing" in err and "error:" not in err


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


def animated_gif(path: Path, frames: int = 3, size: tuple[int, int] = (48, 64)) -> Path:
    """A gray animated GIF of ``frames`` frames (PyAV's GIF encoder)."""
    from fractions import Fraction

    import av

    with av.open(str(path), "w", format="gif") as out:
        stream = out.add_stream("gif", rate=5)
        stream.width, stream.height, stream.pix_fmt = size[1], size[0], "rgb8"
        y, x = np.mgrid[0 : size[0], 0 : size[1]]
        for i in range(frames):
            gray = ((x * 3 + y * 2 + 40 * i) % 256).astype(np.uint8)
            rgb = av.VideoFrame.from_ndarray(cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB), format="rgb24")
            frame = rgb.reformat(format="rgb8")
            frame.pts, frame.time_base = i, Fraction(1, 5)
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


def test_a_folder_of_gifs_is_colorized_and_animations_are_named(tmp_path: Path, tiny_onnx: Path, capsys) -> None:
    folder = tmp_path / "gifs"
    folder.mkdir()
    animated_gif(folder / "anim.gif")
    code, out, err = image(capsys, str(folder), "-m", str(tiny_onnx), "-o", str(tmp_path / "out"))
    assert code == 0, err
    result = cv2.imread(str(tmp_path / "out" / "anim_colour.gif"))
    assert result.shape == (48, 64, 3) and chroma(result) > 3.0
    notes = [line for line in err.splitlines() if "note:" in line]
    assert len(notes) == 1 and "holds 3 frames" in notes[0] and "stream-colorize video" in notes[0]
    code, _, err = image(capsys, str(gray_photo(tmp_path / "still.png")), "-m", str(tiny_onnx))
    assert code == 0 and "note:" not in err


def test_multi_page_tiff_says_only_the_first_page_is_colorized(tmp_path: Path, tiny_onnx: Path, capsys) -> None:
    pages = [np.full((30, 40, 3), level, np.uint8) for level in (60, 180)]
    assert cv2.imwritemulti(str(tmp_path / "pages.tif"), pages)
    code, _, err = image(capsys, str(tmp_path / "pages.tif"), "-m", str(tiny_onnx), "-o", str(tmp_path / "o.png"))
    assert code == 0, err
    assert "holds 2 pages; only the first" in err
    light = cv2.cvtColor(cv2.imread(str(tmp_path / "o.png")), cv2.COLOR_BGR2Lab)[:, :, 0].mean()
    assert abs(light - cv2.cvtColor(pages[0], cv2.COLOR_BGR2Lab)[:, :, 0].mean()) < 4  # the first page's


def one_error(code: int, err: str, needle: str) -> None:
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1 and lines[0].startswith("stream-colorize: error:"), err
    assert needle in lines[0], err


def test_gray_only_formats_are_not_offered_or_written(tmp_path: Path, tiny_onnx: Path, capsys) -> None:
    src = gray_photo(tmp_path / "a.png")
    for name in ("out.pgm", "out.pbm"):
        code, _, err = image(capsys, str(src), "-m", str(tiny_onnx), "-o", str(tmp_path / name))
        one_error(code, err, "holds gray pictures only")
        assert ".png" in err and ".pgm" not in err.split("use one of")[1] and not (tmp_path / name).exists()
    code, _, err = image(capsys, str(src), "-m", str(tiny_onnx), "-o", str(tmp_path / "out.xyz"))
    one_error(code, err, "cannot write '.xyz'")
    assert ".pgm" not in err and ".pbm" not in err and ".gif" in err
    cv2.imwrite(str(tmp_path / "g.pgm"), cv2.imread(str(src), cv2.IMREAD_GRAYSCALE))  # still read as input
    code, _, err = image(capsys, str(tmp_path / "g.pgm"), "-m", str(tiny_onnx), "--format", "png")
    assert code == 0, err
    assert chroma(cv2.imread(str(tmp_path / "g_colour.png"))) > 3.0


def test_format_is_checked_even_with_a_named_output(tmp_path: Path, tiny_onnx: Path, capsys) -> None:
    src = gray_photo(tmp_path / "a.png")
    out = tmp_path / "z3.png"
    code, _, err = image(capsys, str(src), "-m", str(tiny_onnx), "-o", str(out), "--format", "xyz")
    one_error(code, err, "--format xyz: cannot write '.xyz' images")
    code, _, err = image(capsys, str(src), "-m", str(tiny_onnx), "-o", str(out), "--format", "jpg")
    one_error(code, err, "--format jpg disagrees with -o z3.png")
    assert not out.exists()
    code, _, err = image(capsys, str(src), "-m", str(tiny_onnx), "-o", str(out), "--format", ".PNG")
    assert code == 0, err
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_several_inputs_to_a_file_name_or_through_a_file_are_refused(
    folder: Path, tmp_path: Path, tiny_onnx: Path, capsys
) -> None:
    inputs = [str(folder / "a.jpg"), str(folder / "b.png")]
    code, _, err = image(capsys, *inputs, "-m", str(tiny_onnx), "-o", str(tmp_path / "two.png"))
    one_error(code, err, "names a file, and there are 2 inputs")
    assert not (tmp_path / "two.png").exists()
    (tmp_path / "afile").write_text("x")
    code, _, err = image(capsys, inputs[0], "-m", str(tiny_onnx), "-o", str(tmp_path / "afile" / "out.png"))
    one_error(code, err, "afile is a file, not a folder")
    code, _, err = image(capsys, *inputs, "-m", str(tiny_onnx), "-o", str(tmp_path / "afile" / "sub"))
    one_error(code, err, "afile is a file, not a folder")
    code, _, err = image(capsys, *inputs, "-m", str(tiny_onnx), "-o", str(tmp_path / "new"))
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == ["a_colour.jpg", "b_colour.png"]


def test_deep_photos_with_transparency_have_their_own_limit(tmp_path: Path, monkeypatch) -> None:
    from stream_colorize import limits
    from stream_colorize.errors import MediaError
    from stream_colorize.photo import read_photo

    y, x = np.mgrid[0:40, 0:50]
    gray16 = ((x * 1000 + y * 300) % 65536).astype(np.uint16)
    alpha16 = np.full((40, 50), 40000, np.uint16)
    cv2.imwrite(str(tmp_path / "deep.png"), np.dstack([gray16, gray16, gray16, alpha16]))
    cv2.imwrite(str(tmp_path / "flat.png"), np.dstack([gray16 >> 8] * 3 + [alpha16 >> 8]).astype(np.uint8))
    cv2.imwrite(str(tmp_path / "opaque16.png"), np.dstack([gray16] * 3))
    photo = read_photo(tmp_path / "deep.png")
    assert photo.pixels.dtype == np.uint16 and np.array_equal(photo.alpha, alpha16)
    assert photo.alpha is not None and photo.alpha.base is None  # a copy, not a view of the whole decode
    monkeypatch.setattr(limits, "MAX_DEEP_ALPHA_PHOTO_PIXELS", 1000)
    with pytest.raises(MediaError, match="16-bit photo with transparency of 50x40.*transparency costs more memory"):
        read_photo(tmp_path / "deep.png")
    assert read_photo(tmp_path / "flat.png").alpha is not None  # 8-bit: the ordinary limit
    assert read_photo(tmp_path / "opaque16.png").pixels.dtype == np.uint16  # no transparency: ordinary
