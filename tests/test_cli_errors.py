"""Every command with bad arguments: a non-zero exit, exactly one ``error:`` line, no traceback,
and no "unexpected" (our catch-all for bugs).  The values each message names are checked too."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.support.cli import run_main
from tests.support.media import make_clip, make_image


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, tiny_onnx: Path) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bad_args")
    found = {
        "clip": make_clip(folder / "clip.mp4", seconds=0.4, audio=1),
        "photo": make_image(folder / "photo.jpg"),
        "junk": folder / "junk.mp4",
        "out": folder / "out",
    }
    found["junk"].write_bytes(b"not a film at all")
    found["out"].mkdir()
    for name, sidecar in {
        "size0": {"input_size": 0},
        "sizeneg": {"input_size": -5},
        "sizehuge": {"input_size": 20000},
        "temp0": {"temperature": 0},
        "binstxt": {"bins": "bins.txt"},
        "binsbad": {"bins": "broken.npy"},
    }.items():
        (folder / f"{name}.onnx").write_bytes(tiny_onnx.read_bytes())
        (folder / f"{name}.json").write_text(json.dumps(sidecar))
    (folder / "bins.txt").write_text("1 2 3")
    (folder / "broken.npy").write_bytes(b"\x93NUMPY garbage")
    found["folder"] = folder
    return found


def cases(f: dict[str, Path], tiny: str) -> dict[str, tuple[list[str], str]]:
    """name: (arguments, a fragment the one error line must hold)."""
    clip, photo, out, folder = str(f["clip"]), str(f["photo"]), f["out"], f["folder"]
    video = ["video", clip]
    m = ["-m", tiny, "-d", "cpu"]
    return {
        "video bad codec": ([*video, str(out / "a.mp4"), *m, "--codec", "bogus"], "libx264"),
        "video audio encoder as video": ([*video, str(out / "a.mp4"), *m, "--codec", "aac"], "libx264"),
        "video encoder not built in": ([*video, str(out / "a.mp4"), *m, "--codec", "h264_nvenc"], "h264_nvenc"),
        "video bad preset": ([*video, str(out / "a.mp4"), *m, "--preset", "ultraslowx"], "veryfast"),
        "video bad pix fmt": ([*video, str(out / "a.mp4"), *m, "--pix-fmt", "bogus"], "yuv420p"),
        "video pix fmt encoder refuses": ([*video, str(out / "a.mp4"), *m, "--pix-fmt", "rgb24"], "yuv420p"),
        "video bad audio codec": ([*video, str(out / "a.mp4"), *m, "--audio-codec", "libx264"], "aac"),
        "video format cannot hold audio": ([*video, str(out / "a.webm"), *m, "--audio-codec", "aac"], "--audio-codec"),
        "video unknown container": ([*video, str(out / "a.xyz"), *m], ".mkv"),
        "video bad start": ([*video, str(out / "a.mp4"), *m, "-ss", "soon"], "01:30"),
        "video end before start": ([*video, str(out / "a.mp4"), *m, "-ss", "2", "-to", "1"], "after start"),
        "video zero duration": ([*video, str(out / "a.mp4"), *m, "-t", "0"], "duration"),
        "video -y with -n": ([*video, str(out / "a.mp4"), *m, "-y", "-n"], "-n"),
        "video crf range": ([*video, str(out / "a.mp4"), *m, "--crf", "99"], "--crf"),
        "video temperature 0": ([*video, str(out / "a.mp4"), *m, "--temperature", "0"], "--temperature"),
        "video unknown option": ([*video, str(out / "a.mp4"), "--bogus"], "--bogus"),
        "video missing output": (video, "output"),
        "video not media": (["video", str(f["junk"]), str(out / "a.mp4"), *m], "damaged"),
        "video still image": (["video", photo, str(out / "a.mp4"), *m], "image"),
        "video missing input": (["video", str(folder / "none.mp4"), str(out / "a.mp4"), *m], "not found"),
        "video no output folder": ([*video, str(folder / "nope" / "a.mp4"), *m], "does not exist"),
        "video bad device": ([*video, str(out / "a.mp4"), "-m", tiny, "-d", "bogus"], "cpu"),
        "video unknown model": ([*video, str(out / "a.mp4"), "-m", "nonesuch"], "default"),
        "video unknown preset file": ([*video, str(out / "a.mp4"), *m, "--config", "nonesuch"], "film"),
        "image unknown extension": (["image", photo, "-o", str(out / "a.xyz"), *m], ".png"),
        "image unknown --format": (["image", photo, "-o", str(out), "--format", "xyz", *m], ".png"),
        "image missing input": (["image", str(folder / "none.jpg"), *m], "not found"),
        "image -y with -n": (["image", photo, "-o", str(out), "-y", "-n", *m], "-n"),
        "sidecar input_size 0": (["image", photo, "-o", str(out), "-m", str(folder / "size0.onnx")], "16 to 1024"),
        "sidecar input_size -5": (["image", photo, "-o", str(out), "-m", str(folder / "sizeneg.onnx")], "16 to 1024"),
        "sidecar input_size 20000": (
            ["image", photo, "-o", str(out), "-m", str(folder / "sizehuge.onnx")],
            "16 to 1024",
        ),
        "sidecar temperature 0": (["image", photo, "-o", str(out), "-m", str(folder / "temp0.onnx")], "0.01 to 10"),
        "sidecar bins not npy": (["image", photo, "-o", str(out), "-m", str(folder / "binstxt.onnx")], ".npy"),
        "sidecar bins broken npy": (["image", photo, "-o", str(out), "-m", str(folder / "binsbad.onnx")], ".npy"),
        "live skip 0": (["live", "lavfi:testsrc2", "--headless", "--skip", "0", *m], "auto"),
        "live transport": (["live", "lavfi:testsrc2", "--headless", "--rtsp-transport", "foo", *m], "tcp or udp"),
        "live camera size": (["live", "--headless", "--camera-size", "abc", "--duration", "2", *m], "1280x720"),
        "live bad graph": (["live", "lavfi:nonsense_graph", "--headless", "--duration", "2", *m], "nonsense_graph"),
        "live record format": (
            ["live", "lavfi:testsrc2", "--headless", "--record", str(out / "r.xyz"), "--duration", "1", *m],
            ".mp4",
        ),
        "models fetch unknown": (["models", "fetch", "nonesuch"], "known models"),
        "models verify unknown": (["models", "verify", "nonesuch"], "known models"),
        "train missing data": (["train", "--data", str(folder / "nothing"), "-o", str(out / "m.onnx")], "not found"),
        "train bad output": (["train", "--data", photo, "-o", str(out / "m.txt"), "--steps", "1"], ".onnx"),
        "info unknown option": (["info", "--bogus"], "--bogus"),
        "unknown command": (["nonesuch"], "nonesuch"),
    }


def test_every_command_with_bad_arguments_says_one_line(files, tiny_onnx: Path, capsys) -> None:
    problems = []
    for name, (args, fragment) in cases(files, str(tiny_onnx)).items():
        code, out, err = run_main(args, capsys)
        lines = [line for line in err.splitlines() if line.strip()]
        errors = [line for line in lines if "error:" in line]
        if code == 0 or len(errors) != 1 or "Traceback" in err or "unexpected" in err or fragment not in errors[0]:
            problems.append(f"{name}: exit {code}, stderr {err!r}")
    assert not problems, "\n".join(problems)
    assert not list(files["out"].iterdir())  # nothing half-written was left behind


def test_bins_file_must_hold_313_pairs(tmp_path: Path) -> None:
    from stream_colorize.bins import load_bins
    from stream_colorize.errors import ModelError

    np.save(tmp_path / "few.npy", np.zeros((12, 2), np.float32))
    with pytest.raises(ModelError, match="313"):
        load_bins(str(tmp_path / "few.npy"))


COMMANDS = [[], ["video"], ["image"], ["live"], ["info"], ["train"], ["eval"], ["models"], ["models", "list"],
            ["models", "fetch"], ["models", "verify"], ["models", "convert"]]  # fmt: skip


def test_help_fits_80_columns_and_names_every_device(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from stream_colorize.engine import DEVICES

    monkeypatch.setenv("COLUMNS", "80")
    for command in COMMANDS:
        code, out, err = run_main([*command, "--help"], capsys)
        assert code == 0, err
        lines = out.splitlines()
        assert lines and max(len(line) for line in lines) <= 80, (command, out)
        assert "<bool>" not in out  # plain switches take no value
        if command in (["video"], ["image"], ["live"]):
            words = set(out.replace(",", " ").replace(".", " ").split())
            assert set(DEVICES) <= words, (command, out)
