"""Shared fixtures: generated models (tiny and Zhang-sized stand-ins) in a session cache, an RTSP
server and a private X display."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from stream_colorize.models.spec import ModelSpec, spec_from_path
from stream_colorize.models.standin import write_standin_onnx
from tests.support.live import RtspServer, Xvfb, rtsp_server_missing, xvfb_missing


@pytest.fixture(scope="session")
def model_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private STREAM_COLORIZE_HOME for the whole session (set in the environment)."""
    home = tmp_path_factory.mktemp("sc_home")
    mp = pytest.MonkeyPatch()
    mp.setenv("STREAM_COLORIZE_HOME", str(home))
    yield home
    mp.undo()


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of a tiny stand-in ONNX model (same interface as Zhang's, ~1 ms a frame)."""
    return write_standin_onnx(tmp_path_factory.mktemp("tiny") / "tiny.onnx", arch="tiny", seed=1)


@pytest.fixture(scope="session")
def tiny_spec(tiny_onnx: Path) -> ModelSpec:
    """ModelSpec of the tiny stand-in."""
    return spec_from_path(tiny_onnx)


@pytest.fixture(scope="session")
def zhang_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of a Zhang-architecture stand-in ONNX model (129 MB, ~0.5 s a frame on 2 cores)."""
    return write_standin_onnx(tmp_path_factory.mktemp("zhang") / "zhang.onnx", arch="zhang", seed=0)


def _started(missing: Callable[[], str | None], service: Callable[[], Any]) -> Iterator[Any]:
    """Skip when ``missing()`` names what is not installed; else run ``service()`` for one test."""
    reason = missing()
    if reason:
        pytest.skip(reason)
    with service() as running:
        yield running


@pytest.fixture
def rtsp_server() -> Iterator[RtspServer]:
    """A live-pattern RTSP server on loopback (skips where GStreamer's RTSP server is missing)."""
    yield from _started(rtsp_server_missing, RtspServer)


@pytest.fixture
def xvfb() -> Iterator[Xvfb]:
    """A private Xvfb display (skips where Xvfb, xdotool or imagemagick are missing)."""
    yield from _started(xvfb_missing, Xvfb)
