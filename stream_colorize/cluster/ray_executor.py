"""Ray actors as segment workers: the ``--ray ADDRESS|auto`` engine (optional extra ``[cluster]``).

    >>> executor = RayExecutor("10.0.0.5:6379", settings, spec, workers=8, threads=2)
    >>> future = executor.submit(task)                    # runs on whichever actor is idle

Each actor loads the model once, from the model's files shipped through Ray's object store (so
worker machines need the package, not the model nor a shared disk), and reserves ``threads``
CPUs.  An actor that dies (its process or node killed) is dropped; the driver retries its
segment on another one, a bounded number of times.  There are never more actors than the
cluster has CPUs for (the rest would wait for ever), nor more threads than its largest node has.

``auto`` connects to the cluster in ``RAY_ADDRESS`` if set, else starts a Ray on this machine for
this run alone (``LocalRay``: on 127.0.0.1, its files in a temporary folder) and stops it at the
end; a guardian process ends it too when the driver is killed.  A cluster already running on
this machine is used by giving its address.  An address that does not answer is reported within
seconds, a Ray that does not start or connect within ``CONNECT_TIMEOUT``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from ..config import Settings, check_threads
from ..errors import UsageError
from ..models.spec import ModelSpec
from .ray_local import CONNECT_TIMEOUT, LocalRay, check_reachable, host_port, import_ray
from .task import SegmentResult, SegmentTask
from .worker import SegmentWorker


def model_files(spec: ModelSpec) -> dict[str, tuple[str, bytes]]:
    """The spec's files as {field: (file name, bytes)}, to ship to workers."""
    files = {}
    for name in ("path", "prototxt", "bins"):
        path = getattr(spec, name)
        if path is not None:
            files[name] = (Path(path).name, Path(path).read_bytes())
    return files


class RayWorker:
    """The actor body: a SegmentWorker on a model unpacked into a local temporary folder."""

    def __init__(self, settings: Settings, spec: ModelSpec, files: dict[str, tuple[str, bytes]], threads: int) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="sc-model-")
        paths: dict[str, Any] = {}
        for name, (filename, data) in files.items():
            target = Path(self._folder.name) / filename
            target.write_bytes(data)
            paths[name] = target
        self.worker = SegmentWorker(settings, dataclasses.replace(spec, **paths), threads)

    def run(self, task: SegmentTask) -> SegmentResult:
        """Colourize one segment."""
        return self.worker.run(task)

    def progress(self) -> int:
        """Frames written of the segment in hand."""
        return self.worker.progress()

    def close(self) -> None:
        """Remove the model's copy (the actor is killed next, and a killed actor cleans up nothing)."""
        self.worker.stop()
        self._folder.cleanup()


