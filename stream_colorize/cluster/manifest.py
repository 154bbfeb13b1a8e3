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

Only what this tool made is ever deleted: files it names itself (``manifest.json``,
``journal.log``, ``lock``, ``segment-NNNNN.ext`` and their temporary names), never a link, a
folder or another name.  A job folder that is a symbolic link, or that holds anything else
without a manifest of ours, is refused untouched; other files beside our own keep the folder
when the job is done.  A manifest of the wrong shape (damaged, edited) means a fresh start.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import re
import stat
import time
from pathlib import Path
from typing import IO

from ..errors import UsageError
from ..io.outputs import write_atomic
from .identity import Identity, sha256_file
from .plan import SegmentPlan

MANIFEST = "manifest.json"
JOURNAL = "journal.log"
LOCK = "lock"  # held (flock) by the run working on the folder
FORMAT = 1


def job_dir_for(output: Path) -> Path:
    """The job folder of an output file: hidden, beside it (``.film_colour.mp4.job``)."""
    return output.with_name(f".{output.name}.job")


def _plan_record(plan: SegmentPlan) -> dict:
    return {
        "seconds": plan.seconds,
        "warmup": plan.warmup,
        "segments": [[s.read_from, s.read_to, s.start_pts, s.end_pts, s.frames] for s in plan.segments],
    }


# -- what is ours ------------------------------------------------------------------------------

_SEGMENT = re.compile(r"^segment-\d{5,}\.[A-Za-z0-9]+$")
_TEMP = re.compile(r"^\.(manifest|segment-\d{5,})\.\d+\.tmp\.[A-Za-z0-9]+$")  # io.outputs.temp_path


def _our_name(name: str) -> bool:
    """A name this tool gives files in a job folder (its own files and their temporary names)."""
    return name in (MANIFEST, JOURNAL, LOCK) or bool(_SEGMENT.match(name) or _TEMP.match(name))


def _is_file(path: Path) -> bool:
    """A regular file itself, not a link to one."""
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


def _strangers(path: Path) -> list[str]:
    """Entries of the folder this tool did not make: other names, and folders or links under ours."""
    try:
        entries = sorted(path.iterdir())
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise UsageError(f"cannot read the job folder {path}: {exc.strerror or exc}") from exc
    return [e.name for e in entries if not (_our_name(e.name) and _is_file(e))]


def _remove_ours(path: Path, keep: tuple[str, ...] = ()) -> int:
    """Delete the files this tool made in the folder (all else stays); return how many."""
    removed = 0
    for entry in list(path.iterdir()):
        if entry.name not in keep and _our_name(entry.name) and _is_file(entry):
            entry.unlink(missing_ok=True)
            removed += 1
    return removed


def _in_the_way(path: Path, names: list[str]) -> UsageError:
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return UsageError(
        f"the job folder {path} holds what stream-colorize did not make ({shown}); nothing was touched: "
        "move it away or choose another output name"
    )


# -- the manifest's shape ------------------------------------------------------------------------

_DONE_FIELDS = {"sha256": str, "size": int, "frames": int, "worker": str, "seconds": float, "model_runs": int}


def _fits(value: object, kind: type) -> bool:
    if isinstance(value, bool):
        return False
    if kind is float:
        return isinstance(value, (int, float)) and value >= 0
    if kind is int:
        return isinstance(value, int) and value >= 0
    return isinstance(value, kind)


def _entry_ok(entry: object, fields: dict[str, type]) -> bool:
    return isinstance(entry, dict) and all(_fits(entry.get(key), kind) for key, kind in fields.items())


def _well_formed(record: object) -> bool:
    """Whether a manifest has the shape this version writes (a damaged or hand-edited one may not)."""
    if not isinstance(record, dict) or type(record.get("format")) is not int:
        return False
    identity, plan, done = record.get("identity"), record.get("plan"), record.get("done")
    if not (
        isinstance(identity, dict)
        and isinstance(identity.get("input"), str)
        and isinstance(identity.get("model"), str)
        and isinstance(identity.get("settings"), dict)
        and isinstance(plan, dict)
        and isinstance(plan.get("segments"), list)
        and isinstance(record.get("suffix"), str)
        and _SEGMENT.match(f"segment-00000{record['suffix']}")
        and isinstance(done, dict)
    ):
        return False
    count = len(plan["segments"])
    return all(_done_ok(key, entry, count) for key, entry in done.items())


