"""Checks made before any work starts: what names a file, and whether an output may be written.

The library (``colorize_file``, ``colorize_image``) and every command use the same rules:

    >>> src, dst = as_path(b"film.mp4", "input"), as_path(Path("colour.mp4"), "output")
    >>> check_output(dst, [src], overwrite=False)   # UsageError: over the input, over an existing file

An output that names an input (also through a symlink or a hard link) is refused even with
``overwrite``: the run would destroy what it reads.  An existing output is refused unless the
caller allows it; ``allow`` is how the caller says to (``pass overwrite=True`` for the library,
``pass -y/--overwrite`` for the commands).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import UsageError

LIBRARY_ALLOW = "pass overwrite=True to replace it"


def path_text(value: object, what: str) -> str:
    """``value`` (str, bytes or ``os.PathLike``) as text, as given; UsageError naming ``what`` otherwise."""
    if not isinstance(value, (str, bytes, os.PathLike)):
        raise UsageError(f"{what} must be a path (str, bytes or os.PathLike), not {type(value).__name__}")
    text = os.fsdecode(os.fspath(value))
    if not text:
        raise UsageError(f"{what} is an empty path; give a file name")
    return text


def as_path(value: object, what: str) -> Path:
    """``value`` (str, bytes or ``os.PathLike``) as a Path; UsageError naming ``what`` otherwise."""
    return Path(path_text(value, what))


def same_file(a: Path, b: Path) -> bool:
    """True when two paths name the same file (b need not exist)."""
    try:
        return a.resolve() == b.resolve() or (b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def check_output(output: Path, inputs: list[Path], overwrite: bool, allow: str = LIBRARY_ALLOW) -> None:
    """Refuse to write over an input, over a folder, over an existing file without ``overwrite``
    (``allow`` says how to give it), or into a folder that does not exist."""
    for src in inputs:
        if same_file(src, output):
            raise UsageError(f"output {output} is the input itself; choose another output name")
    if output.is_dir():
        raise UsageError(f"output {output} is a folder, not a file name")
    if output.exists() and not overwrite:
        raise UsageError(f"output {output} already exists; {allow}")
    if not output.parent.is_dir():
        blocker = next((p for p in (output.parent, *output.parent.parents) if p.exists()), None)
        if blocker is not None and not blocker.is_dir():
            raise UsageError(f"cannot write {output}: {blocker} is a file, not a folder")
        raise UsageError(f"output folder {output.parent} does not exist")
