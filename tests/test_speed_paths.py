"""The fast paths of issue 25: ONNX Runtime as the default everywhere, graph edits without the
``onnx`` package, the merge straight into the encoder's 4:2:0 planes, start-up, threads, int8.

No timings are asserted: each test checks what runs (backend, graph, planes, imports) and that
its results agree with the reference path on real frames and real files.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from stream_colorize.build import build_engine
from stream_colorize.config import ModelSettings, Settings
from stream_colorize.engine import Colorizer
from tests.support.cli import run_main

REPO = Path(__file__).resolve().parent.parent
ort = pytest.importorskip("onnxruntime")


def _scene(height: int = 120, width: int = 160) -> np.ndarray:
    """A gray frame with edges and gradients (what the colour paths must agree on)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    gray = 30 + 180 * x / width + 25 * np.sin(y / 7)
    gray[(x - width * 0.6) ** 2 + (y - height * 0.4) ** 2 < (height / 4) ** 2] = 235
    gray[y > height * 0.8] = 12
    return np.clip(gray, 0, 255).astype(np.uint8)


def _python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120, cwd=REPO)


# -- ONNX Runtime: a dependency, and what auto runs everywhere --------------------------------------


def test_onnxruntime_is_a_dependency_and_the_dev_setup_needs_no_ort_extra() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert any(dep.startswith("onnxruntime") for dep in project["dependencies"])
    extras = project["optional-dependencies"]
    # onnxruntime-gpu beside the CPU build breaks both: no extra may pull it in next to the dependency.
    assert not any(dep.startswith("onnxruntime") for deps in extras.values() for dep in deps)
    setup = (REPO / "scripts" / "setup-dev.sh").read_text()
    assert ",ort" not in setup and "[ort" not in setup and "onnxruntime" in setup


def test_auto_is_the_one_default_of_colorizer_settings_and_builder(tiny_onnx: Path) -> None:
    plain = Colorizer(tiny_onnx, device="cpu")
    built = build_engine(Settings(model=str(tiny_onnx), device="cpu").model)
    assert ModelSettings().backend == "auto"
    assert plain.backend_name == built.backend_name == "onnxruntime"
    reference = Colorizer(tiny_onnx, device="cpu", backend="opencv")
    assert reference.backend_name == "opencv"
    frame = _scene()
    assert float(np.abs(plain.predict_ab(frame) - reference.predict_ab(frame)).max()) < 0.05


def test_info_says_which_backend_auto_runs_and_why(capsys) -> None:
    code, out, _ = run_main(["info"], capsys)
    assert code == 0
    line = next(x for x in out.splitlines() if x.startswith("--backend auto"))
    assert "picks onnxruntime: installed" in line and "faster than cv2.dnn" in line
    hidden = _python(
        "import sys; sys.modules['onnxruntime'] = None\nfrom stream_colorize.cli import main\nmain(['info'])"
    )
    assert hidden.returncode == 0, hidden.stderr
    line = next(x for x in hidden.stdout.splitlines() if x.startswith("--backend auto"))
    assert "picks opencv: ONNX Runtime is not installed (pip install onnxruntime" in line


# -- graph edits on the protobuf wire -------------------------------------------------------------


