"""Model files are judged by their SHA-256, not their size; verdicts are cached by size and mtime;
the bundled model's checksum is recorded in its sidecar (whatever model is bundled today)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from stream_colorize.models import store
from stream_colorize.models.registry import BUNDLED_DIR, DEFAULT_MODEL_FILE, RegistryEntry, RemoteFile
from tests.support.cli import run_main


@pytest.fixture()
def entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[RegistryEntry, bytes]:
    monkeypatch.setenv("STREAM_COLORIZE_HOME", str(tmp_path / "home"))
    data = os.urandom(4096)
    remote = RemoteFile("weights.bin", len(data), hashlib.sha256(data).hexdigest(), ("http://127.0.0.1:9/x",))
    return RegistryEntry("checked", "a test entry", "download", "onnx", files=(remote,)), data


def test_a_garbage_file_of_the_right_size_is_not_present(entry, monkeypatch: pytest.MonkeyPatch) -> None:
    model, data = entry
    path = store.file_path(model, model.files[0])
    path.parent.mkdir(parents=True)
    path.write_bytes(bytes(len(data)))  # right size, wrong bytes
    assert store.presence(model) == "corrupt"
    path.write_bytes(data)
    assert store.presence(model) == "yes"
    hashed = []
    real = store.sha256_of
    monkeypatch.setattr(store, "sha256_of", lambda p: hashed.append(p) or real(p))
    assert store.presence(model) == "yes" and hashed == []  # the verdict is cached by size + mtime
    raw = bytearray(data)
    raw[7] ^= 1
    path.write_bytes(bytes(raw))
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    assert store.presence(model) == "corrupt" and hashed == [path]  # changed: hashed again


def test_bundled_model_checksum_is_recorded_and_checked(tmp_path: Path, monkeypatch, capsys) -> None:
    recorded = json.loads(DEFAULT_MODEL_FILE.with_suffix(".json").read_text())["sha256"]
    assert recorded == hashlib.sha256(DEFAULT_MODEL_FILE.read_bytes()).hexdigest()
    code, out, err = run_main(["models", "verify", "default"], capsys)
    assert code == 0 and out.startswith("ok"), err
    copy = tmp_path / "default.onnx"  # a damaged copy of the bundled folder
    shutil.copyfile(BUNDLED_DIR / "compact.onnx", tmp_path / "compact.onnx")
    raw = bytearray(DEFAULT_MODEL_FILE.read_bytes())
    raw[len(raw) // 2] ^= 1
    copy.write_bytes(bytes(raw))
    shutil.copyfile(DEFAULT_MODEL_FILE.with_suffix(".json"), copy.with_suffix(".json"))
    monkeypatch.setattr(store, "BUNDLED_DIR", tmp_path)
    assert not store.verify_bundled().ok
    code, out, err = run_main(["models", "verify", "default"], capsys)
    assert code == 1 and out.startswith("BAD") and err.count("error:") == 1 and "bundled" in err


def test_every_bundled_model_records_its_checksum(capsys) -> None:
    for name in ("default", "default-v1", "compact"):
        code, out, err = run_main(["models", "verify", name], capsys)
        assert code == 0 and out.startswith("ok"), err
