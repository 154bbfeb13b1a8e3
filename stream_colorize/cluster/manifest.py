"""The job folder beside the output: a manifest, the finished segments, a journal.

    >>> job, note = JobFolder.open(job_dir_for(out), identity, plan)   # fresh, or resumed
    >>> job.done_segments()                                          # {0, 1, 5}: verified by checksum
    >>> job.commit(result)                                           # segment file, then manifest
    >>> job.remove()                                                 # after the film is written

``identity`` says what the segments were made from: the input's fingerprint, the settings that
change the picture, the model's SHA-256.  A folder made for another identity is never mixed in:
``open`` says what changed in one line and starts afresh.  Every write is atomic (a temporary
file renamed), so a SIGKILL at any moment leaves either the old or the new manifest, and a
segment file is listed only once it is complete; each listed file is checked against its
SHA-256 before it is reused.  ``journal.log`` records when each segment was sent and finished.
A run holds an exclusive lock on the folder's ``lock`` file, so a second run of the same command
says so instead of mixing its segments in; the OS lets the lock go when a run dies.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ..config import Settings
from ..errors import UsageError
from ..io.outputs import write_atomic
from ..models.spec import ModelSpec
from .plan import PacketIndex, SegmentPlan

MANIFEST = "manifest.json"
JOURNAL = "journal.log"
LOCK = "lock"  # held (flock) by the run working on the folder
FORMAT = 1
# Settings that change speed, not a single output pixel: a job may resume with other values.
NOT_IN_IDENTITY = {"threads", "queue_size", "batch", "device"}
SAMPLE = 4 << 20  # bytes hashed at each end of the input


def job_dir_for(output: Path) -> Path:
    """The job folder of an output file: hidden, beside it (``.film_colour.mp4.job``)."""
    return output.with_name(f".{output.name}.job")


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
    return h.hexdigest()


def settings_identity(settings: Settings, suffix: str) -> dict:
    """The settings that shape the output picture, plus the output container."""
    values = {k: v for k, v in dataclasses.asdict(settings).items() if k not in NOT_IN_IDENTITY}
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


def _plan_record(plan: SegmentPlan) -> dict:
    return {
        "seconds": plan.seconds,
        "warmup": plan.warmup,
        "segments": [[s.read_from, s.read_to, s.start_pts, s.end_pts, s.frames] for s in plan.segments],
    }


class JobFolder:
    """A job's folder on disk; see the module docstring."""

    def __init__(self, path: Path, record: dict, lock: IO | None = None) -> None:
        self.path = path
        self.record = record
        self._lock = lock

    @classmethod
    def open(cls, path: Path, identity: Identity, plan: SegmentPlan, suffix: str) -> tuple[JobFolder, str | None]:
        """Resume the folder if it was made for the same identity and plan, else start it afresh.

        Returns the folder and, when an old folder was set aside, a one-line note saying why.
        """
        note = None
        wanted = {"identity": dataclasses.asdict(identity), "plan": _plan_record(plan)}
        manifest = path / MANIFEST
        held = path.is_dir() and any(p.name != LOCK for p in path.iterdir())
        lock = _lock(path)
        if manifest.is_file():
            try:
                record = json.loads(manifest.read_text())
            except (OSError, ValueError):
                record = None
            if record is None or record.get("format") != FORMAT:
                note = f"the job folder {path} is unreadable or from another version; starting afresh"
            else:
                changes = identity.changes(record.get("identity", {}))
                if not changes and record.get("plan") != wanted["plan"]:
                    changes = ["the segment plan (--segment-seconds or warm-up)"]
                if not changes:
                    return cls(path, record, lock), None
                note = f"{', '.join(changes)} changed since the unfinished job in {path}; starting afresh"
        elif held:
            note = f"{path} holds no manifest; starting afresh"
        for entry in path.iterdir():  # everything but the lock we hold
            if entry.is_dir():
                shutil.rmtree(entry)
            elif entry.name != LOCK:
                entry.unlink()
        record = {"format": FORMAT, **wanted, "suffix": suffix, "created": time.time(), "done": {}}
        job = cls(path, record, lock)
        job._save()
        return job, note

    def _save(self) -> None:
        write_atomic(self.path / MANIFEST, json.dumps(self.record, indent=1), durable=True)

    def segment_path(self, index: int) -> Path:
        """Where segment ``index`` is kept."""
        return self.path / f"segment-{index:05d}{self.record['suffix']}"

    def done_segments(self) -> set[int]:
        """Segments listed as finished whose files are present with the recorded checksum."""
        good = set()
        for key, entry in list(self.record["done"].items()):
            path = self.segment_path(int(key))
            if path.is_file() and path.stat().st_size == entry["size"] and sha256_file(path) == entry["sha256"]:
                good.add(int(key))
            else:
                del self.record["done"][key]  # damaged or missing: it will be made again
        return good

    def commit(self, index: int, data: bytes, frames: int, worker: str, seconds: float, model_runs: int = 0) -> None:
        """Keep a finished segment: its file first, then the manifest entry naming it."""
        path = self.segment_path(index)
        write_atomic(path, data, durable=True)
        self.record["done"][str(index)] = {
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
            "frames": frames,
            "worker": worker,
            "seconds": round(seconds, 3),
            "model_runs": model_runs,
        }
        self._save()
        self.journal(f"done {index} {worker} {seconds:.2f}s")

    def journal(self, line: str) -> None:
        """Append a timestamped line to journal.log (what was sent where, what finished)."""
        with open(self.path / JOURNAL, "a") as f:
            f.write(f"{time.time():.3f} {line}\n")

    def remove(self) -> None:
        """Delete the folder (the film is written) and let the lock go."""
        shutil.rmtree(self.path, ignore_errors=True)
        self.release()

    def release(self) -> None:
        """Let another run take the folder (the OS does this too when the process dies)."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None


def _lock(path: Path) -> IO:
    """Create the folder and hold its lock file, or say that another run holds it."""
    path.mkdir(parents=True, exist_ok=True)
    handle = open(path / LOCK, "a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise UsageError(
            f"another stream-colorize run is working on this film (job folder {path}); "
            "wait for it to finish or stop it first"
        ) from None
    return handle