def test_wire_edits_match_the_onnx_edits_and_free_the_batch(tiny_onnx: Path) -> None:
    onnx = pytest.importorskip("onnx")
    from stream_colorize.backends import graph, wire_edit
    from stream_colorize.bins import load_bins

    data = tiny_onnx.read_bytes()
    edited = wire_edit.edit(data, (load_bins(), 0.45, wire_edit.graph_outputs(data)[0]))
    onnx.checker.check_model(onnx.load_model_from_string(edited))
    reference = graph.with_annealed_mean(graph.with_free_batch(onnx.load(str(tiny_onnx))), load_bins(), 0.45)
    ours = ort.InferenceSession(edited, providers=["CPUExecutionProvider"])
    theirs = ort.InferenceSession(reference.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {ours.get_inputs()[0].name: np.random.default_rng(0).normal(0, 20, (3, 1, 224, 224)).astype(np.float32)}
    got = ours.run([graph.AB_OUTPUT], feeds)[0]
    want = theirs.run([graph.AB_OUTPUT], feeds)[0]
    assert got.shape == (3, 2, 56, 56) and float(np.abs(got - want).max()) < 0.01  # ab units: float rounding
    assert ours.get_inputs()[0].shape[0] == "N"


def test_the_file_pipeline_session_decodes_in_the_graph_without_importing_onnx(tiny_onnx: Path) -> None:
    """onnx is not a dependency, and importing it costs a second: the ONNX Runtime path never needs it."""
    run = _python(
        "import sys\n"
        "from stream_colorize.engine import Colorizer\n"
        "engine = Colorizer(sys.argv[1], device='cpu', threads=1, batch_size=2)\n"
        "import numpy as np\n"
        "ab = engine.predict_ab([np.zeros((40, 60), np.uint8)] * 2)\n"
        "print(engine.backend_name, engine.backend.decode_in_graph, ab.shape, 'onnx' in sys.modules)",
        str(tiny_onnx),
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["onnxruntime", "True", "(2,", "2,", "56,", "56)", "False"]


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_a_damaged_model_is_one_model_error_through_the_default_backend(
    tiny_onnx: Path, tmp_path: Path, damage: str
) -> None:
    from stream_colorize.errors import ModelError
    from stream_colorize.models.spec import spec_from_path

    bad = tmp_path / "bad.onnx"
    data = tiny_onnx.read_bytes()
    bad.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"not a model at all" * 100)
    for threads in (None, 1):  # numpy decode, and the annealed mean appended on the wire
        with pytest.raises(ModelError, match="corrupt or truncated"):
            Colorizer(spec_from_path(bad), device="cpu", threads=threads)


# -- the merge in the encoder's own planes ----------------------------------------------------------

SAMPLE = REPO / "stream_colorize" / "data" / "sample.mp4"  # real black-and-white footage, 640x360


def _film_frames(count: int) -> list[np.ndarray]:
    from tests.support.media import video_frames

    return [f[:, :, 0].copy() for f in video_frames(SAMPLE, limit=80)[:: 80 // count][:count]]


def _old_planes(frame: np.ndarray, ab: np.ndarray) -> np.ndarray:
    import cv2

    from stream_colorize.lab import merge_ab

    return cv2.cvtColor(merge_ab(frame, ab), cv2.COLOR_BGR2YUV_I420)


def test_the_i420_merge_matches_the_bgr_merge_within_rounding() -> None:
    """Y, U and V within 1-3 levels of the u8 merge followed by OpenCV's BGR -> I420, on film frames
    with the bundled model's colours, gray and BGR input alike."""
    import cv2

    from stream_colorize.lab import merge_ab_i420

    engine = Colorizer("default", device="cpu")
    frames = _film_frames(3)
    frames.append(cv2.applyColorMap(frames[0], cv2.COLORMAP_BONE))  # a BGR frame: its own L is kept
    for frame in frames:
        ab = engine.predict_ab(frame)
        old, new = _old_planes(frame, ab), merge_ab_i420(frame, ab)
        height = frame.shape[0]
        assert new.shape == old.shape == (height * 3 // 2, frame.shape[1]) and new.dtype == np.uint8
        diff = np.abs(old.astype(np.int16) - new)
        luma, chroma = diff[:height], diff[height:]
        assert luma.max() <= 3 and chroma.max() <= 2, (luma.max(), chroma.max())
        assert luma.mean() < 0.4 and chroma.mean() < 0.5, (luma.mean(), chroma.mean())
    # A gray frame stays gray: ab 0 gives neutral chroma and the studio-range luma of the gray.
    flat = merge_ab_i420(frames[0], np.zeros((2, 56, 56), np.float32))
    assert np.abs(flat[360:].astype(np.int16) - 128).max() <= 1
    assert (
        np.abs(flat[:360].astype(np.int16) - _old_planes(frames[0], np.zeros((2, 8, 8), np.float32))[:360]).max() <= 1
    )
    with pytest.raises(ValueError, match="even width and height"):
        merge_ab_i420(np.zeros((31, 40), np.uint8), np.zeros((2, 8, 8), np.float32))


def _merged_in_planes(monkeypatch) -> list[int]:
    """Count the frames the file pipeline merges straight into yuv420p planes."""
    from stream_colorize import pipeline

    calls: list[int] = []
    real = pipeline.merge_ab_i420

    def counting(frame: np.ndarray, ab: np.ndarray) -> np.ndarray:
        calls.append(frame.shape[0])
        return real(frame, ab)

    monkeypatch.setattr(pipeline, "merge_ab_i420", counting)
    return calls


def test_a_yuv420p_film_is_merged_in_its_planes_and_decodes_as_before(tmp_path: Path, monkeypatch) -> None:
    """Lossless x264 (CRF 0) so the decoded planes are what each path gave the encoder."""
    from stream_colorize import colorize_file
    from stream_colorize.io.video_encoder import VideoEncoder
    from tests.support.media import probe, video_frames

    settings = Settings(model="default", crf=0, duration=0.4)
    calls = _merged_in_planes(monkeypatch)
    colorize_file(SAMPLE, tmp_path / "planes.mp4", settings)
    assert len(calls) == 10
    monkeypatch.setattr(VideoEncoder, "takes_i420", lambda self, height, width: False)
    colorize_file(SAMPLE, tmp_path / "bgr.mp4", settings)
    assert len(calls) == 10  # the BGR path, as before this change
    new = np.stack(video_frames(tmp_path / "planes.mp4", fmt="yuv420p")).astype(np.int16)
    old = np.stack(video_frames(tmp_path / "bgr.mp4", fmt="yuv420p")).astype(np.int16)
    assert new.shape == old.shape == (10, 540, 640)
    diff = np.abs(new - old)
    assert diff[:, :360].max() <= 3 and diff[:, 360:].max() <= 2 and diff.mean() < 0.4
    assert np.abs(new[:, 360:] - 128).mean() > 2  # coloured, not gray
    stream = next(s for s in probe(tmp_path / "planes.mp4")["streams"] if s["codec_type"] == "video")
    assert stream["pix_fmt"] == "yuv420p" and stream["color_space"] == "smpte170m"


@pytest.mark.parametrize(
    ("suffix", "size", "pix_fmt", "expected"),
    [
        (".mp4", (160, 120), None, "yuv420p"),
        (".mp4", (161, 120), None, "yuv444p"),  # odd width: 4:4:4, through BGR
        (".mkv", (160, 120), "yuv420p10le", "yuv420p10le"),  # 10-bit stays 10-bit, through BGR
        (".gif", (160, 120), None, None),  # pictures: BGR, a palette made for the film
    ],
)
def test_only_8bit_420_outputs_take_planes(
    tmp_path: Path, tiny_onnx: Path, monkeypatch, suffix: str, size: tuple[int, int], pix_fmt: str | None, expected
) -> None:
    from stream_colorize import colorize_file
    from tests.support.media import make_clip, probe

    clip = make_clip(tmp_path / f"in{suffix if suffix != '.gif' else '.mp4'}", seconds=0.2, size=size, pix_fmt=pix_fmt)
    calls = _merged_in_planes(monkeypatch)
    out = tmp_path / f"out{suffix}"
    result = colorize_file(clip, out, Settings(model=str(tiny_onnx)))
    assert result.frames == 5
    assert len(calls) == (5 if expected == "yuv420p" else 0)
    if expected is not None:
        stream = next(s for s in probe(out)["streams"] if s["codec_type"] == "video")
        assert stream["pix_fmt"] == expected


def test_planes_of_another_size_are_scaled_to_the_first(tmp_path: Path) -> None:
    """A picture size change mid-stream (joined captures) reaches the encoder as planes too."""
    from stream_colorize.config import EncodeSettings
    from stream_colorize.frames import Frame
    from stream_colorize.io.sink import FileSink
    from stream_colorize.io.source import MediaSource
    from stream_colorize.lab import merge_ab_i420
    from tests.support.media import make_clip, video_frames

    clip = make_clip(tmp_path / "in.mp4", seconds=0.2, size=(64, 48), audio=0)
    with MediaSource(clip) as source:
        info = source.info
    ab = np.full((2, 8, 8), 20.0, np.float32)
    with FileSink(tmp_path / "out.mp4", info, [], EncodeSettings(crf=0)) as sink:
        assert sink.video.takes_i420(48, 64) and not sink.video.takes_i420(48, 63)
        for i, (height, width) in enumerate([(48, 64), (60, 80), (48, 64)]):
            frame = Frame(i, np.full((height, width), 120, np.uint8), pts=i)
            frame.planes = merge_ab_i420(frame.image, ab)
            sink.write(frame)
        assert not sink.video.takes_i420(60, 80)  # open at 64x48 now
        sink.commit()
    frames = video_frames(tmp_path / "out.mp4", fmt="yuv420p")
    assert [f.shape for f in frames] == [(72, 64)] * 3
    assert np.abs(frames[1].astype(np.int16) - frames[0]).max() <= 2


# -- start-up ---------------------------------------------------------------------------------------


def test_the_shipped_gamut_table_is_the_computed_one() -> None:
    """lab loads data/max_chroma.npy instead of computing it at import (a third of a second)."""
    from stream_colorize import lab

    computed = lab._max_chroma_table()
    assert lab._MAX_CHROMA.dtype == np.float32 and np.array_equal(lab._MAX_CHROMA, computed)


_VIDEO_IMPORTS = """
import sys
from stream_colorize.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    assert not exc.code, exc.code
print(*(name in sys.modules for name in ("onnx", "importlib.metadata", "torch", "ray")))
"""


def test_a_video_run_imports_neither_onnx_nor_the_package_metadata(tmp_path: Path, tiny_onnx: Path) -> None:
    """What the video command never needs stays unimported: onnx (a second, through ml_dtypes),
    importlib.metadata (a tenth; only --version reads it), torch and Ray."""
    from tests.support.media import make_clip

    clip = make_clip(tmp_path / "in.mp4", seconds=0.2)
    out = tmp_path / "out.mp4"
    run = _python(_VIDEO_IMPORTS, "video", str(clip), str(out), "--model", str(tiny_onnx), "-q")
    assert run.returncode == 0, run.stderr
    onnx_loaded, _, torch_loaded, ray_loaded = run.stdout.split()[-4:]  # typer may read metadata itself
    assert out.is_file() and onnx_loaded == "False" and torch_loaded == "False" and ray_loaded == "False"
    plain = _python("import sys, stream_colorize.cli; print('importlib.metadata' in sys.modules)")
    assert plain.returncode == 0 and plain.stdout.strip() == "False"
    version = _python("import stream_colorize; print(stream_colorize.__version__)")
    assert version.returncode == 0 and version.stdout.strip()


# -- int8 -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["default", "default-v1"])
def test_the_bundled_int8_copies_are_recorded_checked_and_judged_by_the_bar(capsys, name: str) -> None:
    """tools/quantize.py wrote each copy's checksum and its figures on the reserved photos, and
    whether they met the bar: v1's did, v2's misses it by 0.04 dB (auto keeps v2 in float)."""
    import hashlib
    import json

    from stream_colorize.backends.precision import HUE_BAR, PSNR_BAR, meets_bar
    from stream_colorize.models import resolve_model
    from stream_colorize.models.registry import BUNDLED_DIR

    entry = json.loads((BUNDLED_DIR / f"{name}.json").read_text())["int8"]
    copy = BUNDLED_DIR / entry["file"]
    assert entry["sha256"] == hashlib.sha256(copy.read_bytes()).hexdigest() and entry["images"] >= 20
    within = (entry["psnr_fp32"] - entry["psnr"] <= PSNR_BAR
              and entry["hue_agreement_fp32"] - entry["hue_agreement"] <= HUE_BAR)  # fmt: skip
    assert entry["meets_bar"] is (within and entry["ms"] < entry["ms_fp32"])
    assert entry["meets_bar"] is (name == "default-v1") and meets_bar(resolve_model(name)) is entry["meets_bar"]
    code, out, err = run_main(["models", "verify", name], capsys)
    assert code == 0 and out.count("ok") == 2 and entry["file"] in out, err


def test_precision_auto_runs_int8_through_onnx_runtime_on_the_cpu_only() -> None:
    from stream_colorize.backends.precision import cpu_int8_path

    frame = _film_frames(1)[0]
    assert Colorizer("default", device="cpu").precision == "fp32"  # v2's copy misses the bar: auto keeps float
    assert Colorizer("default", device="cpu", precision="int8").precision == "int8"  # asked for: it runs
    auto = Colorizer("default-v1", device="cpu")
    fp32 = Colorizer("default-v1", device="cpu", precision="fp32")
    int8 = Colorizer("default-v1", device="cpu", precision="int8")
    assert auto.precision == ("int8" if cpu_int8_path() else "fp32") and auto.precision in auto.summary()
    assert fp32.precision == "fp32" and int8.precision == "int8" and int8.backend_name == "onnxruntime"
    reference = Colorizer("default-v1", device="cpu", backend="opencv")
    assert reference.precision == "fp32" and "reference" in reference.precision_reason
    diff = np.abs(int8.predict_ab(frame) - fp32.predict_ab(frame))
    assert 0 < float(diff.mean()) < 3.0  # another network, close to the float one (ab units)
    assert float(np.abs(fp32.predict_ab(frame) - reference.predict_ab(frame)).mean()) < 0.05


def test_precision_is_a_checked_setting_and_a_flag(tmp_path: Path, tiny_onnx: Path, capsys) -> None:
    from stream_colorize.errors import UsageError
    from tests.support.media import make_clip, video_frames

    assert Settings(precision="int8").model.precision == "int8" and ModelSettings().precision == "auto"
    with pytest.raises(UsageError, match="unknown precision 'int4'"):
        Settings(precision="int4")
    with pytest.raises(UsageError, match="has no int8 copy"):
        Colorizer(tiny_onnx, device="cpu", precision="int8")
    assert Colorizer(tiny_onnx, device="cpu").precision == "fp32"  # auto: no copy, float
    clip = make_clip(tmp_path / "in.mp4", seconds=0.2)
    code, _, err = run_main(
        ["video", str(clip), str(tmp_path / "a.mp4"), "-m", str(tiny_onnx), "--precision", "int8"], capsys
    )
    assert code == 1 and err.count("\n") == 1 and "has no int8 copy" in err
    code, _, err = run_main(["video", str(clip), str(tmp_path / "b.mp4"), "--precision", "fp32", "-q"], capsys)
    assert code == 0 and len(video_frames(tmp_path / "b.mp4")) == 5, err
    preset = tmp_path / "p.toml"
    preset.write_text('[model]\nprecision = "fp32"\n')
    code, _, err = run_main(["video", str(clip), str(tmp_path / "c.mp4"), "--config", str(preset), "-q"], capsys)
    assert code == 0, err
    code, out, _ = run_main(["info"], capsys)
    line = next(x for x in out.splitlines() if x.startswith("--precision auto"))
    assert "picks int8" in line or "picks fp32" in line