class RayExecutor:
    """Segments on Ray actors; see the module docstring."""

    def __init__(
        self,
        address: str,
        settings: Settings,
        spec: ModelSpec,
        workers: int | None = None,
        threads: int | None = None,
        connect_timeout: float = CONNECT_TIMEOUT,
    ) -> None:
        ray = import_ray()
        check_threads(threads)
        self.ray = ray
        self.address = address
        self.local: LocalRay | None = None
        target = address
        if address == "auto":
            target = os.environ.get("RAY_ADDRESS", "").strip()
            if target:
                check_reachable(target, timeout=min(10.0, connect_timeout), source=", from RAY_ADDRESS")
            else:
                self.local = LocalRay()
                target = self.local.address
        else:
            check_reachable(address, timeout=min(10.0, connect_timeout))
        try:
            self._connect(target, connect_timeout)
            cpus = int(ray.cluster_resources().get("CPU", 1))
            largest = max((int(n["Resources"].get("CPU", 0)) for n in ray.nodes() if n.get("Alive")), default=cpus)
            self.threads = max(1, min(int(threads or 1), largest or 1))  # more: no node could place the actor
            room = max(1, cpus // self.threads)  # actors beyond it would wait for CPUs for ever
            self.wanted = max(1, min(int(workers or room), room))
            self._files = ray.put(model_files(spec))
        except BaseException:
            self._disconnect()
            raise
        self._actor_class = ray.remote(num_cpus=self.threads, max_concurrency=2)(RayWorker)
        self._args = (settings, spec)
        self._spare = self.wanted  # replacements allowed for actors that die
        self.actors = [self._new_actor() for _ in range(self.wanted)]
        self._busy: dict[Any, int] = {}  # actor -> frames written of its segment (last poll)
        self._polls: dict[Any, Any] = {}
        self._lock = threading.Lock()
        where = "a local Ray started for this run" if self.local else address
        self.description = f"{self.wanted} Ray actors x {self.threads} threads at {where}"

    def _connect(self, address: str, timeout: float) -> None:
        outcome: list[BaseException | None] = []

        extra = {}
        if ":" in address and host_port(address)[0] in ("127.0.0.1", "localhost", "::1"):
            extra["_node_ip_address"] = "127.0.0.1"  # a cluster on loopback: never look for an outward address
        logging.getLogger("ray").setLevel(logging.ERROR)

        def connect() -> None:
            # Connecting starts no process here (the cluster runs elsewhere, or under LocalRay), so
            # this thread may end: processes Ray starts die with the thread that started them.
            try:
                self.ray.init(
                    address=address,
                    logging_level=logging.ERROR,
                    log_to_driver=False,
                    ignore_reinit_error=True,
                    configure_logging=False,
                    **extra,
                )
                outcome.append(None)
            except BaseException as exc:  # noqa: BLE001 - reported below, in the caller's thread
                outcome.append(exc)

        thread = threading.Thread(target=connect, daemon=True, name="sc-ray-connect")
        thread.start()
        thread.join(timeout)
        where = "the local Ray started for this run" if self.local else f"the Ray cluster at {address}"
        if not outcome:
            raise UsageError(f"no answer from {where} within {timeout:.0f} s; check the address")
        if outcome[0] is not None:
            text = str(outcome[0]).strip()
            first = text.splitlines()[0][:200] if text else type(outcome[0]).__name__
            raise UsageError(f"cannot connect to {where}: {first}")

    def _disconnect(self) -> None:
        try:
            self.ray.shutdown()
        finally:
            if self.local is not None:
                self.local.stop()
                self.local = None

    def _new_actor(self) -> Any:
        settings, spec = self._args
        return self._actor_class.remote(settings, spec, self._files, self.threads)

    @property
    def slots(self) -> int:
        """Actors alive (each runs one segment at a time)."""
        return max(1, len(self.actors))

    def _lost_types(self) -> tuple[type, ...]:
        ex = self.ray.exceptions
        names = ("RayActorError", "ActorDiedError", "ActorUnavailableError", "WorkerCrashedError", "NodeDiedError",
                 "ObjectLostError", "OwnerDiedError", "LocalRayletDiedError")  # fmt: skip
        return tuple(getattr(ex, n) for n in names if hasattr(ex, n))

    def submit(self, task: SegmentTask) -> Future:
        """Run ``task`` on an idle actor; the future holds its result or the worker's own error."""
        with self._lock:
            if not self.actors:
                if self._spare <= 0:
                    raise UsageError("every Ray worker was lost and no replacement could be made")
                self._spare -= 1
                self.actors.append(self._new_actor())
            idle = [a for a in self.actors if a not in self._busy] or self.actors
            actor = idle[0]
            self._busy[actor] = 0
        out: Future = Future()
        inner = actor.run.remote(task).future()
        inner.add_done_callback(lambda f: self._settle(actor, f, out))
        return out

    def _settle(self, actor: Any, inner: Future, out: Future) -> None:
        with self._lock:
            self._busy.pop(actor, None)
            self._polls.pop(actor, None)
        try:
            out.set_result(inner.result())
        except self.ray.exceptions.RayTaskError as exc:  # the segment's own error, raised in the worker
            cause = getattr(exc, "cause", None)
            out.set_exception(cause if isinstance(cause, BaseException) else exc)
        except BaseException as exc:  # noqa: BLE001 - handed to the driver through the future
            if isinstance(exc, self._lost_types()):
                with self._lock:
                    if actor in self.actors:
                        self.actors.remove(actor)
            out.set_exception(exc)

    def lost(self, exc: BaseException) -> bool:
        """Was this a dead actor or node (retry elsewhere), not the segment's fault?"""
        return isinstance(exc, self._lost_types())

    def progress(self) -> int:
        """Frames written of the segments in hand, from the actors' last answers (polled, never waited on)."""
        with self._lock:
            busy = list(self._busy)
        for actor in busy:
            ref = self._polls.get(actor)
            if ref is not None:
                ready, _ = self.ray.wait([ref], timeout=0)
                if not ready:
                    continue
                try:
                    value = self.ray.get(ref, timeout=0)
                except Exception:  # noqa: BLE001 - progress is best effort
                    value = 0
                with self._lock:
                    if actor in self._busy:
                        self._busy[actor] = int(value)
            with self._lock:
                if actor in self._busy:
                    self._polls[actor] = actor.progress.remote()
        with self._lock:
            return sum(self._busy.values())

    def close(self) -> None:
        """Stop the actors and disconnect (a Ray started for this run stops with it)."""
        if self.actors:  # each removes its model copy first, if it answers soon
            self.ray.wait([a.close.remote() for a in self.actors], num_returns=len(self.actors), timeout=3)
        for actor in self.actors:
            try:
                self.ray.kill(actor)
            except Exception:  # noqa: BLE001 - already gone
                pass
        self.actors = []
        deadline = time.monotonic() + 5
        while self._busy and time.monotonic() < deadline:
            time.sleep(0.05)
        self._disconnect()

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
