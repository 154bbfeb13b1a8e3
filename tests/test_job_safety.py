"""The segmented path never destroys what is not its own (#21): a job folder that is a link or
holds someone else's files, an output that appears while the job works, outputs that cannot be
joined from segments, damaged manifests, worker scratch folders, an old partial film.

Every case runs the real command (``python -m stream_colorize``) on real files.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest

from stream_colorize.cluster import ClusterOptions, run_job
from stream_colorize.cluster.manifest import job_dir_for
from stream_colorize.config import Settings
from stream_colorize.errors import UsageError
from tests.support.media import make_clip, packet_hashes, probe_frame_count, video_frames, video_pts

REPO = Path(__file__).resolve().parent.parent
FRAMES = 75  # the test film: 3 s at 25 fps


@pytest.fixture(scope="module")
def film(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 s, a keyframe every 12 frames, one audio track: three 1-s segments."""
    return make_clip(tmp_path_factory.mktemp("job_safety") / "film.mkv", seconds=3, audio=1, gop=12)


def argv(film: Path, out: Path, model: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "stream_colorize", "video", str(film), str(out), "-m", str(model), "-q", *extra]


def env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), **extra}


def run(args: list[str], **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=env(**extra), capture_output=True, text=True, timeout=180)


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every entry under ``folder`` (not following links) with a file's bytes."""
    return {
        str(p.relative_to(folder)): (p.read_bytes() if p.is_file() and not p.is_symlink() else None)
        for p in sorted(folder.rglob("*"))
    }


