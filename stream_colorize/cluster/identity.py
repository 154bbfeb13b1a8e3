"""What a job's segments are made of: the input's fingerprint, the settings that shape the picture,
the model's SHA-256.  Two runs may share segments only when their identities are equal.

    >>> identity = Identity(input_fingerprint(path, index), settings_identity(settings, ".mkv"), model_hash(spec))
    >>> identity.changes(old_record["identity"])      # ["settings (crf)"]: what changed, in words
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from ..config import Settings
from ..io.packets import PacketIndex
from ..models.spec import ModelSpec

# Settings that change speed, not a single output pixel: a job may resume with other values.
NOT_IN_IDENTITY = {"threads", "queue_size", "batch", "device"}
SAMPLE = 4 << 20  # bytes hashed at each end of the input


def sha256_file(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def input_fingerprint(path: Path, index: PacketIndex) -> str:
    """Size, the first and last 4 MiB, and every video packet's timestamps and size, hashed.

    Cheap for a 100 GB film, and any re-encode, trim or edit of the video changes it.
    """
    h = hashlib.sha256()
    size = path.stat().st_size
    h.update(str(size).encode())
    with open(path, "rb") as f:
        h.update(f.read(SAMPLE))
        if size > SAMPLE:
            f.seek(max(SAMPLE, size - SAMPLE))
            h.update(f.read(SAMPLE))
    h.update(index.digest().encode())
    return h.hexdigest()


def model_hash(spec: ModelSpec) -> str:
    """SHA-256 over the model's files (weights, Caffe prototxt, bin centres) and its spec values."""
    h = hashlib.sha256()
    for path in (spec.path, spec.prototxt, spec.bins):
        if path is not None:
            h.update(sha256_file(Path(path)).encode())
    h.update(f"{spec.input_size},{spec.output},{spec.temperature},{spec.ab_scale}".encode())
    h.update(f"{spec.inputs!r},{spec.output_name}".encode())  # the declared inputs change what is fed
    return h.hexdigest()


def settings_identity(settings: Settings, suffix: str) -> dict:
    """The settings that shape the output picture, plus the output container."""
    values = {k: v for k, v in settings.flat().items() if k not in NOT_IN_IDENTITY}
    values["container"] = suffix.lower()
    return values


@dataclass(frozen=True)
class Identity:
    """What a job's segments are made of; two runs may share segments only if these are equal."""

    input: str
    settings: dict
    model: str

    def changes(self, other: dict) -> list[str]:
        """What differs from a manifest's recorded identity, in words."""
        found = []
        if other.get("input") != self.input:
            found.append("the input file")
        if other.get("model") != self.model:
            found.append("the model")
        theirs = other.get("settings", {})
        keys = sorted(k for k in set(theirs) | set(self.settings) if theirs.get(k) != self.settings.get(k))
        if keys:
            found.append("settings (" + ", ".join(keys) + ")")
        return found
