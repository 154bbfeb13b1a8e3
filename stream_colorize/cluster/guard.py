"""Processes that end with the process that started them, even when it was SIGKILLed.

    >>> exit_with_parent(driver_pid)             # in a worker process: os._exit soon after the driver is gone
    $ python guard.py CMD ARGS...                # CMD in this process group; the group ends with our parent

A worker process of a killed driver would otherwise idle for good under PID 1, holding its model
in memory.  On Linux the kernel tells the worker at once (``PR_SET_PDEATHSIG``); a thread that
polls ``os.getppid()`` covers other systems and the case where the driver died before the worker
asked.  Run as a script, this file is the guardian of a Ray started for one run: it starts
``CMD`` in its own process group (its starter gives it a session of its own) and ends the whole
group, whatever CMD started in it, when its parent dies, when it gets SIGTERM or when CMD ends.
It imports nothing but the standard library, so it runs by its path.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
POLL_SECONDS = 0.5
GRACE_SECONDS = 5.0  # between SIGTERM and SIGKILL to a guarded group


def notify_parent_death(signum: int) -> bool:
    """Ask Linux to send ``signum`` to this process when the thread that started it ends.

    The kernel means the starting *thread*, not its process: the signal also comes when only that
    thread ends, which is why receivers check ``os.getppid()`` before acting on it.  False where
    this is not Linux or the call fails.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def exit_with_parent(parent: int, on_exit: Callable[[], object] | None = None) -> None:
    """Call ``on_exit`` (default: end this process at once) soon after process ``parent`` is gone.

    Call it from the main thread of a child of ``parent``: a parent-death signal (Linux) makes it
    immediate, and a daemon thread polling ``os.getppid()`` makes it happen everywhere.
    """
    leave = on_exit or (lambda: os._exit(1))

    def check(*_: object) -> None:
        if os.getppid() != parent:  # re-parented: the parent process, not just one of its threads, is gone
            leave()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGUSR1, check)
        notify_parent_death(signal.SIGUSR1)
    check()  # it may have gone before we asked

    def watch() -> None:
        while True:
            time.sleep(POLL_SECONDS)
            check()

    threading.Thread(target=watch, daemon=True, name="sc-parent-watch").start()


def guard(argv: list[str]) -> int:
    """Run ``argv`` in this process group until it ends, our parent dies or we get SIGTERM; then
    end the group (SIGTERM, then SIGKILL after ``GRACE_SECONDS``, which ends us too)."""
    if os.getpgrp() != os.getpid():
        os.setsid()  # the group this ends must be ours alone, never the caller's
    parent = os.getppid()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    notify_parent_death(signal.SIGTERM)
    child = subprocess.Popen(argv)
    while not stop.is_set() and child.poll() is None and os.getppid() == parent:
        stop.wait(POLL_SECONDS / 2)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.killpg(0, signal.SIGTERM)
    try:
        child.wait(GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        pass
    time.sleep(0.2)  # what CMD started gets a moment more to stop by itself
    code = child.returncode if child.returncode is not None else 1
    os.killpg(0, signal.SIGKILL)  # whatever is left of the group, this process included
    return code  # not reached


if __name__ == "__main__":
    sys.exit(guard(sys.argv[1:]))
