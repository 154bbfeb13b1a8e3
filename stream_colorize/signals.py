"""Termination signals handled like Ctrl-C, and sections a second signal must not break.

    >>> with handle_termination():            # in the main thread (the CLI does this)
    ...     with deferred_signals():           # e.g. while a partial file is being finished
    ...         sink.commit(Outcome.PARTIAL)
    ... # SIGINT, SIGTERM and SIGHUP all raise Interrupted (a KeyboardInterrupt) carrying .signum

``timeout``, ``systemctl stop``, ``docker stop`` and a closed terminal send SIGTERM or SIGHUP,
not SIGINT.  Under ``handle_termination`` each of them raises ``Interrupted`` in the main thread,
so the code that keeps a playable partial file on Ctrl-C runs for them too.  Only the first
signal raises: the second, while the partial file is being finished, is ignored with a note, so
pressing Ctrl-C twice cannot lose the work; a third gives up (a plain KeyboardInterrupt, for a
clean-up that hangs).  ``exit_code`` gives the shell's 128+N.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

HANDLED = tuple(s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s is not None)


class Interrupted(KeyboardInterrupt):
    """Raised in the main thread by a termination signal; ``signum`` says which."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class _State:
    raised: int | None = None  # the signal that raised, once one has
    pending: int | None = None  # a signal that arrived inside a deferred section
    depth: int = 0  # nesting of deferred sections
    extra: int = 0  # signals received after the one that raised
    active: bool = False  # handlers installed (nested handle_termination blocks do nothing)
    last: int | None = None  # the signal that raised in the latest handle_termination block


_state = _State()


def _handler(signum: int, frame: object) -> None:
    if _state.raised is not None:
        # Already stopping: finishing the partial file matters more than a second signal.
        _state.extra += 1
        if _state.extra >= 2:
            raise KeyboardInterrupt
        _note("stream-colorize: still finishing what was done; signal again to abandon it\n")
        return
    if _state.depth > 0:
        _state.pending = _state.pending or signum
        return
    _state.raised = _state.last = signum
    raise Interrupted(signum)


def _note(text: str) -> None:
    try:
        os.write(sys.stderr.fileno(), text.encode())
    except (OSError, ValueError, AttributeError):
        pass  # no terminal any more (SIGHUP), or stderr replaced: the note is not essential


def signal_of(exc: BaseException) -> int:
    """The signal behind an interruption (SIGINT for a plain KeyboardInterrupt)."""
    return int(getattr(exc, "signum", signal.SIGINT))


def exit_code(exc: BaseException) -> int:
    """The shell's exit status for a process ended by ``exc``'s signal: 128 + N."""
    return 128 + signal_of(exc)


@contextmanager
def handle_termination() -> Iterator[None]:
    """Make SIGINT, SIGTERM and SIGHUP raise ``Interrupted`` (once) in the main thread.

    Does nothing outside the main thread (Python only lets the main thread set handlers), and
    leaves ignored signals ignored (``nohup``).  The previous handlers come back on a normal exit;
    after an interruption the signals stay ignored while the program finishes exiting.
    """
    if threading.current_thread() is not threading.main_thread() or _state.active:
        yield
        return
    # A signal the parent set to be ignored stays ignored: `nohup` (SIGHUP), background jobs of
    # a non-interactive shell (SIGINT).
    previous = {s: signal.getsignal(s) for s in HANDLED if signal.getsignal(s) is not signal.SIG_IGN}
    _state.raised = _state.pending = _state.last = None
    _state.depth = _state.extra = 0
    for s in previous:
        signal.signal(s, _handler)
    _state.active = True
    try:
        yield
    finally:
        # After an interruption the program is on its way out with 128+N: a signal arriving now
        # (a second Ctrl-C that a busy main thread saw late) must not kill it with the default
        # action, so the signals stay ignored instead of getting their old handlers back.
        stopping = _state.raised is not None
        for s, old in previous.items():
            signal.signal(s, signal.SIG_IGN if stopping else (old if old is not None else signal.SIG_DFL))
        _state.raised = _state.pending = None
        _state.active = False


@contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold back a termination signal until the block ends, then raise it (if none raised yet).

    For short sections that must not be cut in half: closing an output file, renaming it.
    """
    _state.depth += 1
    try:
        yield
    finally:
        _state.depth -= 1
        if _state.depth == 0 and _state.pending is not None and _state.raised is None:
            signum, _state.pending = _state.pending, None
            _state.raised = _state.last = signum
            raise Interrupted(signum)


def stopping() -> int | None:
    """The signal that has raised in the current ``handle_termination`` block (None: none yet)."""
    return _state.raised


def interrupted_by() -> int | None:
    """The signal that interrupted the current (or the latest) ``handle_termination`` block."""
    return _state.last
