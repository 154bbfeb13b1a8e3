"""The model cache: what is there, fetching and verifying (the Caffe → ONNX conversions: ``conversions.py``).

    >>> fetch_model("zhang2016")                 # download into cache_dir()/zhang2016/
    >>> [p for p in verify_model("zhang2016") if not p.ok]
    []

Layout: ``<cache>/<model name>/<file>`` for the registered files (each model folder holds its own
copy of the small prototxt and ``pts_in_hull.npy``, so it is a complete Caffe model on its own),
plus ``<cache>/<model name>/<model name>.onnx`` (and its ``.json`` sidecar) once converted.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2

from ..errors import ModelError, UsageError
from ..io.outputs import write_atomic
from .fetch import DEFAULT_TIMEOUT, fetch_file, sha256_of
from .registry import (
    BUNDLED_DIR,
    STANDINS,
    RegistryEntry,
    RemoteFile,
    cache_dir,
    get_entry,
    standin_path,
)
from .shared_weights import bundled_file

log = logging.getLogger(__name__)
OPENCV_MAJOR = int(cv2.__version__.split(".")[0])


def model_dir(name: str) -> Path:
    """Folder of a downloaded model in the cache."""
    return cache_dir() / name


def converted_path(name: str) -> Path:
    """Where the converted ONNX of a downloaded Caffe model lives."""
    return model_dir(name) / f"{name}.onnx"


def file_path(entry: RegistryEntry, remote: RemoteFile) -> Path:
    """Cache path of one of an entry's files."""
    return model_dir(entry.name) / remote.name


def bundled_path(name: str) -> Path:
    """The ONNX file of a model bundled with the package (one stored slim is rebuilt on first use)."""
    return bundled_file(BUNDLED_DIR, name)


def _find(entry: RegistryEntry, suffix: str) -> Path:
    return next(file_path(entry, f) for f in entry.files if f.name.endswith(suffix))


def presence(entry: RegistryEntry) -> str:
    """``yes``, ``corrupt``, ``partial`` or ``no``: are the model's files in the cache, intact?

    Files of the right size are hashed once; the verdict is remembered by size and mtime
    (``checked_file``), so listing stays fast.
    """
    if entry.source == "bundled":
        return "yes" if bundled_path(entry.name).is_file() else "no"
    if entry.source == "generated":
        return "yes" if (cache_dir() / "standin" / f"{STANDINS[entry.name]}.onnx").is_file() else "no"
    ok = [p.is_file() and p.stat().st_size == f.size for f in entry.files for p in [file_path(entry, f)]]
    if all(ok):
        return "yes" if all(checked_file(file_path(entry, f), f).ok for f in entry.files) else "corrupt"
    started = any(ok) or any((model_dir(entry.name) / f"{f.name}.part").is_file() for f in entry.files)
    return "partial" if started else "no"


def local_size(entry: RegistryEntry) -> int | None:
    """Bytes on disk for a bundled or generated model, None if it is not there."""
    if entry.source == "bundled":
        path = bundled_path(entry.name)
    elif entry.source == "generated":
        path = cache_dir() / "standin" / f"{STANDINS[entry.name]}.onnx"
    else:
        return entry.size
    return path.stat().st_size if path.is_file() else None


class FetchProgress(Protocol):
    """What ``fetch_model`` reports to: a new file starts, then bytes arrive (see ``fetch.ProgressFn``)."""

    def start(self, description: str, total: int) -> None:
        """A file of ``total`` bytes begins."""

    def __call__(self, step: int, reset_to: int | None) -> None:
        """``step`` more bytes arrived; ``reset_to`` restarts the count (a resumed or retried download)."""


def fetch_model(name: str, progress: FetchProgress | None = None, timeout: float = DEFAULT_TIMEOUT) -> list[Path]:
    """Download (or generate) a named model into the cache; return its files.

    Files already there and intact are kept. ModelError (one line) when a file cannot be had.
    ``progress`` hears of each file and its bytes (the CLI draws a bar with it).
    """
    entry = get_entry(name)
    if entry.source == "bundled":
        path = bundled_path(name)
        if not path.is_file():
            raise ModelError(f"the bundled model '{name}' is missing ({path}); reinstall the package")
        return [path]
    if entry.source == "generated":
        return [standin_path(name)]
    folder = model_dir(name)
    paths = []
    for remote in entry.files:
        if progress is not None:
            progress.start(remote.name, remote.size)
        paths.append(fetch_file(remote, folder, timeout=timeout, progress=progress))
    return paths


@dataclass(frozen=True)
class FileCheck:
    """The result of checking one cached file against the registry."""

    path: Path
    problem: str = ""  # empty when the file is intact

    @property
    def ok(self) -> bool:
        """True when size and SHA-256 match."""
        return not self.problem


