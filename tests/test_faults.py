"""Fault tests: the signals `timeout`, `systemctl stop` and a closed terminal send, sent to a real
``stream-colorize`` process mid-run; what is left must play and no temporary file may remain.

The input is fed through a named pipe and held back halfway, so the process is provably in the
middle of its work (frames encoded, more expected) when the signal arrives; no sleeps decide it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from stream_colorize.errors import MediaError
from stream_colorize.io.outputs import atomic_output, claim, remove_stale_temps, temp_path, write_atomic
from tests.support.media import make_clip, probe_frame_count, video_frames

REPO = Path(__file__).resolve().parent.parent


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp" in p.name)


@pytest.fixture(scope="module")
def stream_ts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MPEG-TS clip (H.264 + AAC) to feed through a pipe: 12 s at 25 fps."""
    return make_clip(tmp_path_factory.mktemp("faults") / "feed.ts", seconds=12, size=(320, 240), audio=1)


class PipeFeeder:
    """Writes the first ``fraction`` of a file into a FIFO, then holds the pipe open (stalled)."""

    def __init__(self, fifo: Path, data: bytes, fraction: float) -> None:
        self.fifo, self.data, self.fraction = fifo, data, fraction
        self.release = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            with open(self.fifo, "wb") as pipe:
                pipe.write(self.data[: int(len(self.data) * self.fraction)])
                pipe.flush()
                self.release.wait(120)
        except (BrokenPipeError, OSError):
            pass

    def __enter__(self) -> PipeFeeder:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        try:  # unblock an open() still waiting for a reader
            os.close(os.open(self.fifo, os.O_RDONLY | os.O_NONBLOCK))
        except OSError:
            pass
        self.thread.join(10)


