"""default-v1 is stored without the encoder it shares with default, and rebuilt byte for byte on first use."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from stream_colorize.backends.precision import int8_copy
from stream_colorize.errors import ModelError
from stream_colorize.models.registry import BUNDLED_DIR
from stream_colorize.models.resolve import resolve_model
from stream_colorize.models.shared_weights import bundled_file, strip

SLIM = BUNDLED_DIR / "default-v1.slim.onnx"


def _recorded() -> str:
    return json.loads((BUNDLED_DIR / "default-v1.json").read_text())["sha256"]


def test_the_slim_file_is_light_and_the_rebuilt_model_is_the_recorded_one() -> None:
    assert SLIM.stat().st_size < 10_000_000 and not (BUNDLED_DIR / "default-v1.onnx").exists()
    spec = resolve_model("default-v1")
    data = spec.path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == _recorded() and len(data) > 20_000_000
    copy = int8_copy(spec)
    assert copy is not None and copy.path.resolve() == (BUNDLED_DIR / "default-v1-int8.onnx").resolve()
    made = spec.path.stat().st_mtime_ns
    assert resolve_model("default-v1").path == spec.path and spec.path.stat().st_mtime_ns == made  # built once
    assert strip(data, (BUNDLED_DIR / "default.onnx").read_bytes()) == SLIM.read_bytes()


def _folder_with(tmp_path: Path, donor: bytes) -> Path:
    folder = tmp_path / "bundled"
    folder.mkdir()
    for name in ("default-v1.slim.onnx", "default-v1.json", "default-v1-int8.onnx"):
        shutil.copyfile(BUNDLED_DIR / name, folder / name)
    (folder / "default.onnx").write_bytes(donor)
    return folder


def _cached_models(home: Path) -> list[Path]:
    return [p for p in (home / "bundled").rglob("*") if p.is_file() and not p.is_symlink() and ".onnx" in p.name]


def test_a_donor_without_the_shared_tensors_is_one_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAM_COLORIZE_HOME", str(tmp_path / "home"))
    folder = _folder_with(tmp_path, (BUNDLED_DIR / "compact.onnx").read_bytes())
    with pytest.raises(ModelError, match="default.onnx lacks .* tensors"):
        bundled_file(folder, "default-v1")
    assert not (tmp_path / "home" / "bundled").exists() or not _cached_models(tmp_path / "home")


def test_a_changed_donor_is_refused_and_nothing_is_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("STREAM_COLORIZE_HOME", str(home))
    donor = bytearray((BUNDLED_DIR / "default.onnx").read_bytes())
    # the stem's weights, a tensor default-v1 takes from default: its name, then raw data (field 9, key 0x4a)
    name = b"encoder.stem.conv.weight\x4a"
    at = donor.find(name)
    assert at > 0
    donor[at + len(name) + 2 + 100] ^= 0xFF  # 2: the varint of its 1152-byte length
    folder = _folder_with(tmp_path, bytes(donor))
    with pytest.raises(ModelError, match="does not match its recorded sha256"):
        bundled_file(folder, "default-v1")
    assert not (home / "bundled").exists() or not _cached_models(home)


def test_a_whole_model_beside_is_used_as_it_is(tmp_path: Path) -> None:
    (tmp_path / "m.onnx").write_bytes(b"x")
    assert bundled_file(tmp_path, "m") == tmp_path / "m.onnx"


def test_the_cached_sidecar_follows_the_bundled_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAM_COLORIZE_HOME", str(tmp_path / "home"))
    folder = _folder_with(tmp_path, (BUNDLED_DIR / "default.onnx").read_bytes())
    built = bundled_file(folder, "default-v1")
    meta = json.loads((folder / "default-v1.json").read_text())
    meta["temperature"] = 0.8  # a package update that changes a setting, not the weights
    (folder / "default-v1.json").write_text(json.dumps(meta))
    assert bundled_file(folder, "default-v1") == built
    assert json.loads(built.with_suffix(".json").read_text())["temperature"] == 0.8


def test_a_damaged_cached_copy_is_rebuilt_on_next_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAM_COLORIZE_HOME", str(tmp_path / "home"))
    folder = _folder_with(tmp_path, (BUNDLED_DIR / "default.onnx").read_bytes())
    built = bundled_file(folder, "default-v1")
    with open(built, "r+b") as fh:  # a disk that filled up while it was written
        fh.truncate(100)
    assert bundled_file(folder, "default-v1") == built
    assert hashlib.sha256(built.read_bytes()).hexdigest() == _recorded()
