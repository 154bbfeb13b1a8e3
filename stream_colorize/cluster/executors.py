"""Where segments run: in this process, in a local process pool, or on Ray actors (ray_executor).

    >>> with LocalPool(settings, workers=4, threads=1) as executor:
    ...     future = executor.submit(task)                # concurrent.futures.Future[SegmentResult]

Every executor loads the model once per worker and offers the same small interface:
``slots`` (segments it runs at once), ``submit(task)``, ``lost(exc)`` (was this failure a lost
worker, worth a retry elsewhere, rather than the segment's own fault?), ``progress()`` (frames
written so far of the segments in hand, best effort) and ``close()``.  The driver never gives an
executor more than ``slots`` segments at a time, so a killed driver loses at most that many.
Local worker processes end by themselves when the driver is gone (``guard.exit_with_parent``).
"""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol

from ..build import pipeline_model_threads
from ..config import Settings, check_threads
from ..errors import UsageError
from ..models.spec import ModelSpec
from .guard import exit_with_parent
from .task import SegmentResult, SegmentTask
from .worker import SegmentWorker

# Worker processes, and inference threads of all of them together, per core of this machine:
# beyond it they only cost memory (each worker process holds a model, ~200 MB).
PER_CORE = 4


def machine_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def local_shares(workers: int, threads: int | None) -> tuple[int, int]:
    """(worker processes, inference threads each) for a pool on this machine.

    More than ``PER_CORE`` processes per core is refused; threads are what was asked (else a
    fair share of the cores), cut so all workers together keep within
    ``PER_CORE`` threads per core.
    """
    check_threads(threads)
    cores = machine_cores()
    most = PER_CORE * cores
    workers = max(1, int(workers))
    if workers > most:
        raise UsageError(
            f"--workers {workers} is more than this machine can use: {cores} cores, at most {most} "
            "local worker processes (each loads the model)"
        )
    wanted = threads or max(1, cores // workers)
    return workers, max(1, min(wanted, most // workers))


class Executor(Protocol):
    """What the driver needs from an engine that runs segments."""

    @property
    def slots(self) -> int:
        """How many segments it runs at once."""
        ...

    def submit(self, task: SegmentTask) -> Future: ...
    def lost(self, exc: BaseException) -> bool: ...
    def progress(self) -> int: ...
    def close(self) -> None: ...


class InlineExecutor:
    """One worker in this process (on a helper thread): a plain run, resumable."""

    slots = 1

    def __init__(self, settings: Settings, spec: ModelSpec | None = None, threads: int | None = None) -> None:
        check_threads(threads)
        # a plain run's default: all cores but one for the model, the other for decode and encode
        self._worker = SegmentWorker(settings, spec, threads or pipeline_model_threads())
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sc-segment")
        self.description = "1 worker in this process"

    def submit(self, task: SegmentTask) -> Future:
        """Run ``task`` on the helper thread."""
        return self._pool.submit(self._worker.run, task)

    def lost(self, exc: BaseException) -> bool:
        """Nothing is ever lost in-process."""
        return False

    def progress(self) -> int:
        """Frames written of the segment in hand."""
        return self._worker.progress()

    def close(self) -> None:
        """Stop the segment in hand and let the helper thread end."""
        self._worker.stop()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> InlineExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_WORKER: SegmentWorker | None = None


def _init_process(settings: Settings, spec: ModelSpec | None, threads: int | None, counter: Any, driver: int) -> None:
    global _WORKER
    exit_with_parent(driver)  # a SIGKILLed driver must not leave its workers idling under PID 1
    _WORKER = SegmentWorker(settings, spec, threads)

    def count() -> None:
        with counter.get_lock():
            counter.value += 1

    _WORKER.on_frame = count


def _run_in_process(task: SegmentTask) -> SegmentResult:
    assert _WORKER is not None, "worker process not initialised"
    return _WORKER.run(task)


class LocalPool:
    """``workers`` processes on this machine (spawned, each loading the model once).

    A worker process that dies (killed, out of memory) breaks the pool: the pool is rebuilt and
    the driver retries the segments that were in it.  A worker process whose driver is gone ends
    itself.  ``local_shares`` bounds the processes and their threads.
    """

    def __init__(self, settings: Settings, workers: int, spec: ModelSpec | None = None, threads: int | None = None):
        self.slots, self.threads = local_shares(workers, threads)
        context = multiprocessing.get_context("spawn")
        self._counter = context.Value("q", 0)  # frames written by all worker processes
        self._returned = 0  # frames of the segments whose results came back (or were lost)
        self._args = (settings, spec, self.threads, self._counter, os.getpid())
        self._pool = self._new_pool()
        self.description = f"{self.slots} local worker processes x {self.threads} threads"

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.slots,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_process,
            initargs=self._args,
        )

    def submit(self, task: SegmentTask) -> Future:
        """Run ``task`` in a worker process (rebuilding the pool if a worker died)."""
        try:
            future = self._pool.submit(_run_in_process, task)
        except BrokenProcessPool:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
            future = self._pool.submit(_run_in_process, task)
        future.add_done_callback(self._settle)
        return future

    def _settle(self, future: Future) -> None:
        if future.cancelled() or future.exception() is not None:
            self._returned = self._counter.value  # a lost segment's frames no longer count
        else:
            self._returned += future.result().frames

    def lost(self, exc: BaseException) -> bool:
        """A dead worker process breaks the pool; its segments are worth retrying."""
        return isinstance(exc, BrokenProcessPool)

    def progress(self) -> int:
        """Frames written so far of the segments in hand (a counter the worker processes share)."""
        return max(0, self._counter.value - self._returned)

    def close(self) -> None:
        """Stop the worker processes now (segments in hand are abandoned)."""
        processes = list(getattr(self._pool, "_processes", {}).values())
        self._pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:  # our own children: end them rather than let them finish
            if process.is_alive():
                process.terminate()
        # reaped before close returns, so the scratch sweep that follows finds them gone
        deadline = time.monotonic() + 5.0
        for process in processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join(1.0)

    def __enter__(self) -> LocalPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
