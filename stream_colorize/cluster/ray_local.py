"""A Ray to run segments on: connecting to a cluster's head, or starting one on this machine for one run.

    >>> check_reachable("10.0.0.5:6379")          # UsageError within seconds when nothing answers
    >>> local = LocalRay()                         # ``ray start --head`` on 127.0.0.1, own process group
    >>> ray.init(address=local.address)
    >>> local.stop()                               # the group ended, its folder removed

``LocalRay`` is what ``--ray auto`` starts when ``RAY_ADDRESS`` is not set: its processes live in a
process group of their own, its logs and sockets in a temporary folder, and a guardian process
(``guard``) ends the group and removes the folder if the driver is killed.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ..errors import UsageError
from . import guard

CONNECT_TIMEOUT = 25.0  # seconds
LOCAL_START_TIMEOUT = 60.0  # seconds for a local Ray to come up (about 8 s on 2 busy cores)
INSTALL_HINT = "pip install 'stream-colorize[cluster]'"
RAY_CLI = "import sys; from ray.scripts.scripts import main; sys.argv[0] = 'ray'; sys.exit(main())"


def import_ray() -> Any:
    """The ray module, or a UsageError naming the extra that installs it."""
    try:
        import ray
    except ImportError:
        raise UsageError(f"--ray needs Ray, which is not installed here; install the extra: {INSTALL_HINT}") from None
    return ray


def host_port(address: str) -> tuple[str, int]:
    text = address.split("://", 1)[-1]
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(f"--ray {address!r}: give HOST:PORT of the cluster's head (e.g. 10.0.0.5:6379) or 'auto'")
    return host.strip("[]"), int(port)


def check_reachable(address: str, timeout: float = 10.0, source: str = "") -> None:
    """Fail fast, with the reason, when nothing listens at the head's address (``source``: where
    the address came from, for the message)."""
    host, port = host_port(address)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UsageError(
            f"cannot reach a Ray cluster at {address}{source} ({reason}); start one with 'ray start --head' "
            "or check the address"
        ) from None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _short_temp_dir() -> str | None:
    """Where a local Ray's folder goes: the temp dir, or /tmp where that path is too long for the
    Unix sockets Ray makes in it (their paths are limited to about 100 bytes)."""
    temp = tempfile.gettempdir()
    return "/tmp" if len(temp) > 40 and os.path.isdir("/tmp") else None


class LocalRay:
    """A Ray head on this machine owned by one run: ``auto`` without ``RAY_ADDRESS``.

    ``ray start --head --block`` runs in a process group of its own, bound to 127.0.0.1, with its
    logs, sockets and its workers' temporary files in one temporary folder.  ``stop()`` ends the
    group and removes the folder; a guardian process (``guard.py``) does the same when this
    process dies without stopping it (SIGKILL).
    """

    def __init__(self, timeout: float = LOCAL_START_TIMEOUT) -> None:
        self.folder = tempfile.mkdtemp(prefix="sc-ray-", dir=_short_temp_dir())
        port = _free_port()
        self.address = f"127.0.0.1:{port}"
        argv = [
            sys.executable, "-c", RAY_CLI, "start", "--head", "--block", "--port", str(port),
            "--node-ip-address", "127.0.0.1", "--include-dashboard", "false", "--disable-usage-stats",
            "--temp-dir", self.folder,
        ]  # fmt: skip
        # no draining on SIGTERM: nothing else uses this Ray; TMPDIR: the actors' model copies go too
        env = {**os.environ, "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0", "TMPDIR": self.folder}
        env.pop("RAY_ADDRESS", None)
        self._log = Path(self.folder) / "start.log"
        with open(self._log, "wb") as log:
            self.process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        # the guardian inherits no pipe of ours: whoever reads our output would wait for it to end
        self.guardian = subprocess.Popen(
            [sys.executable, guard.__file__, str(os.getpid()), str(self.process.pid), self.folder],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        try:
            self._wait_up(port, timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_up(self, port: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise UsageError(f"could not start a local Ray for --ray auto ({self._last_line()})")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise UsageError(f"a local Ray did not start within {timeout:.0f} s ({self._last_line()})")

    def _last_line(self) -> str:
        try:
            lines = [ln.strip() for ln in self._log.read_text(errors="replace").splitlines() if ln.strip()]
        except OSError:
            lines = []
        errors = [ln for ln in lines if "error" in ln.lower()]
        return ((errors or lines or ["no output"])[-1])[:200]

    def stop(self) -> None:
        """End the Ray (its whole process group) and its guardian; remove the folder."""
        guard.end_group(self.process.pid, leader=self.process)
        self.process.wait()
        self.guardian.terminate()
        try:
            self.guardian.wait(guard.GRACE_SECONDS + 5)
        except subprocess.TimeoutExpired:
            self.guardian.kill()
            self.guardian.wait()
        shutil.rmtree(self.folder, ignore_errors=True)
