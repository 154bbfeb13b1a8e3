"""The thread toolkit both the file pipeline and the live loop are built from.

    >>> inbox: LeakyQueue[Frame] = LeakyQueue(2)      # newest-wins hand-over, never blocks the producer
    >>> worker = GuardedThread(loop, "live-model", on_error=stage.fail)
    >>> worker.start(); ...; worker.join()

* ``LeakyQueue``: a bounded FIFO whose ``put`` drops the oldest item instead of waiting, so a slow
  consumer makes frames drop rather than latency grow (live inputs, the model's inbox).
* ``BoundedQueue``: a FIFO that holds at most ``maxsize`` items and ``max_bytes`` of payload (one
  item always gets in, so a huge frame still flows); a producer waits for room, a consumer for an
  item, and both give up with ``Stopped`` once the owner's stop event is set (the file pipeline).
* ``GuardedThread``: a daemon thread whose exception is handed to ``on_error`` (the owner stores it,
  stops its other threads and re-raises it in the caller's thread) instead of being printed and
  lost; ``quiet`` exceptions (``Stopped``) end the thread silently.
"""

from __future__ import annotations

import collections
import queue
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class LeakyQueue(Generic[T]):
    """A bounded FIFO whose ``put`` never blocks: when full, the oldest item is dropped."""

    def __init__(self, maxsize: int = 1) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be >= 1")
        self.maxsize = maxsize
        self.dropped = 0
        self._items: collections.deque[T] = collections.deque()
        self._cond = threading.Condition()

    def put(self, item: T) -> T | None:
        """Append ``item``; return the item dropped to make room, if any."""
        with self._cond:
            dropped = None
            if len(self._items) >= self.maxsize:
                dropped = self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            self._cond.notify()
            return dropped

    def get(self, timeout: float | None = None) -> T | None:
        """The oldest item, waiting up to ``timeout`` seconds; None when nothing came."""
        with self._cond:
            if not self._items:
                self._cond.wait(timeout)
            return self._items.popleft() if self._items else None

    def clear(self) -> None:
        """Drop everything queued (not counted as drops)."""
        with self._cond:
            self._items.clear()

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)


class Stopped(Exception):
    """Raised in a thread waiting on a ``BoundedQueue`` when its owner stops."""


class BoundedQueue(Generic[T]):
    """A FIFO bounded in items and in bytes, whose waits end when ``stop`` is set (see the module)."""

    def __init__(
        self, maxsize: int, stop: threading.Event, max_bytes: int, size_of: Callable[[T], int], poll: float = 0.05
    ) -> None:
        self._queue: queue.Queue[T] = queue.Queue(maxsize=maxsize)
        self._stop = stop
        self.max_bytes = max_bytes
        self._size_of = size_of
        self._poll = poll
        self._held = 0
        self._lock = threading.Lock()

    def _room(self, size: int) -> bool:
        with self._lock:
            if self._held and self._held + size > self.max_bytes:
                return False
            self._held += size
            return True

    def _release(self, size: int) -> None:
        with self._lock:
            self._held -= size

    def put(self, item: T) -> None:
        """Append ``item`` once there is room; Stopped if the owner stops first."""
        size = self._size_of(item)
        while size and not self._room(size):
            if self._stop.is_set():
                raise Stopped
            time.sleep(0.005)
        while True:
            if self._stop.is_set():
                if size:
                    self._release(size)
                raise Stopped
            try:
                self._queue.put(item, timeout=self._poll)
                return
            except queue.Full:
                pass

    def get(self) -> T:
        """The oldest item, once there is one; Stopped if the owner stops first."""
        while True:
            if self._stop.is_set():
                raise Stopped
            try:
                item = self._queue.get(timeout=self._poll)
            except queue.Empty:
                continue
            size = self._size_of(item)
            if size:
                self._release(size)
            return item


class GuardedThread(threading.Thread):
    """A daemon thread running ``body``; an exception goes to ``on_error`` instead of stderr."""

    def __init__(
        self,
        body: Callable[[], None],
        name: str,
        on_error: Callable[[BaseException], None],
        quiet: tuple[type[BaseException], ...] = (),
    ) -> None:
        super().__init__(name=name, daemon=True)
        self._body = body
        self._on_error = on_error
        self._quiet = quiet

    def run(self) -> None:
        """Run the body; report what it raised (except the ``quiet`` kinds) to ``on_error``."""
        try:
            self._body()
        except BaseException as exc:  # noqa: BLE001 - the owner re-raises it in its own thread
            if not isinstance(exc, self._quiet):
                self._on_error(exc)
