"""One engine for every camera of ``serve``: a thread runs the forwards the cameras ask for.

    >>> shared = SharedModel(build_engine(settings.model), batch=4).start()
    >>> stage = LiveStage(shared.for_camera(), inbox, options, fps)   # a Colorizer to the live stage
    >>> shared.stop()

Each camera's live stage asks for one frame at a time and waits for its ab (``CameraModel``
stands in for the ``Colorizer`` it would have had).  The model thread takes every request waiting
when it is free: with ``batch`` > 1, up to that many frames (of the same temperature) go through
one forward, otherwise one frame a forward, first come first served.  Either way the engine is
loaded once, its threads are not oversubscribed, and a camera waits at most for the forward in
progress.  bench/cameras.py measures which is faster (``DEFAULT_BATCH_CAMERAS``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..engine import Colorizer
from ..errors import ModelError
from ..threads import GuardedThread

# bench/cameras.py, 4 cameras at 640x360 30 fps on 2 cores, default model (ONNX Runtime, CPU): 27.3
# model frames/s one frame a forward, 27.4 batched (2.0 frames a forward), 28.3 as 4 processes.
# Batching buys nothing here and makes each camera wait for the others' frames: off unless asked.
DEFAULT_BATCH_CAMERAS = False


@dataclass(eq=False)  # each request is itself (and holds arrays)
class _Request:
    image: np.ndarray
    temperature: float
    done: threading.Event = field(default_factory=threading.Event)
    ab: np.ndarray | None = None
    error: BaseException | None = None


class SharedModel:
    """The engine and the thread that runs it for every camera."""

    def __init__(self, engine: Colorizer, batch: int = 1) -> None:
        self.engine = engine
        self.batch = max(1, int(batch))
        self.forwards = 0  # forward calls run
        self.frames = 0  # frames colourized by them
        self.model_s = 0.0  # moving average of one forward call
        self.error: BaseException | None = None
        self._waiting: list[_Request] = []
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = GuardedThread(self._run, "serve-model", self._fail)

    def start(self) -> SharedModel:
        """Start the model thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the model thread (after the forward in progress); waiting cameras get a ModelError."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._thread.join(10.0)
        self._fail_waiting(ModelError("the model stopped"))

    def for_camera(self) -> CameraModel:
        """What one camera's live stage uses as its colorizer."""
        return CameraModel(self)

    def predict(self, image: np.ndarray, temperature: float) -> np.ndarray:
        """ab for one frame at ``temperature`` (blocks until the model thread has run it)."""
        request = _Request(image, temperature)
        with self._cond:
            if self.error is not None or self._stop.is_set():
                raise ModelError(f"the shared model is not running ({self.error or 'stopped'})")
            self._waiting.append(request)
            self._cond.notify()
        while not request.done.wait(0.5):
            if not self._thread.is_alive():
                raise ModelError(f"the shared model stopped ({self.error or 'stopped'})")
        if request.error is not None:
            raise ModelError(f"the model failed: {request.error}") from request.error
        assert request.ab is not None  # set with done
        return request.ab

    def _take(self) -> list[_Request]:
        """The next forward's requests: the oldest, and as many waiting at its temperature as fit."""
        with self._cond:
            while not self._waiting and not self._stop.is_set():
                self._cond.wait(0.2)
            if not self._waiting:
                return []
            temperature = self._waiting[0].temperature
            taken = [r for r in self._waiting if r.temperature == temperature][: self.batch]
            self._waiting = [r for r in self._waiting if r not in taken]
            return taken

    def _run(self) -> None:
        while not self._stop.is_set():
            taken = self._take()
            if not taken:
                continue
            engine = self.engine
            if taken[0].temperature != engine.temperature:
                engine.set_temperature(taken[0].temperature)
            began = time.perf_counter()
            try:
                ab = engine.predict_ab([r.image for r in taken])
            except Exception as exc:  # noqa: BLE001 - each camera waiting hears of it; the next may do better
                for request in taken:
                    request.error = exc
                    request.done.set()
                continue
            elapsed = time.perf_counter() - began
            self.model_s = elapsed if self.forwards == 0 else 0.8 * self.model_s + 0.2 * elapsed
            self.forwards += 1
            self.frames += len(taken)
            for request, one in zip(taken, ab):
                request.ab = one
                request.done.set()

    def _fail(self, exc: BaseException) -> None:
        self.error = exc
        self._fail_waiting(exc)

    def _fail_waiting(self, exc: BaseException) -> None:
        with self._cond:
            waiting, self._waiting = self._waiting, []
        for request in waiting:
            request.error = exc
            request.done.set()


class CameraModel:
    """A ``Colorizer`` to one camera's ``LiveStage``: the shared engine, at this camera's temperature."""

    def __init__(self, shared: SharedModel) -> None:
        self.shared = shared
        self.merge = shared.engine.merge
        self.temperature = shared.engine.temperature

    def set_temperature(self, temperature: float) -> None:
        """This camera's temperature from its next frame on (the others keep theirs)."""
        self.temperature = float(temperature)

    def predict_ab(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        """(N, 2, h, w) ab for the frames (the live stage sends one at a time)."""
        return np.stack([self.shared.predict(frame, self.temperature) for frame in frames])
