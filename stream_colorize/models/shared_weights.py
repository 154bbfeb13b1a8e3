"""Bundled models stored without the weights they share with ``default``, rebuilt once into the cache.

    >>> slim = strip(v1_bytes, default_bytes)        # the tensors both hold lose their raw data
    >>> fill(slim, default_bytes) == v1_bytes        # and get it back, byte for byte
    >>> bundled_file(BUNDLED_DIR, "default-v1")      # the whole model: cache_dir()/bundled/...

``default-v1`` and ``default`` share their frozen encoder (13 of 21 MB), so the repository and
the wheel keep it once: ``default-v1.slim.onnx`` is the model with the shared tensors' raw data
left out.  On first use the whole model is rebuilt from it and ``default.onnx``, checked against
the SHA-256 its sidecar records, and written (with a copy of the sidecar and a link to the int8
copy) into its own cache folder, so everything that reads a model beside its sidecar works as for
any other file.  Made without the ``onnx`` package, on the protobuf fields (``protowire``).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ..errors import ModelError
from ..io.outputs import write_atomic
from .protowire import LEN, Field, MessageWriter, WireError, iter_fields
from .registry import cache_dir

SLIM_SUFFIX = ".slim.onnx"
DONOR = "default.onnx"
# Field numbers in onnx.proto: ModelProto.graph, GraphProto.initializer, TensorProto.name / raw_data.
_GRAPH, _INITIALIZER, _NAME, _RAW = 7, 5, 8, 9


def _name(fields: tuple[Field, ...]) -> str:
    return next((f.as_str() for f in fields if f.number == _NAME), "")


def _raw(fields: tuple[Field, ...]) -> memoryview | None:
    return next((f.payload for f in fields if f.number == _RAW and f.wire == LEN), None)


def _initializer_fields(model: bytes) -> dict[str, tuple[Field, ...]]:
    """Each initializer's fields, by name."""
    found: dict[str, tuple[Field, ...]] = {}
    for f in iter_fields(model):
        if f.number == _GRAPH and f.wire == LEN:
            for g in iter_fields(f.payload):
                if g.number == _INITIALIZER and g.wire == LEN:
                    fields = tuple(iter_fields(g.payload))
                    found[_name(fields)] = fields
    return found


def _rewrite_initializers(model: bytes, change: dict[str, tuple[Field, ...]]) -> bytes:
    """``model`` with each named initializer's fields replaced by ``change[name]``."""
    out = MessageWriter()
    for f in iter_fields(model):
        if not (f.number == _GRAPH and f.wire == LEN):
            out.field(f)
            continue
        graph = MessageWriter()
        for g in iter_fields(f.payload):
            name = _name(tuple(iter_fields(g.payload))) if g.number == _INITIALIZER and g.wire == LEN else None
            if name is None or name not in change:
                graph.field(g)
                continue
            tensor = MessageWriter()
            for part in change[name]:
                tensor.field(part)
            graph.message(_INITIALIZER, tensor)
        out.message(_GRAPH, graph)
    return out.to_bytes()


def strip(model: bytes, donor: bytes) -> bytes:
    """``model`` without the raw data of each initializer that ``donor`` holds identically (same name)."""
    theirs = {name: _raw(fields) for name, fields in _initializer_fields(donor).items()}
    ours = _initializer_fields(model)
    shared = [name for name, fields in ours.items() if _raw(fields) is not None and theirs.get(name) == _raw(fields)]
    return _rewrite_initializers(model, {name: tuple(f for f in ours[name] if f.number != _RAW) for name in shared})