def done_segments(job: Path) -> dict:
    try:
        return json.loads((job / "manifest.json").read_text())["done"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def wait_until_done(proc: subprocess.Popen, job: Path, count: int) -> None:
    """Until the job's manifest lists ``count`` finished segments, the run still going."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if len(done_segments(job)) >= count:
            return
        time.sleep(0.02)
    proc.kill()
    raise AssertionError(f"the run ended or stalled before {count} segments were done: {proc.communicate()[1]}")


def interrupt_after(args: list[str], job: Path, count: int, **extra: str) -> str:
    """Start the command, press Ctrl-C once ``count`` segments are kept; its stderr."""
    proc = subprocess.Popen(args, env=env(**extra), stderr=subprocess.PIPE, text=True)
    wait_until_done(proc, job, count)
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130, err
    return err


# -- 1. the job folder --------------------------------------------------------------------------


def _link_to_a_folder(job: Path, elsewhere: Path) -> None:
    job.symlink_to(elsewhere, target_is_directory=True)


def _a_folder_of_files(job: Path, elsewhere: Path) -> None:
    job.mkdir()
    (job / "notes.txt").write_text("the user's notes")
    (job / "photos").mkdir()
    (job / "photos" / "a.jpg").write_bytes(b"\xff\xd8 not ours")


def _a_plain_file(job: Path, elsewhere: Path) -> None:
    job.write_text("a file that happens to have the job folder's name")


IN_THE_WAY = {
    "a link to someone's folder": (_link_to_a_folder, "symbolic link"),
    "a folder of someone's files": (_a_folder_of_files, "notes.txt"),
    "a file": (_a_plain_file, ".out.mkv.job is in the way"),
}


@pytest.mark.parametrize("case", list(IN_THE_WAY))
def test_a_job_folder_that_is_not_ours_is_refused_untouched(
    case: str, film: Path, tmp_path: Path, tiny_onnx: Path
) -> None:
    """`ln -s /some/dir .out.mkv.job` (or a real folder of that name) was emptied; now nothing is touched."""
    make, named = IN_THE_WAY[case]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "thesis.tex").write_text("years of work")
    (elsewhere / "figures").mkdir()
    (elsewhere / "figures" / "plot.pdf").write_bytes(b"%PDF not ours")
    out = tmp_path / "out.mkv"
    make(job_dir_for(out), elsewhere)
    before = snapshot(tmp_path)
    done = run(argv(film, out, tiny_onnx, "--workers", "2", "--segment-seconds", "1"))
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stream-colorize: error: "), done.stderr
    assert named in lines[0] and "Traceback" not in done.stderr
    assert snapshot(tmp_path) == before  # not a file written, emptied or removed, not even a lock


def test_files_beside_our_segments_are_left_alone(film: Path, tmp_path: Path, tiny_onnx: Path) -> None:
    """A job folder of ours with someone's file put in it: the job resumes and finishes, and only
    its own files go; the folder stays for the file, with a word about it."""
    out = tmp_path / "out.mkv"
    job = job_dir_for(out)
    args = argv(film, out, tiny_onnx, "--workers", "1", "--segment-seconds", "1")
    interrupt_after(args, job, 1)
    (job / "mine.txt").write_text("not stream-colorize's")
    (job / "kept").mkdir()
    (job / "kept" / "old.mkv").write_bytes(b"someone's film")
    done = run(args)
    assert done.returncode == 0, done.stderr
    assert "resumed:" in done.stderr
    assert f"{job} was kept: it holds files stream-colorize did not make" in done.stderr
    assert sorted(p.name for p in job.iterdir()) == ["kept", "mine.txt"]
    assert (job / "kept" / "old.mkv").read_bytes() == b"someone's film"
    assert probe_frame_count(out) == FRAMES


# -- 2. an output that appears while the job works -----------------------------------------------


def test_an_output_that_appears_meanwhile_is_not_replaced(film: Path, tmp_path: Path, tiny_onnx: Path) -> None:
    out = tmp_path / "out.mkv"
    job = job_dir_for(out)
    proc = subprocess.Popen(
        argv(film, out, tiny_onnx, "--workers", "1", "--segment-seconds", "1"),
        env=env(),
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_until_done(proc, job, 1)
    out.write_bytes(b"written by someone else while the job worked")  # before the join
    err = proc.communicate(timeout=120)[1]
    assert proc.returncode == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "appeared while this run was working" in lines[0], err
    assert out.read_bytes() == b"written by someone else while the job worked"
    kept = Path(lines[0].rsplit("this result is in ", 1)[1])
    assert kept.parent == tmp_path and kept.name.startswith("out.") and kept.suffix == ".mkv"
    assert probe_frame_count(kept) == FRAMES
    assert packet_hashes(kept, "audio") == packet_hashes(film, "audio")
    assert not job.exists()  # the whole film is kept: its segments are done with

    replaced = run(argv(film, out, tiny_onnx, "--segment-seconds", "1", "-y"))  # asked for: replaced
    assert replaced.returncode == 0, replaced.stderr
    assert probe_frame_count(out) == FRAMES


# -- 6. outputs that cannot be joined from segments ----------------------------------------------


@pytest.mark.parametrize("suffix", [".ts", ".m2ts"])
def test_mpeg_ts_is_joined_from_segments(suffix: str, film: Path, tmp_path: Path, tiny_onnx: Path) -> None:
    """MPEG-TS joins (through Matroska segments) into what a plain run writes."""
    out = tmp_path / f"out{suffix}"
    done = run(argv(film, out, tiny_onnx, "--workers", "2", "--segment-seconds", "1"))
    assert done.returncode == 0, done.stderr
    plain = run(argv(film, tmp_path / f"plain{suffix}", tiny_onnx))
    assert plain.returncode == 0, plain.stderr
    assert video_pts(out) == video_pts(tmp_path / f"plain{suffix}") and len(video_pts(out)) == FRAMES
    assert len(video_frames(out)) == FRAMES
    assert packet_hashes(out, "audio") == packet_hashes(tmp_path / f"plain{suffix}", "audio")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([out.name, f"plain{suffix}"])  # no job folder


ONE_PASS = {
    "gif": ("out.gif", "a .gif file"),
    "image sequence": ("frames/f_%04d.png", "an image sequence"),
    "avi": ("out.avi", "a .avi file"),
}


def count_frames(out: Path) -> int:
    if "%" in out.name:
        return len(list(out.parent.glob("f_*.png")))
    with av.open(str(out)) as container:
        return sum(1 for _ in container.decode(video=0))


@pytest.mark.parametrize("case", list(ONE_PASS))
def test_outputs_that_cannot_be_joined_are_made_in_one_pass(
    case: str, film: Path, tmp_path: Path, tiny_onnx: Path
) -> None:
    """GIF, an image sequence, AVI with --workers: made in one pass, said in one line, no job folder."""
    name, kind = ONE_PASS[case]
    out = tmp_path / name
    out.parent.mkdir(exist_ok=True)
    done = run(argv(film, out, tiny_onnx, "--workers", "2", "--segment-seconds", "1"), TMPDIR=str(tmp_path))
    assert done.returncode == 0, done.stderr
    note = f"{kind} cannot be joined from segments, so it is made in one pass"
    assert done.stderr.count(note) == 1, done.stderr
    assert count_frames(out) == FRAMES
    assert not job_dir_for(out).exists()
    assert not list(tmp_path.glob("sc-segment-*"))


def test_an_old_gif_job_no_longer_resumes_forever(film: Path, tmp_path: Path, tiny_onnx: Path) -> None:
    """A GIF job folder an earlier version left (its join could never work): the GIF is made in
    one pass and the folder, ours by its manifest, goes."""
    out = tmp_path / "out.gif"
    job = job_dir_for(out)
    job.mkdir()
    record = {
        "format": 1,
        "identity": {"input": "0" * 64, "settings": {"container": ".gif"}, "model": "0" * 64},
        "plan": {"seconds": 1.0, "warmup": 48, "segments": [[0, 30, None, 25, 25]]},
        "suffix": ".gif",
        "created": time.time(),
        "done": {"0": {"sha256": "0" * 64, "size": 4, "frames": 25, "worker": "w", "seconds": 1.0, "model_runs": 25}},
    }
    (job / "manifest.json").write_text(json.dumps(record))
    (job / "segment-00000.gif").write_bytes(b"GIF8")
    (job / "journal.log").write_text("")
    (job / "lock").write_text("")
    done = run(argv(film, out, tiny_onnx))
    assert done.returncode == 0, done.stderr
    assert f"removed {job}" in done.stderr
    assert count_frames(out) == FRAMES and not job.exists()


def test_the_library_refuses_a_gif_before_any_work(film: Path, tmp_path: Path, tiny_onnx: Path) -> None:
    out = tmp_path / "out.gif"
    with pytest.raises(UsageError, match="a .gif file cannot be joined from segments"):
        run_job(film, out, Settings(model=str(tiny_onnx)), ClusterOptions(segment_seconds=1))
    assert not list(tmp_path.iterdir())


# -- 8. damaged manifests ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stopped_job(film: Path, tmp_path_factory: pytest.TempPathFactory, tiny_onnx: Path) -> Path:
    """The job folder of a run stopped after one of its three segments (a copy is used per test)."""
    for _ in range(3):  # on a fast, idle machine the run may finish before Ctrl-C lands: try again
        folder = tmp_path_factory.mktemp("stopped")
        out = folder / "out.mkv"
        proc = subprocess.Popen(argv(film, out, tiny_onnx, "--workers", "1", "--segment-seconds", "1"), env=env(),
                                stderr=subprocess.PIPE, text=True)  # fmt: skip
        try:
            wait_until_done(proc, job_dir_for(out), 1)
        except AssertionError as exc:  # it ended (or stalled) before a segment was seen kept
            err = str(exc)
            continue
        proc.send_signal(signal.SIGINT)
        err = proc.communicate(timeout=60)[1]
        if proc.returncode == 130 and (job_dir_for(out) / "manifest.json").is_file():
            return job_dir_for(out)
    raise AssertionError(f"no run could be stopped with a segment kept: {proc.returncode} {err}")


def _entry(record: dict) -> dict:
    return next(iter(record["done"].values()))


DAMAGED = {
    "a list": lambda record: [],
    "a number": lambda record: 1,
    "identity a string": lambda record: {**record, "identity": "film.mkv"},
    "done a list": lambda record: {**record, "done": []},
    "a done entry {}": lambda record: {**record, "done": {"0": {}}},
    "a done entry a list": lambda record: {**record, "done": {"0": [1, 2]}},
    "a done entry's size a string": lambda record: {
        **record, "done": {"0": {**_entry(record), "size": str(_entry(record)["size"])}}
    },
    "a done entry's number a word": lambda record: {**record, "done": {"first": _entry(record)}},
}


@pytest.mark.parametrize("case", list(DAMAGED))
def test_a_damaged_manifest_means_a_fresh_start(
    case: str, stopped_job: Path, film: Path, tmp_path: Path, tiny_onnx: Path
) -> None:
    out = tmp_path / "out.mkv"
    job = job_dir_for(out)
    shutil.copytree(stopped_job, job)
    record = json.loads((job / "manifest.json").read_text())
    assert record["done"]  # one segment kept: the run would resume from it
    (job / "manifest.json").write_text(json.dumps(DAMAGED[case](record)))
    done = run(argv(film, out, tiny_onnx, "--workers", "1", "--segment-seconds", "1"))
    assert done.returncode == 0, done.stderr
    notes = [line for line in done.stderr.splitlines() if line.startswith("stream-colorize:")]
    assert notes == [f"stream-colorize: the manifest in {job} is unreadable or damaged; starting afresh"], done.stderr
    assert probe_frame_count(out) == FRAMES and not job.exists()


# -- 10. worker scratch folders ------------------------------------------------------------------


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_a_stopped_run_leaves_no_scratch_folders(film: Path, tmp_path: Path, tiny_onnx: Path) -> None:
    """SIGTERM to the driver of two worker processes: the workers are stopped mid-segment, and
    their scratch folders go with them."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    out = tmp_path / "out.mkv"
    proc = subprocess.Popen(
        argv(film, out, tiny_onnx, "--workers", "2", "--segment-seconds", "1"),
        env=env(TMPDIR=str(scratch)),
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_until_done(proc, job_dir_for(out), 1)
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 143, err
    assert not list(scratch.glob("sc-segment-*")), err


def damage_second_gop(src: Path, dst: Path) -> Path:
    """``src`` with the video packets of its second second replaced by noise of the same size."""
    noise = np.random.default_rng(1)
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        streams = {s.index: out.add_stream_from_template(s) for s in inp.streams}
        for packet in inp.demux():
            if packet.dts is None or not packet.size:
                continue
            if packet.stream.type == "video" and 1.0 <= float(packet.pts * packet.time_base) < 2.0:
                bad = av.Packet(noise.integers(0, 256, packet.size, np.uint8).tobytes())
                bad.pts, bad.dts, bad.time_base = packet.pts, packet.dts, packet.time_base
                packet = bad
            packet.stream = streams[packet.stream.index if packet.stream is not None else 0]
            out.mux(packet)
    return dst


def test_a_failed_run_leaves_no_scratch_folders(film: Path, tmp_path: Path, tiny_onnx: Path) -> None:
    broken = damage_second_gop(film, tmp_path / "broken.mkv")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    done = run(argv(broken, tmp_path / "out.mkv", tiny_onnx, "--workers", "2", "--segment-seconds", "1"),
               TMPDIR=str(scratch))  # fmt: skip
    assert done.returncode == 1 and "could not be decoded" in done.stderr, done.stderr
    assert not list(scratch.glob("sc-segment-*")), done.stderr


def test_scratch_folders_of_dead_processes_are_swept(film: Path, tmp_path: Path, tiny_onnx: Path) -> None:
    """Folders of workers killed in an earlier run go, and an earlier version's (no pid in the name)
    once an hour old; a live process's, a fresh old-style one and other names stay."""
    scratch = tmp_path / "tmp"
    stale = scratch / f"sc-segment-{dead_pid()}-a1b2c3"
    live = scratch / f"sc-segment-{os.getpid()}-d4e5f6"
    other = scratch / "sc-segment-unknown"
    old_style, fresh_old_style = scratch / "sc-segment-k2j4h6g8", scratch / "sc-segment-q1w2e3r4"
    for folder in (stale, live, other, old_style, fresh_old_style):
        folder.mkdir(parents=True)
        (folder / "segment.mkv").write_bytes(b"half a segment")
    two_hours_ago = time.time() - 7200
    os.utime(old_style, (two_hours_ago, two_hours_ago))
    done = run(argv(film, tmp_path / "out.mkv", tiny_onnx, "--workers", "2", "--segment-seconds", "1"),
               TMPDIR=str(scratch))  # fmt: skip
    assert done.returncode == 0, done.stderr
    # (ONNX Runtime, which the workers use, keeps a session file of its own there: not ours to judge)
    assert sorted(p.name for p in scratch.glob("sc-segment-*")) == sorted([live.name, other.name, fresh_old_style.name])


# -- an old partial film ---------------------------------------------------------------------------


def test_the_partial_of_an_interrupted_job_goes_once_the_film_is_whole(
    film: Path, tmp_path: Path, tiny_onnx: Path
) -> None:
    out = tmp_path / "out.mkv"
    partial = tmp_path / "out.partial.mkv"
    args = argv(film, out, tiny_onnx, "--workers", "1", "--segment-seconds", "1")
    interrupt_after(args, job_dir_for(out), 1)
    assert probe_frame_count(partial) > 0
    done = run(args)
    assert done.returncode == 0, done.stderr
    assert probe_frame_count(out) == FRAMES
    assert not partial.exists() and "removed the partial output of an earlier interrupted run" in done.stderr


def test_a_linked_partial_is_left_alone_and_mentioned(film: Path, tmp_path: Path, tiny_onnx: Path) -> None:
    """A link named like our partial file was made by someone else: the whole film leaves it be."""
    out = tmp_path / "out.mkv"
    partial = tmp_path / "out.partial.mkv"
    theirs = tmp_path / "theirs.mkv"
    theirs.write_bytes(b"someone's")
    partial.symlink_to(theirs)
    done = run(argv(film, out, tiny_onnx, "--segment-seconds", "1"))
    assert done.returncode == 0, done.stderr
    assert partial.is_symlink() and theirs.read_bytes() == b"someone's"
    assert f"left {partial} alone (a link)" in done.stderr
