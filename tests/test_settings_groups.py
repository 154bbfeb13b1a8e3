"""Settings in groups (model, temporal, encode, input), one builder per object, and the library
deciding plain or segmented runs as the command line does (and resuming them)."""

from __future__ import annotations

from pathlib import Path

import pytest

import stream_colorize
from stream_colorize import build
from stream_colorize.cluster import ClusterOptions, job_dir_for
from stream_colorize.cluster import job as job_module
from stream_colorize.config import EncodeSettings, InputSettings, ModelSettings, Settings, TemporalSettings
from stream_colorize.errors import UsageError
from stream_colorize.presets import load_settings
from tests.support.media import make_clip, probe_frame_count

FRAMES = 75  # 3 s at 25 fps


@pytest.fixture(scope="module")
def short(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("groups") / "short.mkv", seconds=3, audio=1, gop=12)


def test_flat_keys_and_groups_are_one_settings() -> None:
    flat = Settings(model="mine.onnx", skip=2, crf=20, start=1.5, threads=3)
    grouped = Settings(
        model=ModelSettings(name="mine.onnx", threads=3),
        temporal=TemporalSettings(skip=2),
        encode=EncodeSettings(crf=20),
        input=InputSettings(start=1.5),
    )
    assert flat == grouped
    assert (flat.model.name, flat.temporal.skip, flat.encode.crf, flat.input.start) == ("mine.onnx", 2, 20, 1.5)
    assert flat.override(model="other.onnx", crf=None).model == ModelSettings(name="other.onnx", threads=3)
    assert flat.flat()["model"] == "mine.onnx" and flat.flat()["crf"] == 20
    with pytest.raises(UsageError, match="unknown setting"):
        Settings(color="red")
    with pytest.raises(UsageError, match="temporal must be a TemporalSettings"):
        Settings(temporal=EncodeSettings())  # type: ignore[arg-type]


def test_presets_fill_the_groups(tmp_path: Path) -> None:
    preset = tmp_path / "p.toml"
    preset.write_text('[model]\nmodel = "x.onnx"\nthreads = 2\n[temporal]\nskip = 3\n[encode]\naudio_codec = "none"\n')
    settings = load_settings(preset)
    assert settings.model == ModelSettings(name="x.onnx", threads=2)
    assert settings.temporal.skip == 3
    assert settings.encode.copy_kinds == ("subtitle", "data")  # -an: no audio stream is copied
    assert Settings().encode.copy_kinds == ("audio", "subtitle", "data")


def test_one_builder_gives_engine_and_temporal(tiny_onnx: Path) -> None:
    settings = Settings(model=str(tiny_onnx), backend="opencv", threads=None, skip=4, smooth=0.5)
    engine = build.build_engine(settings.model)
    assert engine.backend_name == "opencv"
    temporal = build.build_temporal(settings.temporal)
    assert temporal.skipper.every == 4 and temporal.strength == 0.5
    assert build.build_temporal(TemporalSettings(skip=None)).skipper.every == 1  # auto: files run every frame


def test_the_library_runs_a_long_film_in_segments_and_resumes_it(
    short: Path, tmp_path: Path, tiny_onnx: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """colorize_file decides as ``video`` does: a long film goes in segments, and an interrupted
    one picks up where it stopped, with no cluster options given."""
    monkeypatch.setattr(job_module, "LONG_FILM_SECONDS", 2.0)  # the 3-s film counts as long
    monkeypatch.setattr(job_module, "DEFAULT_SEGMENT_SECONDS", 1.0)
    out = tmp_path / "out.mkv"
    settings = Settings(model=str(tiny_onnx))
    commits = 0
    real_commit = job_module.JobFolder.commit

    def commit_then_stop(self, *args, **kwargs):  # Ctrl-C after the second finished segment
        nonlocal commits
        real_commit(self, *args, **kwargs)
        commits += 1
        if commits == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(job_module.JobFolder, "commit", commit_then_stop)
    with pytest.raises(stream_colorize.PipelineInterrupted):
        stream_colorize.colorize_file(short, out, settings)
    assert job_dir_for(out).is_dir() and not out.exists()

    monkeypatch.setattr(job_module.JobFolder, "commit", real_commit)
    notes: list[str] = []
    ticks: list[int] = []
    result = stream_colorize.colorize_file(
        short, out, settings, on_note=notes.append, on_tick=lambda p: ticks.append(p.written)
    )
    assert "resumed: 2 of 3 segments already done" in notes
    assert result.frames == FRAMES == probe_frame_count(out)
    assert ticks and ticks[-1] == FRAMES and not job_dir_for(out).exists()


def test_the_library_takes_cluster_options(short: Path, tmp_path: Path, tiny_onnx: Path) -> None:
    notes: list[str] = []
    gif = tmp_path / "out.gif"  # cannot be joined from segments: made in one pass, and said so
    result = stream_colorize.colorize_file(
        short, gif, Settings(model=str(tiny_onnx)), cluster=ClusterOptions(segment_seconds=1), on_note=notes.append
    )
    assert result.frames == FRAMES and any("made in one pass" in n for n in notes)
    out = tmp_path / "out.mkv"
    result = stream_colorize.colorize_file(
        short, out, Settings(model=str(tiny_onnx)), cluster=ClusterOptions(segment_seconds=1)
    )
    assert result.frames == FRAMES == probe_frame_count(out) and not job_dir_for(out).exists()