def fill(slim: bytes, donor: bytes) -> bytes:
    """The whole model back: each initializer of ``slim`` without raw data gets ``donor``'s (by name).

    Raw data is the last field the exporter writes, so appending it gives the original bytes.
    ModelError when ``donor`` lacks a tensor the slim model needs.
    """
    theirs = {name: raw for name, fields in _initializer_fields(donor).items() if (raw := _raw(fields)) is not None}
    missing = {name: fields for name, fields in _initializer_fields(slim).items() if _raw(fields) is None}
    absent = sorted(set(missing) - set(theirs))
    if absent:
        raise ModelError(f"{DONOR} lacks {len(absent)} tensors the slim model needs (e.g. {absent[0]!r})")
    filled = {name: (*fields, Field(_RAW, LEN, theirs[name])) for name, fields in missing.items()}
    return _rewrite_initializers(slim, filled)


def bundled_file(folder: Path, name: str) -> Path:
    """The ONNX file of bundled model ``name``: ``folder/NAME.onnx``, or for a model stored slim the
    whole model, rebuilt the first time into ``cache_dir()/bundled/NAME-SHA/``.

    A cached copy is checked against the recorded SHA-256 on every call (about 40 ms) and rebuilt
    when it differs.  ModelError (one line) when the rebuilt bytes do not match the recorded SHA-256
    or the cache cannot be written; nothing half-written is left.  The cached sidecar follows the bundled one
    (a package update may change its settings without changing the weights).
    """
    whole = folder / f"{name}.onnx"
    slim = folder / f"{name}{SLIM_SUFFIX}"
    if whole.is_file() or not slim.is_file():
        return whole  # a missing bundled model is reported by whoever opens it
    sidecar = folder / f"{name}.json"
    try:
        meta = json.loads(sidecar.read_text())
        recorded = meta["sha256"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"the bundled model '{name}' has no sidecar with its sha256 ({sidecar}): {exc}") from exc
    target_dir = cache_dir() / "bundled" / f"{name}-{str(recorded)[:12]}"
    target = target_dir / f"{name}.onnx"
    copy = target_dir / sidecar.name
    if target.is_file() and _sha256(target) == recorded:
        if not copy.is_file() or copy.read_bytes() != sidecar.read_bytes():
            _write(copy, sidecar.read_bytes(), name, target_dir)
        return target
    # Not built yet, or the cached copy was damaged (a truncated disk write, an edit): build it anew.
    try:
        data = fill(slim.read_bytes(), (folder / DONOR).read_bytes())
    except (OSError, WireError) as exc:
        raise ModelError(f"cannot rebuild the bundled model '{name}' from {slim.name} and {DONOR}: {exc}") from exc
    if hashlib.sha256(data).hexdigest() != recorded:
        raise ModelError(
            f"the bundled model '{name}' rebuilt from {slim.name} and {DONOR} does not match its recorded "
            "sha256; reinstall the package"
        )
    int8 = meta.get("int8")
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
        if isinstance(int8, dict) and isinstance(int8.get("file"), str):
            _link(target_dir / Path(int8["file"]).name, (folder / Path(int8["file"]).name).resolve())
    except OSError as exc:
        raise _unwritable(name, target_dir, exc) from exc
    _write(copy, sidecar.read_bytes(), name, target_dir)
    _write(target, data, name, target_dir)  # another process may have made it meanwhile: the same bytes
    return target


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _link(link: Path, to: Path) -> None:
    """``link`` pointing at ``to``; one left by another process, or dangling after a move, is replaced."""
    if link.is_symlink() and link.resolve() == to:
        return
    spare = link.with_name(f".{link.name}.{os.getpid()}.link")
    spare.unlink(missing_ok=True)
    spare.symlink_to(to)
    os.replace(spare, link)


def _unwritable(name: str, folder: Path, exc: OSError) -> ModelError:
    return ModelError(
        f"cannot write the rebuilt model '{name}' into {folder} ({exc.strerror or exc}); "
        "set STREAM_COLORIZE_HOME to a writable folder"
    )


def _write(path: Path, data: bytes, name: str, folder: Path) -> None:
    try:
        write_atomic(path, data)
    except OSError as exc:
        raise _unwritable(name, folder, exc) from exc
