"""The thread toolkit both the file pipeline and the live loop are built from.

    >>> inbox: LeakyQueue[Frame] = LeakyQueue(2)      # newest-wins hand-over, never blocks the producer
    >>> worker = GuardedThread(loop, "live-model", on_error=stage.fail)
    >>> worker.start(); ...; worker.join()

* ``LeakyQueue``: a bounded FIFO whose ``put`` drops the oldest item instead of waiting, so a slow
  consumer makes frames drop rather than latency grow (live inputs, the model's inbox).
* ``GuardedThread``: a daemon thread whose exception is handed to ``on_error`` (the owner stores it,
  stops its other threads and re-raises it in the caller's thread) instead of being printed and
  lost; ``quiet`` exceptions (a stop signal) end the thread silently.

The file pipeline's bounded, byte-budgeted queues with stop-aware waits live in ``pipeline.py``;
they are the one other hand-over and are only used there.
"""

from __future__ import annotations

import collections
import threading
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
