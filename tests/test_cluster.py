"""Films in segments: the plan, resume after a killed driver, changed settings, a damaged segment,
and a real two-node Ray cluster on loopback (head, second node and driver in a private network
namespace) with a node killed in the middle of a job."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from stream_colorize.cluster import ClusterOptions, plan_segments, run_job, scan_video
from stream_colorize.cluster.executors import InlineExecutor
from stream_colorize.cluster.identity import Identity
from stream_colorize.cluster.manifest import JobFolder, job_dir_for
from stream_colorize.config import Settings
from stream_colorize.errors import UsageError
from stream_colorize.io.source import MediaSource
from stream_colorize.video import colorize_file
from tests.support.cli import run_main
from tests.support.media import make_clip, packet_hashes, probe_frame_count, video_frames, video_pts

REPO = Path(__file__).resolve().parent.parent
GOP = 12  # frames between keyframes in the test films (25 fps)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cluster_media")


@pytest.fixture(scope="module")
def film(media: Path) -> Path:
    """6 s, keyframe every 12 frames, one audio track and subtitles."""
    return make_clip(media / "film.mkv", seconds=6, audio=1, subtitles=True, gop=GOP)


@pytest.fixture(scope="module")
def short(media: Path) -> Path:
    """3 s, keyframe every 12 frames, one audio track."""
    return make_clip(media / "short.mkv", seconds=3, audio=1, gop=GOP)


@pytest.fixture(scope="module")
def plain(film: Path, media: Path, tiny_onnx: Path) -> Path:
    """The same film through a plain single-process run, lossless, as the reference."""
    return colorize_file(film, media / "plain.mkv", Settings(model=str(tiny_onnx), crf=0)).output


def ab_frames(path: Path) -> list[np.ndarray]:
    return [cv2.cvtColor(f, cv2.COLOR_BGR2LAB)[..., 1:].astype(np.float32) for f in video_frames(path)]


def seam_ratio(path: Path, starts: list[int]) -> float:
    """Mean |dab| between the last frame of a segment and the first of the next, over the film's
    mean frame-to-frame |dab|."""
    frames = ab_frames(path)
    steps = [float(np.abs(b - a).mean()) for a, b in zip(frames, frames[1:])]
    return float(np.mean([steps[s - 1] for s in starts]) / np.mean(steps))


def segment_starts(film: Path, seconds: float = 1.0) -> list[int]:
    """Frame numbers where the segments after the first begin."""
    with MediaSource(film) as source:
        plan = plan_segments(scan_video(source), seconds)
    return list(np.cumsum([s.frames for s in plan.segments])[:-1])


def cli_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "stream_colorize", "video", *args]


def cli_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


# -- the plan -------------------------------------------------------------------------------------


def test_plan_starts_at_keyframes_with_warmup(film: Path) -> None:
    with MediaSource(film) as source:
        index = scan_video(source)
        plan = plan_segments(index, seconds=1.0, warmup=20)
    packets = index.packets
    assert plan.frames == probe_frame_count(film) == 150
    assert len(plan.segments) > 5
    all_pts = sorted(p.pts for p in packets)
    for seg in plan.segments[1:]:
        first = next(i for i, p in enumerate(packets) if p.pts == seg.start_pts)
        assert packets[first].key and packets[seg.read_from].key  # starts and decodes from keyframes
        assert all_pts.index(seg.start_pts) - all_pts.index(seg.warm_pts) == 20
        assert packets[seg.read_from].pts <= seg.warm_pts
        assert 0.5 <= seg.end_time - seg.start_time <= 1.5 + 0.5  # about a second, cut at a keyframe


def test_one_demux_pass_hands_each_wanted_segment_its_packets(film: Path) -> None:
    from stream_colorize.cluster.plan import segment_packets

    with MediaSource(film) as source:
        index = scan_video(source)
        plan = plan_segments(index, seconds=1.0)
        wanted = [1, 3, 4, len(plan.segments) - 1]  # holes, as after a resume
        got = list(segment_packets(source, plan, wanted))
    assert [seg.index for seg, _ in got] == wanted
    for seg, packets in got:
        expected = index.packets[seg.read_from : seg.read_to]
        assert [(p.pts, p.dts, p.size) for p in packets] == [(e.pts, e.dts, e.size) for e in expected]


# -- resumable runs ----------------------------------------------------------------------------------


def test_segmented_run_matches_plain_run(film: Path, plain: Path, tmp_path: Path, tiny_onnx: Path) -> None:
    out = tmp_path / "seg.mkv"
    result = run_job(film, out, Settings(model=str(tiny_onnx), crf=0), ClusterOptions(segment_seconds=1))
    assert result.frames == 150 and out.is_file()
    assert not job_dir_for(out).exists()  # removed after success
    assert video_pts(out) == video_pts(plain)
    assert packet_hashes(out, "audio") == packet_hashes(film, "audio")
    assert packet_hashes(out, "subtitle") == packet_hashes(film, "subtitle")
    assert seam_ratio(out, segment_starts(film)) <= 1.5


def test_rotation_and_10_bit_survive_segments(media: Path, tmp_path: Path, tiny_onnx: Path) -> None:
    src = make_clip(media / "rot.mov", seconds=2, rotation=90, pix_fmt="yuv420p10le", gop=GOP)
    out = tmp_path / "rot.mov"
    run_job(src, out, Settings(model=str(tiny_onnx)), ClusterOptions(segment_seconds=1, warmup=4))
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.pix_fmt == "yuv420p10le"
        frames = list(c.decode(video=0))
    assert len(frames) == 50 and frames[0].rotation == 90 and frames[-1].rotation == 90


def test_without_warmup_the_seam_shows(film: Path, tmp_path: Path, tiny_onnx: Path) -> None:
    """The seam measure is sharp enough to see what warm-up removes."""
    out = tmp_path / "cold.mkv"
    run_job(film, out, Settings(model=str(tiny_onnx), crf=0), ClusterOptions(segment_seconds=1, warmup=0))
    assert seam_ratio(out, segment_starts(film)) > 2.0


class _StopAfter(InlineExecutor):
    """An in-process executor that presses Ctrl-C once ``n`` segments have been handed out."""

    def __init__(self, settings: Settings, n: int) -> None:
        super().__init__(settings)
        self.n = n

    def submit(self, task):
        if self.n == 0:
            raise KeyboardInterrupt
        self.n -= 1
        return super().submit(task)


def test_changed_settings_start_afresh(short: Path, tmp_path: Path, tiny_onnx: Path) -> None:
    out = tmp_path / "out.mkv"
    settings = Settings(model=str(tiny_onnx))
    opts = ClusterOptions(segment_seconds=1, warmup=8)
    with pytest.raises(KeyboardInterrupt):
        run_job(short, out, settings, opts, executor=_StopAfter(settings, 2))
    manifest = json.loads((job_dir_for(out) / "manifest.json").read_text())
    assert 1 <= len(manifest["done"]) <= 2 and not out.exists()

    notes: list[str] = []
    changed = Settings(model=str(tiny_onnx), crf=30)
    result = run_job(short, out, changed, opts, on_note=notes.append)
    assert notes == [f"settings (crf) changed since the unfinished job in {job_dir_for(out)}; starting afresh"]
    assert result.frames == 75 == probe_frame_count(out)


def test_plain_run_of_a_long_film_resumes(short: Path, tmp_path: Path, tiny_onnx: Path, capsys, monkeypatch) -> None:
    """`video IN OUT` with no cluster flag: a long film runs in segments and picks up a killed job."""
    import stream_colorize.cluster.job as job_module

    monkeypatch.setattr(job_module, "LONG_FILM_SECONDS", 2.0)  # the 3-s film counts as long
    monkeypatch.setattr(job_module, "DEFAULT_SEGMENT_SECONDS", 1.0)
    out = tmp_path / "plain.mkv"
    settings = Settings(model=str(tiny_onnx))
    with pytest.raises(KeyboardInterrupt):
        run_job(short, out, settings, ClusterOptions(), executor=_StopAfter(settings, 1))
    assert job_dir_for(out).is_dir()
    code, _, err = run_main(["video", str(short), str(out), "-m", str(tiny_onnx), "-q"], capsys)
    assert code == 0, err
    assert "resumed: 1 of 3 segments already done" in err
    assert probe_frame_count(out) == 75 and not job_dir_for(out).exists()


def test_manifest_names_what_changed(tmp_path: Path, film: Path) -> None:
    with MediaSource(film) as source:
        plan = plan_segments(scan_video(source), 2.0)
    first = Identity("input-a", {"crf": 18, "skip": 1}, "model-a")
    job, note = JobFolder.open(tmp_path / "job", first, plan, ".mkv")
    assert note is None
    job.commit(0, b"segment bytes", 50, "here", 1.0)
    job.release()
    again, note = JobFolder.open(tmp_path / "job", first, plan, ".mkv")
    assert note is None and again.done_segments() == {0}
    (tmp_path / "job" / "segment-00000.mkv").write_bytes(b"segment bytez")  # damaged on disk
    assert again.done_segments() == set()
    with pytest.raises(UsageError, match="another stream-colorize run is working on this film"):
        JobFolder.open(tmp_path / "job", first, plan, ".mkv")  # `again` still holds it
    again.release()
    other = Identity("input-b", {"crf": 18, "skip": 2}, "model-b")
    _, note = JobFolder.open(tmp_path / "job", other, plan, ".mkv")
    assert note.startswith("the input file, the model, settings (skip) changed")
    assert not (tmp_path / "job" / "segment-00000.mkv").exists()


def test_resume_after_sigkilled_driver(film: Path, tmp_path: Path, tiny_onnx: Path) -> None:
    out = tmp_path / "resumed.mkv"
    argv = cli_argv(str(film), str(out), "-m", str(tiny_onnx), "--workers", "2", "--threads", "1",
                    "--segment-seconds", "1", "-q")  # fmt: skip
    job = job_dir_for(out)
    driver = subprocess.Popen(argv, env=cli_env(), start_new_session=True, stderr=subprocess.PIPE)
    total = len(segment_starts(film)) + 1
    deadline = time.monotonic() + 90
    done = 0
    while time.monotonic() < deadline and driver.poll() is None:
        try:
            done = len(json.loads((job / "manifest.json").read_text())["done"])
        except (OSError, ValueError):
            done = 0
        if done >= total // 2:
            break
        time.sleep(0.05)
    os.killpg(driver.pid, signal.SIGKILL)  # the driver and its worker processes
    driver.wait()
    assert driver.returncode == -signal.SIGKILL, driver.stderr.read().decode()
    assert not out.exists()
    journal = (job / "journal.log").read_text().split("\n")
    sent = {line.split()[2] for line in journal if " sent " in line}
    finished = {line.split()[2] for line in journal if " done " in line}
    assert len(sent - finished) <= 2  # at most one segment per worker was in flight
    kept = len(json.loads((job / "manifest.json").read_text())["done"])
    assert kept >= total // 2

    again = subprocess.run(argv, env=cli_env(), capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert f"resumed: {kept} of {total} segments already done" in again.stderr
    assert probe_frame_count(out) == 150
    assert packet_hashes(out, "audio") == packet_hashes(film, "audio")
    assert not job.exists()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_interrupted_segmented_run_keeps_a_playable_partial(
    film: Path, tmp_path: Path, tiny_onnx: Path, signum: int
) -> None:
    """A segmented run that is told to stop joins the finished segments from the film's start as
    OUT.partial (audio cut where they end), keeps the job folder, and a re-run finishes OUT."""
    out = tmp_path / "stopped.mkv"
    argv = cli_argv(str(film), str(out), "-m", str(tiny_onnx), "--workers", "2", "--threads", "1",
                    "--segment-seconds", "1", "-q")  # fmt: skip
    job = job_dir_for(out)
    starts = segment_starts(film)
    driver = subprocess.Popen(argv, env=cli_env(), start_new_session=True, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 90
    done: dict = {}
    while time.monotonic() < deadline and driver.poll() is None:
        try:
            done = json.loads((job / "manifest.json").read_text())["done"]
        except (OSError, ValueError):
            done = {}
        if "0" in done and "1" in done:
            break
        time.sleep(0.05)
    assert driver.poll() is None, "the run ended before it could be interrupted"
    driver.send_signal(signum)  # the driver only, as a service manager or a terminal's Ctrl-C would
    _, err = driver.communicate(timeout=60)
    assert driver.returncode == 128 + signum, err
    partial = tmp_path / "stopped.partial.mkv"
    assert partial.exists() and not out.exists(), err
    assert "partial" in err and "run the same command to continue" in err
    assert err.count("stream-colorize: interrupted") == 1, err  # one line says so; the other what was kept
    frames = probe_frame_count(partial)
    assert frames in [0, *starts] and frames >= starts[1], (frames, starts)  # whole segments from the start
    with av.open(str(partial)) as container:
        audio = [p for p in container.demux(audio=0) if p.size]
        end = max(float((p.pts + p.duration) * p.time_base) for p in audio)
    assert abs(end - frames / 25) < 0.1, (end, frames)  # the copied audio stops with the picture
    assert packet_hashes(partial, "audio")[0] == packet_hashes(film, "audio")[0][: len(audio)]
    assert job.exists()

    again = subprocess.run(argv, env=cli_env(), capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert "resumed:" in again.stderr
    assert probe_frame_count(out) == 150
    assert not job.exists()


# -- bad input ---------------------------------------------------------------------------------------


def damage_gop(src: Path, dst: Path, start: float, end: float) -> Path:
    """Copy ``src`` with the video packets between two times replaced by garbage of the same size."""
    rng = np.random.default_rng(0)
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        streams = {s.index: out.add_stream_from_template(s) for s in inp.streams}
        for packet in inp.demux():
            if packet.dts is None or not packet.size:
                continue
            t = float(packet.pts * packet.time_base)
            if packet.stream.type == "video" and start <= t < end:
                bad = av.Packet(rng.integers(0, 256, packet.size, np.uint8).tobytes())
                bad.pts, bad.dts, bad.time_base = packet.pts, packet.dts, packet.time_base
                packet = bad
            packet.stream = streams[packet.stream.index if packet.stream is not None else 0]
            out.mux(packet)
    return dst


def test_undecodable_segment_stops_naming_it(short: Path, tmp_path: Path, tiny_onnx: Path, capsys) -> None:
    broken = damage_gop(short, tmp_path / "broken.mkv", 1.0, 2.0)
    out = tmp_path / "out.mkv"
    code, _, err = run_main(["video", str(broken), str(out), "-m", str(tiny_onnx), "--segment-seconds", "1", "-q"],
                            capsys)  # fmt: skip
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "could not be decoded" in lines[0], err
    assert lines[0].startswith("stream-colorize: error: segment ") and " of " in lines[0]
    start = float(lines[0].split("(")[1].split("-")[0])
    assert 0.5 <= start <= 2.0  # the damaged second
    assert not out.exists()
    # nothing half-written: only the job folder (finished segments, for a re-run) is beside OUT
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] in ([], [".out.mkv.job"])


def test_ray_missing_names_the_extra(short: Path, tmp_path: Path, tiny_onnx: Path, capsys, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    code, _, err = run_main(["video", str(short), str(tmp_path / "o.mkv"), "-m", str(tiny_onnx), "--ray", "auto"],
                            capsys)  # fmt: skip
    assert code == 1
    assert err.strip().count("\n") == 0 and "stream-colorize[cluster]" in err, err
    assert not list(tmp_path.iterdir())


# -- a real Ray cluster ----------------------------------------------------------------------------


def _ray_ready() -> str | None:
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("ip") is None:
        return "needs root, unshare and ip for a private network namespace"
    try:
        import ray  # noqa: F401
    except ImportError:
        return "ray is not installed (extra [cluster])"
    if subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode != 0:
        return "unshare -n is not permitted here (a container without CAP_SYS_ADMIN?)"
    return None


RAY_NOT_READY = _ray_ready()


@pytest.mark.slow
@pytest.mark.skipif(RAY_NOT_READY is not None, reason=str(RAY_NOT_READY))
def test_ray_two_nodes(film: Path, plain: Path, tmp_path: Path, tiny_onnx: Path) -> None:
    """Distributed against single-process, a node killed mid-job, an address nobody answers."""
    temp = tempfile.mkdtemp(prefix="rt", dir="/tmp")  # Ray's socket paths must stay short
    port = 6390 + os.getpid() % 500
    spread, killed = tmp_path / "spread.mkv", tmp_path / "killed.mkv"
    model = ["-m", str(tiny_onnx), "--crf", "0", "--segment-seconds", "1", "-q"]
    plan = {
        "port": port,
        "temp": temp,
        "nodes": 2,
        "env": {"PYTHONPATH": str(REPO), "RAY_BACKEND_LOG_LEVEL": "error"},
        "steps": [
            {"argv": cli_argv(str(film), str(spread), *model, "--ray", f"127.0.0.1:{port}"), "timeout": 120},
            {"argv": cli_argv(str(film), str(killed), *model, "--ray", f"127.0.0.1:{port}"), "timeout": 150,
             "kill_node": {"manifest": str(job_dir_for(killed) / "manifest.json"), "done": 2}},  # fmt: skip
            {"argv": cli_argv(str(film), str(tmp_path / "x.mkv"), *model, "--ray", "127.0.0.1:1"), "timeout": 60},
        ],
    }
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    try:
        harness = [sys.executable, str(REPO / "tests" / "support" / "ray_cluster.py"), str(tmp_path / "plan.json")]
        subprocess.run(["unshare", "-n", *harness, str(tmp_path / "result.json")], timeout=600, check=True)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["nodes_alive"] == 2
    distributed, node_killed, unreachable = result["steps"]

    assert distributed["rc"] == 0, distributed["stderr"]
    assert video_pts(spread) == video_pts(plain) and len(video_pts(spread)) == 150
    assert packet_hashes(spread, "audio") == packet_hashes(film, "audio")
    assert packet_hashes(spread, "subtitle") == packet_hashes(film, "subtitle")
    assert seam_ratio(spread, segment_starts(film)) <= 1.5

    assert node_killed["rc"] == 0, node_killed["stderr"]
    assert node_killed["killed_node_at"] is not None
    assert "its worker was lost" in node_killed["stderr"]
    assert video_pts(killed) == video_pts(plain)
    assert packet_hashes(killed, "audio") == packet_hashes(film, "audio")

    assert unreachable["rc"] == 1 and unreachable["seconds"] < 30
    assert "cannot reach a Ray cluster at 127.0.0.1:1" in unreachable["stderr"]
    assert unreachable["stderr"].strip().count("\n") == 0
