"""A worker's scratch folder for the segment it encodes, and the sweep of those left behind.

    >>> with segment_scratch() as tmp:          # /tmp/sc-segment-<pid>-x1y2z3
    ...     encode(Path(tmp) / "segment.mkv")
    >>> sweep_scratch(wait=3.0)                  # folders of worker processes that are gone

A worker process that is ended from outside (the driver stops its pool, a Ray node is killed,
SIGKILL) never runs its clean-up, so its folder stays in the temporary directory.  The folder's
name holds the process id: a later worker, or the driver once its pool is closed, removes the
folders whose process no longer runs (as ``io.outputs.remove_stale_temps`` does for files).
Folders of versions before the process id was in the name (``sc-segment-x1y2z3``) are removed
once untouched for ``LEGACY_AGE`` seconds: one segment's encode never takes that long.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from pathlib import Path

PREFIX = "sc-segment-"
_NAME = re.compile(rf"^{PREFIX}(?P<pid>\d+)-[A-Za-z0-9_]+$")
_LEGACY = re.compile(rf"^{PREFIX}[A-Za-z0-9_]{{8}}$")  # tempfile's 8 random characters, no pid
LEGACY_AGE = 3600.0


def segment_scratch() -> tempfile.TemporaryDirectory:
    """A new scratch folder named for this process (removed when the ``with`` block ends);
    stale ones of dead processes are swept first."""
    sweep_scratch()
    return tempfile.TemporaryDirectory(prefix=f"{PREFIX}{os.getpid()}-")


def _state(pid: int) -> str:
    """'gone', 'child' (a live child of this process: it may be ending now) or 'alive'."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return "gone"
    except OSError:
        return "alive"  # another user's process
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return "alive"  # no /proc: a live process, as far as can be told
    if fields[0] in ("Z", "X"):
        return "gone"  # ended; its parent has not reaped it yet
    return "child" if fields[1] == str(os.getpid()) else "alive"


def sweep_scratch(folder: Path | None = None, wait: float = 0.0) -> list[Path]:
    """Remove the scratch folders in ``folder`` (the temporary directory) whose process is gone.

    ``wait``: seconds to give this process's own children to end (a pool just told to stop)
    before their folders are judged.  Returns the folders removed.
    """
    folder = Path(folder or tempfile.gettempdir())
    try:
        names = list(folder.iterdir())
    except OSError:
        return []
    entries = [(e, int(m["pid"])) for e in names if (m := _NAME.match(e.name))]
    removed = [e for e in names if _LEGACY.match(e.name) and _remove_if_old(e)]
    deadline = time.monotonic() + wait
    for entry, pid in entries:
        if pid == os.getpid():
            continue
        state = _state(pid)
        while state == "child" and time.monotonic() < deadline:
            time.sleep(0.02)
            state = _state(pid)
        if state != "gone" or entry.is_symlink() or not entry.is_dir():
            continue
        shutil.rmtree(entry, ignore_errors=True)
        if not entry.exists():
            removed.append(entry)
    return removed


def _remove_if_old(entry: Path) -> bool:
    """Remove an earlier version's scratch folder of ours untouched for ``LEGACY_AGE``; True if removed."""
    try:
        stat = entry.lstat()
    except OSError:
        return False
    if not entry.is_dir() or entry.is_symlink() or stat.st_uid != os.getuid():
        return False
    if time.time() - stat.st_mtime < LEGACY_AGE:
        return False
    shutil.rmtree(entry, ignore_errors=True)
    return not entry.exists()
