"""``stream-colorize models list|fetch|verify|convert`` and resolving downloaded models.

    $ pytest tests/test_models_cli.py -q             # add -m "not slow" to skip the real conversion

Fetches go to a loopback HTTP server (``FileServer`` from test_fetch.py) through
$STREAM_COLORIZE_MIRROR with $STREAM_COLORIZE_MIRROR_ONLY=1, so nothing leaves the machine.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from stream_colorize.cli import main
from stream_colorize.errors import ModelError
from stream_colorize.models import resolve_model, store
from stream_colorize.models.fetch import MIRROR_ENV, MIRROR_ONLY_ENV
from stream_colorize.models.registry import REGISTRY, RegistryEntry
from tests.test_fetch import FileServer, closed_port, make_blob, remote_for

CAFFE_FILES = ("colorization_deploy_v2.prototxt", "colorization_release_v2.caffemodel", "pts_in_hull.npy")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private, empty model cache; no mirror configured."""
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("STREAM_COLORIZE_HOME", str(path))
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    monkeypatch.delenv(MIRROR_ONLY_ENV, raising=False)
    return path


def run_cli(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    """Run the real entry point in-process; return (exit code, stdout, stderr)."""
    capsys.readouterr()
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def run_subprocess(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """``python -m stream_colorize ARGS`` with a private cache and extra environment."""
    full_env = {k: v for k, v in os.environ.items() if k not in (MIRROR_ENV, MIRROR_ONLY_ENV)}
    full_env.update(STREAM_COLORIZE_HOME=str(home), **env)
    return subprocess.run(
        [sys.executable, "-m", "stream_colorize", *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def list_row(out: str, name: str) -> list[str]:
    """The cells of ``name``'s row in ``models list`` output (columns are 2+ spaces apart)."""
    line = next(line for line in out.splitlines() if line[2:].startswith(name + " "))
    return re.split(r"\s{2,}", line[2:].strip())


@pytest.fixture
def test_model(monkeypatch: pytest.MonkeyPatch):
    """A registry entry 'testmodel' of two generated files, served by a loopback server as the only mirror."""
    files = {"weights.bin": make_blob(300_000, seed=1), "extra.npy": make_blob(5_000, seed=2)}
    entry = RegistryEntry(
        "testmodel",
        "generated test files",
        "download",
        "caffe",
        tuple(remote_for(data, name, ("https://example.invalid/" + name,)) for name, data in files.items()),
    )
    monkeypatch.setitem(REGISTRY, "testmodel", entry)
    with FileServer({f"mirror/{name}": data for name, data in files.items()}) as server:
        monkeypatch.setenv(MIRROR_ENV, server.base + "/mirror")
        monkeypatch.setenv(MIRROR_ONLY_ENV, "1")
        yield entry, files, server


def test_fetch_refused_through_the_cli_is_one_line(home: Path) -> None:
    mirror = f"http://127.0.0.1:{closed_port()}"
    proc = run_subprocess(home, "models", "fetch", "zhang2016", **{MIRROR_ENV: mirror, MIRROR_ONLY_ENV: "1"})
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("stream-colorize: error: cannot download colorization_deploy_v2.prototxt")
    assert "no network connection" in lines[0] and "connection refused" in lines[0]
    assert str(home / "zhang2016") in lines[0]
    assert "Traceback" not in proc.stderr
    assert not any(p.is_file() and not p.name.endswith(".part") for p in home.rglob("*"))


def test_unknown_model_name_through_the_cli(home: Path) -> None:
    proc = run_subprocess(home, "models", "fetch", "zhang2017")
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown model 'zhang2017'" in lines[0] and "zhang2016" in lines[0]
    assert "Traceback" not in proc.stderr


def test_fetch_list_verify_and_detect_corruption(home: Path, test_model, capsys: pytest.CaptureFixture) -> None:
    entry, files, server = test_model
    code, out, _ = run_cli(capsys, "models", "list")
    assert code == 0
    assert list_row(out, "testmodel")[1:4] == ["caffe (download)", "305.0 kB", "no"]
    assert next(line for line in out.splitlines() if "default" in line).startswith("*")

    code, out, err = run_cli(capsys, "models", "fetch", "testmodel", "--quiet")
    assert code == 0, err
    for name, data in files.items():
        assert (home / "testmodel" / name).read_bytes() == data
    assert sorted(p for p, _ in server.requests) == ["mirror/extra.npy", "mirror/weights.bin"]

    code, out, _ = run_cli(capsys, "models", "list")
    assert list_row(out, "testmodel")[3] == "yes"

    code, out, _ = run_cli(capsys, "models", "verify", "testmodel")
    assert code == 0 and out.count("ok ") == 2

    weights = home / "testmodel" / "weights.bin"
    raw = bytearray(weights.read_bytes())
    raw[1234] ^= 0x01  # same size, one bit off: only the hash can tell
    weights.write_bytes(bytes(raw))
    code, out, err = run_cli(capsys, "models", "verify")  # no name: every bundled and downloaded model
    assert code == 1
    assert any(line.startswith("ok") and line.endswith("default.onnx") for line in out.splitlines())
    bad = [line for line in out.splitlines() if line.startswith("BAD")]
    assert len(bad) == 1 and str(weights) in bad[0] and entry.files[0].sha256 in bad[0]
    assert err.strip().splitlines() == [
        "stream-colorize: error: 1 model file(s) missing or corrupt; "
        "fetch again: stream-colorize models fetch testmodel"
    ]

    code, _, err = run_cli(capsys, "models", "fetch", "testmodel", "-q")  # repairs the corrupt file
    assert code == 0, err
    assert weights.read_bytes() == files["weights.bin"]


def test_fetch_shows_progress_on_stderr_unless_quiet(
    home: Path, test_model, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich draws its bar only on a terminal; pretend stderr is one
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    code, out, err = run_cli(capsys, "models", "fetch", "testmodel")
    assert code == 0, err
    assert "2 files verified" in out
    assert "weights.bin" in err and "kB" in err  # the bar: file name and byte counts
    shutil.rmtree(home / "testmodel")
    code, out, err = run_cli(capsys, "models", "fetch", "testmodel", "--quiet")
    assert code == 0 and err == ""


def test_verify_reports_missing_and_wrong_size_files_of_a_real_entry(home: Path, capsys: pytest.CaptureFixture) -> None:
    (home / "zhang2016").mkdir()
    (home / "zhang2016" / "pts_in_hull.npy").write_bytes(b"not the bins")
    code, out, err = run_cli(capsys, "models", "verify", "zhang2016")
    assert code == 1
    assert f"{home / 'zhang2016' / 'pts_in_hull.npy'}: size 12 bytes, expected 5088" in out
    assert f"{home / 'zhang2016' / 'colorization_release_v2.caffemodel'}: missing" in out
    assert "3 model file(s) missing or corrupt" in err
    code, _, err = run_cli(capsys, "models", "verify", "standin-tiny")
    assert code == 1 and "nothing to verify" in err


def test_resolving_a_model_not_fetched_says_how_to_fetch(home: Path) -> None:
    with pytest.raises(ModelError, match="not downloaded yet.*stream-colorize models fetch zhang2016-norebal"):
        resolve_model("zhang2016-norebal")


def _fake_caffe_files(home: Path, name: str = "zhang2016") -> Path:
    """Placeholder files that an earlier check found intact (the verdict cache), so resolution logic
    can be tested without the 129 MB weights."""
    folder = home / name
    folder.mkdir()
    remotes = {f.name: f for f in REGISTRY[name].files}
    for file in CAFFE_FILES:
        (folder / file).write_bytes(b"placeholder")
        store._remember(folder / file, remotes[file].sha256, True)
    return folder


def test_a_damaged_download_is_refused_on_first_use(home: Path) -> None:
    """Right size, wrong bytes: caught by the SHA-256 on first use, with what to do."""
    folder = home / "zhang2016"
    folder.mkdir()
    for remote in REGISTRY["zhang2016"].files:
        with open(folder / remote.name, "wb") as fh:
            fh.truncate(remote.size)  # zeros of exactly the registered size
    with pytest.raises(ModelError, match=r"is damaged \(sha256 .*models fetch zhang2016"):
        resolve_model("zhang2016")
    with pytest.raises(ModelError, match="damaged"):  # the cached verdict says the same without hashing again
        resolve_model("zhang2016")


@pytest.mark.skipif(store.OPENCV_MAJOR < 5, reason="OpenCV 4 reads the Caffe files directly")
def test_opencv5_uses_the_converted_onnx_in_the_cache(home: Path, tiny_onnx: Path) -> None:
    folder = _fake_caffe_files(home)
    shutil.copyfile(tiny_onnx, folder / "zhang2016.onnx")
    spec = resolve_model("zhang2016")
    assert (spec.format, spec.name, spec.path) == ("onnx", "zhang2016", folder / "zhang2016.onnx")


@pytest.mark.skipif(store.OPENCV_MAJOR < 5, reason="OpenCV 4 reads the Caffe files directly")
def test_opencv5_without_onnx_package_says_what_to_install(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_caffe_files(home)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "onnx" else real(n, *a))
    with pytest.raises(ModelError, match=r"pip install onnx.*stream-colorize models convert zhang2016"):
        resolve_model("zhang2016")


@pytest.mark.skipif(store.OPENCV_MAJOR >= 5, reason="needs the Caffe importer (opencv-python 4.x)")
def test_opencv4_resolves_to_the_caffe_files(home: Path) -> None:
    folder = _fake_caffe_files(home)
    spec = resolve_model("zhang2016")
    assert (spec.format, spec.path, spec.prototxt) == (
        "caffe",
        folder / "colorization_release_v2.caffemodel",
        folder / "colorization_deploy_v2.prototxt",
    )


def test_convert_refuses_before_fetch_and_over_an_existing_output(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    code, _, err = run_cli(capsys, "models", "convert", "zhang2016")
    assert code == 1 and "not downloaded yet" in err and "models fetch zhang2016" in err
    _fake_caffe_files(home)
    existing = tmp_path / "out.onnx"
    existing.write_bytes(b"keep me")
    code, _, err = run_cli(capsys, "models", "convert", "zhang2016", "-o", str(existing))
    assert code == 1 and "already exists" in err and "-y" in err
    assert existing.read_bytes() == b"keep me"
    code, _, err = run_cli(capsys, "models", "convert", "standin", "-o", str(tmp_path / "x.onnx"))
    assert code == 1 and "already an ONNX model" in err


def test_convert_of_a_corrupt_caffemodel_fails_cleanly(home: Path, capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("onnx")
    folder = _fake_caffe_files(home)
    code, _, err = run_cli(capsys, "models", "convert", "zhang2016")
    assert code == 1 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (folder / "zhang2016.onnx").exists()


@pytest.mark.slow
def test_convert_then_colorize_with_the_downloaded_name(home: Path, capsys: pytest.CaptureFixture) -> None:
    """A Zhang-architecture Caffe stand-in under the registry's file names, converted and run."""
    pytest.importorskip("onnx")
    from stream_colorize.engine import Colorizer
    from stream_colorize.models.caffe import write_standin_caffe

    folder = home / "zhang2016"
    prototxt, caffemodel = write_standin_caffe(folder, seed=0, arch="zhang")
    caffemodel.rename(folder / "colorization_release_v2.caffemodel")
    for remote in REGISTRY["zhang2016"].files:  # stand-ins under the real names: mark them as checked
        store._remember(folder / remote.name, remote.sha256, True)
    out = home / "converted.onnx"
    code, stdout, err = run_cli(capsys, "models", "convert", "zhang2016", "-o", str(out))
    assert code == 0, err
    assert out.is_file() and out.with_suffix(".json").is_file()
    assert f"zhang2016 -> {out}" in stdout

    spec = resolve_model("zhang2016")  # OpenCV 5: converts into the cache on first use; 4: Caffe
    if store.OPENCV_MAJOR >= 5:
        assert spec.format == "onnx" and spec.path == store.converted_path("zhang2016")
    gray = np.tile(np.linspace(0, 255, 64, dtype=np.uint8), (48, 1))
    ab = Colorizer(spec, device="cpu").predict_ab([gray])
    assert ab.shape == (1, 2, 56, 56) and np.isfinite(ab).all() and float(np.abs(ab).max()) > 0


@pytest.mark.slow
def test_convert_accepts_a_caffe_model_by_path(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from stream_colorize.engine import Colorizer
    from stream_colorize.models.caffe import write_standin_caffe
    from stream_colorize.models.spec import spec_from_path

    _, caffemodel = write_standin_caffe(tmp_path / "mine")
    code, out, err = run_cli(capsys, "models", "convert", str(caffemodel))
    assert code == 0, err
    onnx = caffemodel.with_suffix(".onnx")
    assert onnx.is_file() and str(onnx) in out
    ab = Colorizer(spec_from_path(onnx), device="cpu").predict_ab([np.full((40, 60), 120, np.uint8)])
    assert ab.shape == (1, 2, 56, 56) and np.isfinite(ab).all()
    code, _, err = run_cli(capsys, "models", "convert", str(caffemodel))
    assert code != 0 and "already exists" in err


def test_version_and_bare_command(capsys: pytest.CaptureFixture) -> None:
    from stream_colorize import __version__

    code, out, _ = run_cli(capsys, "--version")
    assert code == 0 and out.strip() == f"stream-colorize {__version__}"
    code, out, err = run_cli(capsys)
    assert "Usage" in out + err  # no command: the help, not a traceback
    assert "video" in out + err and "Traceback" not in err
