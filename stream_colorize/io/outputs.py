"""Output files: hidden temporary names, claiming the final name atomically, stale temp clean-up.

Every file the tool writes goes through here:

    >>> write_atomic(Path("model.json"), text)        # small files in one call
    >>> with atomic_output(Path("out.onnx")) as tmp:  # or: write the temporary file yourself
    ...     save(tmp)                                 # renamed on a clean exit, removed on an error
    >>> tmp = temp_path(Path("out.mp4"))              # long writes (the encoder): .out.<pid>.tmp.mp4
    >>> claim(tmp, Path("out.mp4"), overwrite=False)  # MediaError if out.mp4 appeared meanwhile
    >>> remove_stale_temps(Path("."))                 # temp files of processes that died

Checking "does the output exist?" only at the start leaves a window: two runs into one path both
pass the check and the later rename silently wins.  ``claim`` closes it with a hard link (or an
exclusive create where the file system has no links), which fails when the name is taken.
A process killed outright (SIGKILL, power loss) leaves its temporary file behind; its name holds
the process id, so a later run can tell that no live process owns it and remove it.
"""

from __future__ import annotations

import errno
import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import MediaError

log = logging.getLogger("stream_colorize")

_TEMP = re.compile(r"^\.(?P<stem>.+)\.(?P<pid>\d+)\.tmp(?P<suffix>\.[^.]+)?$")


def temp_path(path: Path, pid: int | None = None) -> Path:
    """The hidden temporary name an output is written under: ``.stem.PID.tmp.ext``."""
    return path.with_name(f".{path.stem}.{pid or os.getpid()}.tmp{path.suffix}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    except OSError:
        return True
    return True


def remove_stale_temps(folder: Path) -> list[Path]:
    """Delete our temporary files in ``folder`` whose process is gone; return what was removed."""
    removed: list[Path] = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP.match(entry.name)
        if match is None:
            continue
        pid = int(match["pid"])
        if pid == os.getpid() or _alive(pid):
            continue
        try:
            if entry.is_file():
                entry.unlink()
                removed.append(entry)
        except OSError:
            continue
    if removed:
        log.warning("removed %d temporary file(s) left by an earlier run that was killed", len(removed))
    return removed


def claim(tmp: Path, target: Path, overwrite: bool) -> Path:
    """Give the finished ``tmp`` its final name.

    With ``overwrite`` the name is replaced atomically.  Without it the name is taken only if it
    is still free (a hard link, or an exclusive create): when another process wrote it meanwhile,
    the result is kept as ``stem.PID.ext`` beside it and MediaError says so.
    """
    if overwrite:
        os.replace(tmp, target)
        return target
    try:
        os.link(tmp, target)
    except FileExistsError:
        return _kept_aside(tmp, target)
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        # No hard links here (FAT, some network shares): reserve the name exclusively instead.
        try:
            os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        except FileExistsError:
            return _kept_aside(tmp, target)
        os.replace(tmp, target)
        return target
    tmp.unlink()
    return target


class OutputTakenError(MediaError):
    """The output appeared while this run was working; the result was kept as ``kept`` instead."""

    def __init__(self, message: str, kept: Path) -> None:
        super().__init__(message)
        self.kept = kept


def _kept_aside(tmp: Path, target: Path) -> Path:
    aside = target.with_name(f"{target.stem}.{os.getpid()}{target.suffix}")
    os.replace(tmp, aside)
    raise OutputTakenError(
        f"{target} appeared while this run was working (another run?) and was not replaced "
        f"(pass -y to replace); this result is in {aside}",
        aside,
    )


@contextmanager
def atomic_output(path: Path, overwrite: bool = True, durable: bool = False) -> Iterator[Path]:
    """Yield the temporary path to write ``path`` under; on a clean exit it takes the final name.

    The folder is created when missing.  On an exception the temporary file is removed and the old
    ``path`` (if any) is left untouched.  ``durable`` flushes the file to disk before the rename,
    for files whose loss on a power cut would cost more than a re-run (job manifests).
    Without ``overwrite`` an existing ``path`` is an error (see :func:`claim`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        yield tmp
        if durable:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        claim(tmp, path, overwrite)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path: Path, data: bytes | str, overwrite: bool = True, durable: bool = False) -> Path:
    """Write ``data`` (text is UTF-8) to ``path`` through a temporary file and a rename; return ``path``."""
    with atomic_output(path, overwrite=overwrite, durable=durable) as tmp:
        tmp.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return Path(path)
