"""Segmented runs clean up after themselves and honour their limits: worker processes that end with
their driver, a local Ray owned by the run, bounded threads and workers, the asked-for backend."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

import stream_colorize.engine as engine_module
from stream_colorize.cluster import ClusterOptions, run_job
from stream_colorize.cluster.executors import InlineExecutor, LocalPool
from stream_colorize.cluster.manifest import job_dir_for
from stream_colorize.config import MAX_THREADS, Settings
from stream_colorize.errors import UsageError
from stream_colorize.presets import load_settings
from tests.support.media import make_clip, probe_frame_count

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def film(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10 s, keyframe every 12 frames, one audio track."""
    return make_clip(tmp_path_factory.mktemp("safety") / "film.mkv", seconds=10, audio=1, gop=12)


@pytest.fixture(scope="module")
def short(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 s, keyframe every 12 frames, one audio track."""
    return make_clip(tmp_path_factory.mktemp("safety_short") / "short.mkv", seconds=2, audio=1, gop=12)


def cli_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "stream_colorize", "video", *args]


def cli_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), **extra}


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a process, None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return fields[0], int(fields[1])


def children(pid: int) -> list[int]:
    """Live child processes of ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None and stat[1] == pid and stat[0] != "Z":
                found.append(int(entry.name))
    return found


def alive(pids: list[int]) -> list[int]:
    """Those of ``pids`` still running (a zombie has ended)."""
    return [p for p in pids if (s := _stat(p)) is not None and s[0] != "Z"]


# -- worker processes end with their driver --------------------------------------------------------


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to find the worker processes")
def test_workers_exit_when_the_driver_is_killed(film: Path, tmp_path: Path, tiny_onnx: Path) -> None:
    """SIGKILL to the driver alone: its worker processes notice and end within seconds, instead of
    idling for good under PID 1."""
    out = tmp_path / "o.mkv"
    argv = cli_argv(str(film), str(out), "-m", str(tiny_onnx), "--workers", "2", "--threads", "1",
                    "--segment-seconds", "1", "-q")  # fmt: skip
    driver = subprocess.Popen(argv, env=cli_env(), start_new_session=True, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        workers: list[int] = []
        while time.monotonic() < deadline and driver.poll() is None and len(workers) < 2:
            workers = [p for p in children(driver.pid) if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()]
            time.sleep(0.05)
        assert len(workers) == 2, f"no worker processes seen (driver rc {driver.poll()})"
        time.sleep(0.5)  # let them load the model and take segments
        helpers = children(driver.pid)  # the workers and multiprocessing's resource tracker
        os.kill(driver.pid, signal.SIGKILL)  # the driver only, not its process group
        driver.wait()
        deadline = time.monotonic() + 5
        while alive(helpers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert alive(helpers) == [], "worker processes outlived their driver"
    finally:
        try:
            os.killpg(driver.pid, signal.SIGKILL)  # whatever is left of what this test started
        except ProcessLookupError:
            pass
        driver.wait()


# -- thread and worker ceilings --------------------------------------------------------------------


def test_threads_above_the_ceiling_are_refused_everywhere(tmp_path: Path) -> None:
    """Library Settings, a preset and an override all go through the one check."""
    for bad in (MAX_THREADS + 1, 100_000, 0, -3):
        with pytest.raises(UsageError, match=f"threads must be .*got {bad}"):
            Settings(threads=bad)
    preset = tmp_path / "many.toml"
    preset.write_text("[model]\nthreads = 100000\n")
    with pytest.raises(UsageError, match="threads"):
        load_settings(preset)
    with pytest.raises(UsageError, match="threads"):
        Settings().override(threads=100_000)
    assert Settings(threads=MAX_THREADS).model.threads == MAX_THREADS
    assert Settings(threads=None).model.threads is None


def _limit_memory() -> None:
    # a run that starts its threads anyway fails here instead of taking the machine's memory
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))


@pytest.mark.parametrize("how", ["flag", "preset"])
def test_threads_100000_is_one_line_and_quick(short: Path, tmp_path: Path, tiny_onnx: Path, how: str) -> None:
    out = tmp_path / "o.mkv"
    if how == "flag":
        extra = ["--threads", "100000"]
    else:
        (tmp_path / "p.toml").write_text("[model]\nthreads = 100000\n")
        extra = ["--config", str(tmp_path / "p.toml")]
    argv = cli_argv(str(short), str(out), "-m", str(tiny_onnx), "--workers", "2", "--segment-seconds", "1", "-q",
                    *extra)  # fmt: skip
    done = subprocess.run(argv, env=cli_env(), capture_output=True, text=True, timeout=60, preexec_fn=_limit_memory)
    assert done.returncode != 0
    err = done.stderr.strip()
    assert err.count("\n") == 0 and "threads" in err and "100000" in err and "Traceback" not in err, err
    assert list(tmp_path.iterdir()) == ([tmp_path / "p.toml"] if how == "preset" else [])


def test_local_pool_bounds_workers_and_threads(tiny_onnx: Path) -> None:
    cores = len(os.sched_getaffinity(0))
    settings = Settings(model=str(tiny_onnx))
    with pytest.raises(UsageError, match="100000"):
        LocalPool(settings, workers=100_000)
    with pytest.raises(UsageError, match="threads"):
        LocalPool(settings, workers=2, threads=100_000)
    with pytest.raises(UsageError, match="threads"):
        InlineExecutor(settings, threads=100_000)
    with LocalPool(settings, workers=2, threads=MAX_THREADS) as pool:  # allowed alone; shared, not multiplied
        assert pool.slots == 2 and pool.threads * pool.slots <= max(2, 4 * cores)


# -- the backend a segmented run asks for is the one its workers use -------------------------------


def test_segmented_run_uses_the_asked_backend(short: Path, tmp_path: Path, tiny_onnx: Path, monkeypatch) -> None:
    pytest.importorskip("onnxruntime")
    opened: list[tuple[str, str]] = []
    real = engine_module.open_backend

    def spy(spec, backend, *args, **kwargs):
        opened.append((backend, (made := real(spec, backend, *args, **kwargs)).name))
        return made

    monkeypatch.setattr(engine_module, "open_backend", spy)
    for backend in ("opencv", "onnxruntime"):
        opened.clear()
        out = tmp_path / f"{backend}.mkv"
        settings = Settings(model=str(tiny_onnx), backend=backend)
        run_job(short, out, settings, ClusterOptions(segment_seconds=1.0))
        assert probe_frame_count(out) == 50
        assert opened and {name for _, name in opened} == {backend}, (backend, opened)


# -- --ray auto: a local Ray owned by the run, or a clear line; nothing left behind ---------------


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

# Runs inside the private network namespace: each step's driver, then every process left in the
# namespace (anything but this script is a leftover of the step).
NAMESPACE_SCRIPT = r"""
import json, os, signal, subprocess, sys, time
from pathlib import Path

plan = json.loads(Path(sys.argv[1]).read_text())
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
me = os.readlink("/proc/self/ns/net")

def in_namespace():
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if os.readlink(f"/proc/{entry.name}/ns/net") != me:
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:120]
        except OSError:
            continue
        if state != "Z":
            found.append(f"{entry.name} {cmd}")
    return found

results = []
for step in plan["steps"]:
    started = time.monotonic()
    err_path = Path(sys.argv[2] + f".{len(results)}.err")
    with open(err_path, "wb") as err_file:  # a file, not a pipe: a process left behind must not hang us
        driver = subprocess.Popen(step["argv"], env={**os.environ, **step["env"]}, stdout=subprocess.DEVNULL,
                                  stderr=err_file, start_new_session=True)
    killed = False
    while driver.poll() is None and time.monotonic() - started < step["timeout"]:
        manifest = step.get("kill_after_done")
        if manifest:
            try:
                done = len(json.loads(Path(manifest).read_text())["done"])
            except (OSError, ValueError, KeyError):
                done = 0
            if done >= 1 and not killed:
                os.kill(driver.pid, signal.SIGKILL)
                killed = True
        time.sleep(0.05)
    timed_out = driver.poll() is None
    if timed_out:
        os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    err = err_path.read_bytes()
    seconds = time.monotonic() - started
    deadline = time.monotonic() + step.get("settle", 10)
    left = in_namespace()
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = in_namespace()
    for line in left:  # end them so the next step starts clean (the test fails on them anyway)
        try:
            os.kill(int(line.split()[0]), signal.SIGKILL)
        except ProcessLookupError:
            pass
    results.append({"rc": driver.returncode, "stderr": err.decode(errors="replace"), "seconds": seconds,
                    "timed_out": timed_out, "killed": killed, "left": left})
Path(sys.argv[2]).write_text(json.dumps(results))
"""


@pytest.mark.slow
@pytest.mark.skipif(RAY_NOT_READY is not None, reason=str(RAY_NOT_READY))
def test_ray_auto_owns_its_local_ray(short: Path, film: Path, tmp_path: Path, tiny_onnx: Path) -> None:
    """``--ray auto``: RAY_ADDRESS when set (nobody there: one clear line, fast); else a Ray started
    for this run and stopped with it, even when the driver is SIGKILLed.  No process is left behind,
    no job folder, no Ray folder in the temp dir or HOME."""
    home, temp = tmp_path / "home", Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))  # Ray's socket paths stay short
    home.mkdir()
    env = {"HOME": str(home), "TMPDIR": str(temp), "RAY_USAGE_STATS_ENABLED": "0"}
    env_no_address = {**env, "RAY_ADDRESS": ""}
    model = ["-m", str(tiny_onnx), "--segment-seconds", "1", "-q", "--ray", "auto"]
    nobody, local, killed = tmp_path / "nobody.mkv", tmp_path / "local.mkv", tmp_path / "killed.mkv"
    plan = {
        "steps": [
            {"argv": cli_argv(str(short), str(nobody), *model), "env": {**env, "RAY_ADDRESS": "127.0.0.1:1"},
             "timeout": 60},
            {"argv": cli_argv(str(short), str(local), *model, "--workers", "100000"), "env": env_no_address,
             "timeout": 120},
            {"argv": cli_argv(str(film), str(killed), *model), "env": env_no_address, "timeout": 120,
             "kill_after_done": str(job_dir_for(killed) / "manifest.json")},
        ]
    }  # fmt: skip
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    (tmp_path / "ns.py").write_text(NAMESPACE_SCRIPT)
    try:
        argv = [sys.executable, str(tmp_path / "ns.py"), str(tmp_path / "plan.json"), str(tmp_path / "result.json")]
        subprocess.run(["unshare", "-n", *argv], env=cli_env(), timeout=400, check=True)
        leftovers = sorted(p.name for p in temp.iterdir())
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    nobody_step, local_step, killed_step = json.loads((tmp_path / "result.json").read_text())

    assert nobody_step["rc"] == 1 and nobody_step["seconds"] < 15, nobody_step
    err = nobody_step["stderr"].strip()
    assert err.count("\n") == 0 and "RAY_ADDRESS" in err and "127.0.0.1:1" in err, err
    assert nobody_step["left"] == [] and not nobody.exists() and not job_dir_for(nobody).exists()

    assert local_step["rc"] == 0 and not local_step["timed_out"], local_step["stderr"]
    assert probe_frame_count(local) == 50
    assert local_step["left"] == [], local_step["left"]
    assert not job_dir_for(local).exists()

    assert killed_step["killed"] and killed_step["rc"] == -signal.SIGKILL, killed_step
    assert killed_step["left"] == [], killed_step["left"]

    assert leftovers == [], leftovers  # Ray's session folders went with the Ray that wrote them
    assert not (home / ".ray").exists()  # no token file left for later Rays to trip on