def start_cli(args: list[str], folder: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    cmd = [sys.executable, "-m", "stream_colorize", *args]
    return subprocess.Popen(cmd, cwd=folder, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)


def wait_for_encoded_frames(folder: Path, proc: subprocess.Popen, size: int = 30_000) -> None:
    """Until the hidden temporary output holds ``size`` bytes (frames are being written)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        tmp = [p for p in folder.iterdir() if ".tmp" in p.name]
        if tmp and tmp[0].stat().st_size >= size:
            return
        if proc.poll() is not None:
            raise AssertionError(f"ended before the signal: {proc.stderr.read()}")
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("no frames were written within 120 s")


CASES = {
    "SIGINT": ([signal.SIGINT], 130),
    "SIGINT twice, 30 ms apart": ([signal.SIGINT, signal.SIGINT], 130),
    "SIGTERM": ([signal.SIGTERM], 143),
    "SIGHUP": ([signal.SIGHUP], 129),
}


@pytest.mark.parametrize("case", list(CASES))
def test_signal_mid_run_keeps_a_playable_partial(case: str, stream_ts: Path, tmp_path: Path, tiny_onnx: Path) -> None:
    signals, code = CASES[case]
    fifo = tmp_path / "feed.ts"
    os.mkfifo(fifo)
    out = tmp_path / "out.mp4"
    with PipeFeeder(fifo, stream_ts.read_bytes(), 0.7):
        proc = start_cli(["video", str(fifo), str(out), "-m", str(tiny_onnx), "-d", "cpu", "-q"], tmp_path)
        wait_for_encoded_frames(tmp_path, proc)
        for i, signum in enumerate(signals):
            if i:
                time.sleep(0.03)
            proc.send_signal(signum)
        err = proc.communicate(timeout=60)[1]
    assert proc.returncode == code, err
    partial = tmp_path / "out.partial.mp4"
    assert not out.exists() and partial.is_file(), err
    assert "Traceback" not in err and str(partial) in err
    frames = video_frames(partial)
    assert len(frames) == probe_frame_count(partial) > 10
    assert frames[0].shape == (240, 320, 3)
    assert leftovers(tmp_path) == []


def test_sigterm_during_live_record_keeps_the_recording(tmp_path: Path, tiny_onnx: Path) -> None:
    out = tmp_path / "rec.mp4"
    args = ["live", "lavfi:testsrc2=size=320x240:rate=25", "--headless", "--record", str(out)]
    proc = start_cli([*args, "-m", str(tiny_onnx), "-d", "cpu"], tmp_path)
    wait_for_encoded_frames(tmp_path, proc, size=20_000)
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 143, err
    assert "Traceback" not in err
    assert out.is_file() and probe_frame_count(out) > 5, err
    assert leftovers(tmp_path) == []


def dead_pid() -> int:
    """A process id that no live process has."""
    pid = 4_000_000
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            pass
        pid -= 1


def test_stale_temp_files_of_dead_runs_are_removed(tmp_path: Path) -> None:
    stale = temp_path(tmp_path / "film.mp4", pid=dead_pid())
    live = temp_path(tmp_path / "film.mp4", pid=os.getppid())  # a live process's work in progress
    stale.write_bytes(b"x" * 48)
    live.write_bytes(b"y")
    other = tmp_path / ".notes.txt"
    other.write_text("not ours")
    assert remove_stale_temps(tmp_path) == [stale]
    assert not stale.exists() and live.exists() and other.exists()


def test_claim_never_replaces_a_file_that_appeared_meanwhile(tmp_path: Path) -> None:
    target = tmp_path / "out.mp4"
    tmp = temp_path(target)
    tmp.write_bytes(b"ours")
    target.write_bytes(b"theirs")  # another run finished first
    with pytest.raises(MediaError, match="appeared while this run was working") as info:
        claim(tmp, target, overwrite=False)
    assert target.read_bytes() == b"theirs"
    aside = target.with_name(f"out.{os.getpid()}.mp4")
    assert aside.read_bytes() == b"ours" and str(aside) in str(info.value)
    assert not tmp.exists()
    tmp.write_bytes(b"again")
    assert claim(tmp, target, overwrite=True) == target and target.read_bytes() == b"again"


def test_atomic_writes_replace_whole_files_or_nothing(tmp_path: Path) -> None:
    target = tmp_path / "models" / "m.json"  # the folder is created
    assert write_atomic(target, "first") == target and target.read_text() == "first"
    with pytest.raises(RuntimeError), atomic_output(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("the writer failed")
    assert target.read_text() == "first"  # the old file is kept, the temporary one is gone
    assert sorted(p.name for p in target.parent.iterdir()) == ["m.json"]
    write_atomic(target, b"second", durable=True)
    assert target.read_bytes() == b"second"
    with pytest.raises(MediaError, match="appeared while"):
        write_atomic(target, "third", overwrite=False)
    assert target.read_bytes() == b"second"


AS_LIMIT = 1500 * 1024 * 1024  # address space: enough to start and refuse, not to decode the inputs


def run_limited(args: list[str], folder: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    cmd = ["prlimit", f"--as={AS_LIMIT}", sys.executable, "-m", "stream_colorize", *args]
    return subprocess.run(cmd, cwd=folder, capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.skipif(shutil.which("prlimit") is None, reason="prlimit (util-linux) is not installed")
def test_oversized_inputs_are_refused_under_a_memory_limit(tmp_path: Path, tiny_onnx: Path) -> None:
    photo = tmp_path / "huge.png"
    cv2.imwrite(str(photo), np.zeros((11_000, 11_000), np.uint8))  # 121 MP, a 100 kB file
    film = tmp_path / "huge.mkv"
    with av.open(str(film), "w") as out:
        stream = out.add_stream("mjpeg", rate=25)
        stream.width, stream.height, stream.pix_fmt = 9000, 9000, "yuvj420p"  # 81 MP, above 8K
        frame = av.VideoFrame.from_ndarray(np.zeros((9000, 9000), np.uint8), format="gray").reformat(format="yuvj420p")
        frame.pts, frame.time_base = 0, Fraction(1, 25)
        out.mux(stream.encode(frame))
        out.mux(stream.encode())
    model = ["-m", str(tiny_onnx), "-d", "cpu"]
    for args, what in (
        (["image", str(photo), "-o", str(tmp_path / "out.png"), *model], "11000x11000"),
        (["video", str(film), str(tmp_path / "out.mp4"), *model], "9000x9000"),
    ):
        done = run_limited(args, tmp_path)
        errors = [line for line in done.stderr.splitlines() if "error:" in line]
        assert done.returncode == 1 and len(errors) == 1, done.stderr
        assert what in errors[0] and "megapixel limit" in errors[0] and "Traceback" not in done.stderr
    assert not (tmp_path / "out.png").exists() and not (tmp_path / "out.mp4").exists()
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("accept", [False, True])
def test_a_stream_cut_short_says_how_much_and_fails(accept: bool, stream_ts: Path, tmp_path: Path, tiny_onnx) -> None:
    fifo = tmp_path / "live.ts"
    os.mkfifo(fifo)
    out = tmp_path / "rec.mp4"
    args = ["video", str(fifo), str(out), "-m", str(tiny_onnx), "-d", "cpu", "-q", "-t", "30"]
    feeder = PipeFeeder(fifo, stream_ts.read_bytes(), 0.5)
    feeder.release.set()  # the "server" sends half the clip (about 6 s), then hangs up
    with feeder:
        proc = start_cli([*args, "--accept-partial"] if accept else args, tmp_path)
        err = proc.communicate(timeout=120)[1]
    line = next((x for x in err.splitlines() if "ended after" in x), "")
    seconds = float(line.split("ended after ")[1].split(" s")[0]) if line else -1.0
    frames = len(video_frames(out))
    assert abs(seconds - frames / 25) < 0.2 and 3 < seconds < 8, err  # says how much it recorded
    assert "of the 30 s asked" in line and str(out) in line
    if accept:
        assert proc.returncode == 0 and "note:" in line, err
    else:
        assert proc.returncode == 1 and "error:" in line and "--accept-partial" in line, err


def test_nohup_keeps_sighup_ignored(stream_ts: Path, tmp_path: Path, tiny_onnx: Path) -> None:
    fifo = tmp_path / "feed.ts"
    os.mkfifo(fifo)
    out = tmp_path / "out.mp4"
    with PipeFeeder(fifo, stream_ts.read_bytes(), 0.7):
        env = dict(os.environ, PYTHONPATH=str(REPO))
        cmd = ["nohup", sys.executable, "-m", "stream_colorize", "video", str(fifo), str(out), "-m", str(tiny_onnx)]
        proc = subprocess.Popen(cmd, cwd=tmp_path, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                                env=env)
        wait_for_encoded_frames(tmp_path, proc)
        proc.send_signal(signal.SIGHUP)  # the terminal closed: nohup's promise is to carry on
        proc.send_signal(signal.SIGTERM)  # a handled SIGHUP would have ended it first, with 129
        err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 143, err
    assert (tmp_path / "out.partial.mp4").is_file()