def _done_ok(key: str, entry: object, count: int) -> bool:
    """A finished segment's entry: its number (in the plan) and what its file must match."""
    if not (key.isascii() and key.isdigit() and int(key) < count and _entry_ok(entry, _DONE_FIELDS)):
        return False
    assert isinstance(entry, dict)
    return len(entry["sha256"]) == 64


def _read_manifest(path: Path) -> object:
    """The manifest's JSON; None when it cannot be read or parsed."""
    if not _is_file(path):
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


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
        Only files this tool made are ever deleted: a folder that is a link, not a folder, or
        that holds anything else without a manifest of ours is refused (UsageError).
        """
        note = None
        wanted = {"identity": dataclasses.asdict(identity), "plan": _plan_record(plan)}
        _check_place(path)
        old = _read_manifest(path / MANIFEST)
        ours = isinstance(old, dict) and old.get("format") == FORMAT and _well_formed(old)
        strangers = _strangers(path)
        odd = [name for name in strangers if _our_name(name)]  # a link or folder under one of our names
        if odd or (strangers and not ours):
            raise _in_the_way(path, strangers)
        held = any(name != LOCK for name in (p.name for p in path.iterdir())) if path.is_dir() else False
        lock = _lock(path)
        if ours:
            assert isinstance(old, dict)
            changes = identity.changes(old["identity"])
            if not changes and old["plan"] != wanted["plan"]:
                changes = ["the segment plan (--segment-seconds or warm-up)"]
            if not changes and old["suffix"] != suffix:
                changes = ["the segments' container"]
            if not changes:
                return cls(path, old, lock), None
            note = f"{', '.join(changes)} changed since the unfinished job in {path}; starting afresh"
        elif isinstance(old, dict) and type(old.get("format")) is int and old["format"] != FORMAT:
            note = f"the job folder {path} is from another version of stream-colorize; starting afresh"
        elif (path / MANIFEST).exists():
            note = f"the manifest in {path} is unreadable or damaged; starting afresh"
        elif held:
            note = f"{path} holds no manifest; starting afresh"
        _remove_ours(path, keep=(LOCK,))
        record = {"format": FORMAT, **wanted, "suffix": suffix, "created": time.time(), "done": {}}
        job = cls(path, record, lock)
        job._save()
        return job, note

    @classmethod
    def discard(cls, path: Path) -> bool:
        """Remove a job folder that can no longer be used (its output is now made in one pass):
        only this tool's files, only when its manifest is ours and no run holds it."""
        if path.is_symlink() or not path.is_dir() or not _well_formed(_read_manifest(path / MANIFEST)):
            return False
        try:
            lock = _lock(path)
        except UsageError:
            return False
        return cls(path, {}, lock).remove()

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
            if _is_file(path) and path.stat().st_size == entry["size"] and sha256_file(path) == entry["sha256"]:
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
        fd = os.open(self.path / JOURNAL, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "a") as f:
            f.write(f"{time.time():.3f} {line}\n")

    def remove(self) -> bool:
        """Delete this tool's files and the folder (the film is written) and let the lock go.

        Anything else in the folder is left alone, and the folder with it: False then.
        """
        try:
            _remove_ours(self.path)
        finally:
            self.release()
        try:
            self.path.rmdir()
        except FileNotFoundError:
            return True
        except OSError:
            return False
        return True

    def release(self) -> None:
        """Let another run take the folder (the OS does this too when the process dies)."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None


def _check_place(path: Path) -> None:
    """Refuse a job folder that is a symbolic link or something other than a folder."""
    if path.is_symlink():
        raise UsageError(
            f"the job folder {path} is a symbolic link; stream-colorize keeps segments only in a folder "
            "it makes itself: remove the link (not what it points to) or choose another output name"
        )
    if path.exists() and not path.is_dir():
        raise UsageError(
            f"{path} is in the way: stream-colorize keeps this output's segments in a folder of that name; "
            "nothing was touched: move it away or choose another output name"
        )


def _lock(path: Path) -> IO:
    """Create the folder and hold its lock file, or say that another run holds it."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd = os.open(path / LOCK, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        raise UsageError(f"cannot use the job folder {path}: {exc.strerror or exc}") from exc
    handle = os.fdopen(fd, "a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise UsageError(
            f"another stream-colorize run is working on this film (job folder {path}); "
            "wait for it to finish or stop it first"
        ) from None
    return handle