def verify_file(path: Path, remote: RemoteFile) -> FileCheck:
    """Check one file's size, then its SHA-256."""
    if not path.is_file():
        return FileCheck(path, "missing")
    size = path.stat().st_size
    if size != remote.size:
        return FileCheck(path, f"size {size} bytes, expected {remote.size}")
    got = sha256_of(path)
    if got != remote.sha256:
        return FileCheck(path, f"sha256 {got}, expected {remote.sha256}")
    return FileCheck(path)


def verify_model(name: str) -> list[FileCheck]:
    """Size and SHA-256 of every registered file of ``name`` in the cache (missing ones included);
    for the bundled model, its file against the checksum recorded in its sidecar."""
    entry = get_entry(name)
    if entry.source == "bundled":
        return [verify_bundled(name), *verify_bundled_int8(name)]
    if entry.source != "download":
        raise UsageError(f"{name} has no registered checksums ({entry.source} model); nothing to verify")
    checks = [verify_file(file_path(entry, remote), remote) for remote in entry.files]
    for check, remote in zip(checks, entry.files):
        _remember(check.path, remote.sha256, check.ok)
    return checks


def verify_bundled(name: str = "default") -> FileCheck:
    """A bundled model against the ``sha256`` its sidecar records (written by ``train`` export)."""
    path = bundled_path(name)
    sidecar = path.with_suffix(".json")
    try:
        recorded = json.loads(sidecar.read_text()).get("sha256")
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {sidecar}: {exc}") from exc
    if not isinstance(recorded, str):
        raise UsageError(f"{sidecar} records no sha256 for {path.name}; nothing to verify")
    size = path.stat().st_size if path.is_file() else 0
    return verify_file(path, RemoteFile(path.name, size, recorded, ()))


def verify_bundled_int8(name: str = "default") -> list[FileCheck]:
    """A bundled model's int8 copy against the ``int8.sha256`` its sidecar records ([] without one)."""
    path = bundled_path(name)
    try:
        entry = json.loads(path.with_suffix(".json").read_text()).get("int8")
    except (OSError, ValueError):
        return []  # verify_bundled reports the unreadable sidecar
    if not (isinstance(entry, dict) and isinstance(entry.get("file"), str) and isinstance(entry.get("sha256"), str)):
        return []
    copy = path.parent / Path(entry["file"]).name
    size = copy.stat().st_size if copy.is_file() else 0
    return [verify_file(copy, RemoteFile(copy.name, size, entry["sha256"], ()))]


def _verdicts_path() -> Path:
    return cache_dir() / "verified.json"


def _verdicts() -> dict:
    try:
        data = json.loads(_verdicts_path().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _remember(path: Path, sha256: str, ok: bool) -> None:
    try:
        stat = path.stat()
    except OSError:
        return
    data = _verdicts()
    data[str(path)] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha256, "ok": ok}
    target = _verdicts_path()
    try:
        write_atomic(target, json.dumps(data, indent=1))
    except OSError:
        pass  # a read-only cache: the verdict is recomputed next time


def checked_file(path: Path, remote: RemoteFile) -> FileCheck:
    """``verify_file``, hashing only when the file changed (size or mtime) since the last verdict."""
    try:
        stat = path.stat()
    except OSError:
        return FileCheck(path, "missing")
    known = _verdicts().get(str(path))
    if (
        isinstance(known, dict)
        and known.get("size") == stat.st_size
        and known.get("mtime_ns") == stat.st_mtime_ns
        and known.get("sha256") == remote.sha256
    ):
        return FileCheck(path) if known.get("ok") else FileCheck(path, "sha256 differs from the registry (cached)")
    check = verify_file(path, remote)
    _remember(path, remote.sha256, check.ok)
    return check


def _require_files(entry: RegistryEntry) -> None:
    """Every registered file is there and matches its SHA-256 (hashed on first use, then remembered
    by size and mtime), or a one-line ModelError saying how to get a good copy."""
    missing = [f.name for f in entry.files if not file_path(entry, f).is_file()]
    if missing:
        raise ModelError(
            f"model {entry.name} is not downloaded yet ({', '.join(missing)} missing from {model_dir(entry.name)}); "
            f"run: stream-colorize models fetch {entry.name}"
        )
    for remote in entry.files:
        check = checked_file(file_path(entry, remote), remote)
        if not check.ok:
            raise ModelError(
                f"model {entry.name}: {check.path} is damaged ({check.problem}); "
                f"delete it and run: stream-colorize models fetch {entry.name}"
            )
