"""Processes that end with the process that started them, even when it was SIGKILLed.

    >>> exit_with_parent(driver_pid)         # in a worker process: os._exit soon after the driver is gone
    $ python guard.py PARENT PGID FOLDER...  # when PARENT (ours) dies: end process group PGID, remove FOLDERs

A worker process of a killed driver would otherwise idle for good under PID 1, holding its model
in memory.  On Linux the kernel tells the worker at once (``PR_SET_PDEATHSIG``); a thread that
polls ``os.getppid()`` covers other systems and the case where the driver died before the worker
asked.  Run as a script, this file is the guardian of a Ray started for one run, in a process
group of its own: when the guardian's parent (the driver) dies or sends SIGTERM, it ends the
whole group, whatever Ray started in it, and removes the Ray's folder.  It imports nothing but
the standard library, so it runs by its path.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

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


def exit_with_parent(parent: int) -> None:
    """End this process (``os._exit``, nothing more runs) soon after process ``parent`` is gone.

    Call it from the main thread of a child of ``parent``: a parent-death signal (Linux) makes it
    immediate, and a daemon thread polling ``os.getppid()`` makes it happen everywhere.
    """

    def check(*_: object) -> None:
        if os.getppid() != parent:  # re-parented: the parent process, not just one of its threads, is gone
            os._exit(1)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGUSR1, check)
        notify_parent_death(signal.SIGUSR1)
    check()  # it may have gone before we asked

    def watch() -> None:
        while True:
            time.sleep(POLL_SECONDS)
            check()

    threading.Thread(target=watch, daemon=True, name="sc-parent-watch").start()


def group_alive(pgid: int) -> bool:
    """Whether process group ``pgid`` still has a member."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def end_group(pgid: int, grace: float = GRACE_SECONDS, leader: subprocess.Popen | None = None) -> None:
    """SIGTERM to every process of group ``pgid``, SIGKILL to what is left after ``grace`` seconds.

    ``leader``: the group's first process when it is our child, reaped here (a zombie would keep
    the group alive for the whole grace)."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if leader is not None:
            leader.poll()
        if not group_alive(pgid):
            return
        time.sleep(0.1)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def watch_group(parent: int, pgid: int, folders: list[str]) -> None:
    """Wait until process ``parent`` (ours) dies or sends SIGTERM, or group ``pgid`` is empty;
    then end the group and remove ``folders``."""
    stopped: list[int] = []
    # only a list append in the handler: it runs between any two bytecodes of this thread, so it
    # must take no lock (threading.Event.set here can deadlock against Event.wait)
    signal.signal(signal.SIGTERM, lambda signum, _: stopped.append(signum))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    # the parent-death signal only cuts the sleep short: the loop checks who our parent is
    signal.signal(signal.SIGUSR1, lambda *_: None)
    notify_parent_death(signal.SIGUSR1)
    while not stopped and os.getppid() == parent and group_alive(pgid):
        time.sleep(POLL_SECONDS / 2)
    end_group(pgid)
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":  # guard.py PARENT PGID [FOLDER ...]
    watch_group(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:])
