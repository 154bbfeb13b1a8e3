"""The threaded pipeline: order, end of stream, errors from any stage, stopping."""

from __future__ import annotations

import threading
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from stream_colorize.engine import Colorizer
from stream_colorize.errors import MediaError
from stream_colorize.frames import Frame
from stream_colorize.io.source import MediaSource
from stream_colorize.pipeline import AbStage, Merge, Pipeline
from stream_colorize.temporal import Temporal
from tests.support.media import make_clip


class ListSource:
    def __init__(self, items, delay: float = 0.0, fail_at: int | None = None) -> None:
        self._items, self.delay, self.fail_at = items, delay, fail_at
        self.stopped = threading.Event()

    def items(self):
        for i, item in enumerate(self._items):
            if self.stopped.is_set():
                return
            if self.fail_at == i:
                raise MediaError("source broke")
            time.sleep(self.delay)
            yield item

    def stop(self) -> None:
        self.stopped.set()


class ListSink:
    def __init__(self, fail_at: int | None = None) -> None:
        self.items: list = []
        self.fail_at = fail_at

    def write(self, item) -> None:
        if self.fail_at is not None and len(self.items) == self.fail_at:
            raise OSError(28, "No space left on device")
        self.items.append(item)


class Double:
    def process(self, item):
        return (item, item)

    def finish(self):
        return ("tail",)


class Boom:
    def process(self, item):
        if item == 3:
            raise ValueError("stage failed on 3")
        return (item,)

    def finish(self):
        return ()


def frames(n: int, size=(48, 64)) -> list[Frame]:
    rng = np.random.default_rng(0)
    return [Frame(i, rng.integers(0, 255, size, np.uint8), i, Fraction(1, 25)) for i in range(n)]


def test_order_and_end_of_stream() -> None:
    sink = ListSink()
    Pipeline(ListSource(list(range(50))), [Double()], sink, queue_size=2).run()
    assert sink.items == [x for i in range(50) for x in (i, i)] + ["tail"]


@pytest.mark.parametrize("where", ["source", "stage", "sink"])
def test_error_in_any_stage_stops_all_and_reraises(where: str) -> None:
    source = ListSource(list(range(10_000)), fail_at=5 if where == "source" else None)
    stages = [Double(), Boom()] if where == "stage" else [Double()]
    sink = ListSink(fail_at=4 if where == "sink" else None)
    expected = {"source": MediaError, "stage": ValueError, "sink": OSError}[where]
    started = time.perf_counter()
    with pytest.raises(expected) as info:
        Pipeline(source, stages, sink, queue_size=4).run()
    assert time.perf_counter() - started < 10  # stopped, did not drain 10 000 items
    assert info.traceback  # the original exception, with its traceback
    assert source.stopped.is_set()


def test_stop_from_another_thread_ends_run() -> None:
    source = ListSource(list(range(100_000)), delay=0.001)
    pipe = Pipeline(source, [Double()], ListSink(), queue_size=4)
    threading.Timer(0.3, pipe.stop).start()
    pipe.run()
    assert source.stopped.is_set()


def test_colorize_and_merge_stages_batch_and_pass_packets(tiny_spec) -> None:
    engine = Colorizer(tiny_spec, device="cpu")
    items: list = frames(7)
    items.insert(3, "packet")
    sink = ListSink()
    Pipeline(ListSource(items), [AbStage(engine, Temporal(skip=1, smooth=0.0), batch=3), Merge()], sink).run()
    out_frames = [x for x in sink.items if isinstance(x, Frame)]
    assert [f.index for f in out_frames] == list(range(7)) and "packet" in sink.items
    single = engine.colorize([items[0].image])[0]
    assert out_frames[0].output.shape == (48, 64, 3)
    assert np.abs(out_frames[0].output.astype(int) - single.astype(int)).max() <= 1


def test_media_source_gray_matches_ffmpeg_gray(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "s.mp4", seconds=0.2, audio=1)
    import av

    with av.open(str(clip)) as c:
        reference = [f.to_ndarray(format="gray") for f in c.decode(video=0)]
    with MediaSource(clip) as source:
        items = list(source.items())
    got = [i.image for i in items if isinstance(i, Frame)]
    assert len(got) == len(reference) and any(not isinstance(i, Frame) for i in items)
    assert max(np.abs(a.astype(int) - b.astype(int)).max() for a, b in zip(got, reference)) <= 1


def test_bounded_queue_holds_a_byte_budget_and_stops_waiting() -> None:
    from stream_colorize.threads import BoundedQueue, Stopped

    stop = threading.Event()
    q: BoundedQueue[bytes] = BoundedQueue(8, stop, max_bytes=100, size_of=len, poll=0.01)
    q.put(b"x" * 500)  # larger than the budget: still let in when the queue is empty
    blocked = threading.Thread(target=lambda: q.put(b"y" * 10), daemon=True)
    blocked.start()
    blocked.join(0.2)
    assert blocked.is_alive()  # waits: the budget is spent
    assert q.get() == b"x" * 500
    blocked.join(1.0)
    assert not blocked.is_alive() and q.get() == b"y" * 10
    stop.set()
    with pytest.raises(Stopped):
        q.get()  # nothing queued and the owner stopped: no hang
    with pytest.raises(Stopped):
        q.put(b"z")
